// batchnorm (CUDA) — 2-D batch normalisation (torch.nn.functional.batch_norm), training and inference modes, with an
// optional fused ReLU. Same contract and the same arithmetic as kernels/cpu/batchnorm.c (the oracle): per-channel sums
// in double, two passes for the variance, running statistics with torch's unbiased variance and `momentum`.
// One block per channel reduces in a fixed tree order (no atomics), so results are bitwise repeatable.
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/launch.cuh"

enum { BN_THREADS = 256 };

// fixed-shape tree sum of one double per thread; every thread gets the total
__device__ double block_sum_d(double v, double *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  double r = sh[0];
  __syncthreads();
  return r;
}

__device__ size_t bn_at(size_t k, int C, int HW, int c) {  // k-th element of channel c, k in [0, B·HW)
  size_t b = k / HW, i = k % HW;
  return (b * C + c) * (size_t)HW + i;
}

__global__ void bn_fwd_kernel(float *y, float *mean, float *invstd, float *rmean, float *rvar, const float *x,
                              const float *gamma, const float *beta, int B, int C, int HW, float eps, float momentum,
                              int training, int relu) {
  __shared__ double sh[BN_THREADS];
  const int c = blockIdx.x;
  const size_t n = (size_t)B * HW;
  const double N = (double)n;
  double m, is;
  if (training) {
    double s = 0;
    for (size_t k = threadIdx.x; k < n; k += blockDim.x) s += x[bn_at(k, C, HW, c)];
    m = block_sum_d(s, sh) / N;
    double v = 0;
    for (size_t k = threadIdx.x; k < n; k += blockDim.x) {
      double d = x[bn_at(k, C, HW, c)] - m;
      v += d * d;
    }
    v = block_sum_d(v, sh);
    double var = v / N;
    is = 1.0 / sqrt(var + eps);
    if (threadIdx.x == 0) {
      if (rmean) rmean[c] = (float)((1 - momentum) * rmean[c] + momentum * m);
      if (rvar) rvar[c] = (float)((1 - momentum) * rvar[c] + momentum * (N > 1 ? v / (N - 1) : var));
    }
  } else {
    m = rmean[c];
    is = 1.0 / sqrt((double)rvar[c] + eps);
  }
  if (threadIdx.x == 0) {
    mean[c] = (float)m;
    invstd[c] = (float)is;
  }
  const float sc = (float)(gamma[c] * is), shf = (float)(beta[c] - m * gamma[c] * is);
  for (size_t k = threadIdx.x; k < n; k += blockDim.x) {
    size_t j = bn_at(k, C, HW, c);
    float v = x[j] * sc + shf;
    y[j] = relu && !(v > 0) ? 0.0f : v;
  }
}

__global__ void bn_bwd_kernel(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *y,
                              const float *mean, const float *invstd, const float *gamma, int B, int C, int HW,
                              int training, int relu, int ow) {
  __shared__ double sh[BN_THREADS];
  const int c = blockIdx.x;
  const size_t n = (size_t)B * HW;
  const double N = (double)n;
  const float m = mean[c];
  const double is = invstd[c];
  double sdy = 0, sdyx = 0;
  for (size_t k = threadIdx.x; k < n; k += blockDim.x) {
    size_t j = bn_at(k, C, HW, c);
    float d = relu && !(y[j] > 0) ? 0.0f : dy[j];
    sdy += d;
    sdyx += d * (x[j] - m);
  }
  sdy = block_sum_d(sdy, sh);
  sdyx = block_sum_d(sdyx, sh);
  if (threadIdx.x == 0) {
    dbeta[c] += (float)sdy;
    dgamma[c] += (float)(sdyx * is);
  }
  if (!dx) return;
  const float k1 = (float)(training ? sdy / N : 0), k2 = (float)(training ? sdyx * is * is / N : 0);
  const float g = (float)(gamma[c] * is);
  for (size_t k = threadIdx.x; k < n; k += blockDim.x) {
    size_t j = bn_at(k, C, HW, c);
    float d = relu && !(y[j] > 0) ? 0.0f : dy[j];
    dx[j] = (ow ? 0.0f : dx[j]) + g * (d - k1 - (x[j] - m) * k2);
  }
}

extern "C" void dml_cuda_batchnorm_forward(float *y, float *mean, float *invstd, float *running_mean,
                                           float *running_var, const float *x, const float *gamma, const float *beta,
                                           int B, int C, int HW, float eps, float momentum, int training, int relu,
                                           void *stream) {
  bn_fwd_kernel<<<C, BN_THREADS, 0, (cudaStream_t)stream>>>(y, mean, invstd, running_mean, running_var, x, gamma, beta,
                                                            B, C, HW, eps, momentum, training, relu);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                            const float *y, const float *mean, const float *invstd,
                                            const float *gamma, int B, int C, int HW, int training, int relu,
                                            int dx_overwrite, void *stream) {
  bn_bwd_kernel<<<C, BN_THREADS, 0, (cudaStream_t)stream>>>(dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, B, C, HW,
                                                            training, relu, dx_overwrite);
  LAUNCH_CHECK();
}
