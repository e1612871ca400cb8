// activation (CUDA) — ReLU, add (+ fused ReLU), mul (dropout mask), channel concat, bias broadcast/reductions and
// row-wise L2 normalisation. Same contracts as kernels/cpu/{activation,norm,linear}.c (the CPU versions are the oracle).
// Deterministic: every output is written by one thread (or one block reduction in fixed order); no atomics.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/launch.cuh"

__global__ void bias_fill_kernel(float *y, const float *b, int B, int OC) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < (size_t)B * OC) y[i] = b[i % OC];
}

__global__ void bias_grad_kernel(float *db, const float *dy, int B, int OC) {
  int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= OC) return;
  float s = 0;
  for (int i = 0; i < B; i++) s += dy[(size_t)i * OC + o];
  db[o] += s;
}

__global__ void relu_fwd_kernel(float *y, const float *x, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] > 0 ? x[i] : 0;
}

__global__ void relu_bwd_kernel(float *dx, const float *dy, const float *y, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) dx[i] += y[i] > 0 ? dy[i] : 0;
}

// one block (256 threads) per row; fixed-shape tree reduction => deterministic
__device__ float block_sum(float v, float *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  float r = sh[0];
  __syncthreads();
  return r;
}

__global__ void l2norm_fwd_kernel(float *y, float *norm, const float *x, int D) {
  __shared__ float sh[256];
  const float *xi = x + (size_t)blockIdx.x * D;
  float s = 0;
  for (int j = threadIdx.x; j < D; j += blockDim.x) s += xi[j] * xi[j];
  float nr = sqrtf(block_sum(s, sh));
  nr = nr < 1e-12f ? 1e-12f : nr;
  if (threadIdx.x == 0) norm[blockIdx.x] = nr;
  for (int j = threadIdx.x; j < D; j += blockDim.x) y[(size_t)blockIdx.x * D + j] = xi[j] / nr;
}

__global__ void l2norm_bwd_kernel(float *dx, const float *dy, const float *y, const float *norm, int D) {
  __shared__ float sh[256];
  size_t off = (size_t)blockIdx.x * D;
  float s = 0;
  for (int j = threadIdx.x; j < D; j += blockDim.x) s += dy[off + j] * y[off + j];
  float dot = block_sum(s, sh);
  float nr = norm[blockIdx.x];
  int clamped = nr <= 1e-12f;
  for (int j = threadIdx.x; j < D; j += blockDim.x)
    dx[off + j] += clamped ? dy[off + j] / nr : (dy[off + j] - y[off + j] * dot) / nr;
}

extern "C" void dml_cuda_bias_fill(float *y, const float *b, int B, int OC, void *stream) {
  size_t n = (size_t)B * OC;
  bias_fill_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, b, B, OC);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_bias_grad(float *db, const float *dy, int B, int OC, void *stream) {
  bias_grad_kernel<<<blocks_for((size_t)OC, 128), 128, 0, (cudaStream_t)stream>>>(db, dy, B, OC);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_relu_forward(float *y, const float *x, size_t n, void *stream) {
  relu_fwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, x, n);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_relu_backward(float *dx, const float *dy, const float *y, size_t n, void *stream) {
  relu_bwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(dx, dy, y, n);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_l2norm_forward(float *y, float *norm, const float *x, int B, int D, void *stream) {
  l2norm_fwd_kernel<<<B, 256, 0, (cudaStream_t)stream>>>(y, norm, x, D);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_l2norm_backward(float *dx, const float *dy, const float *y, const float *norm, int B, int D,
                                         void *stream) {
  l2norm_bwd_kernel<<<B, 256, 0, (cudaStream_t)stream>>>(dx, dy, y, norm, D);
  LAUNCH_CHECK();
}

// ---- add, mul, concat (elementwise; bitwise equal to the CPU backend) ----
__global__ void add_fwd_kernel(float *y, const float *a, const float *b, size_t n, int relu) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i >= n) return;
  float v = a[i] + b[i];
  y[i] = relu && !(v > 0) ? 0.0f : v;
}

__global__ void add_bwd_kernel(float *da, float *db, const float *dy, const float *y, size_t n, int relu, int ow) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i >= n) return;
  float g = relu && !(y[i] > 0) ? 0.0f : dy[i];
  if (da) da[i] = (ow & 1 ? 0.0f : da[i]) + g;
  if (db) db[i] = (ow & 2 ? 0.0f : db[i]) + g;
}

__global__ void mul_fwd_kernel(float *y, const float *x, const float *m, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] * m[i];
}

__global__ void mul_bwd_kernel(float *dx, const float *dy, const float *m, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) dx[i] += dy[i] * m[i];
}

// x (B, C, HW) <-> channels [c0, c0 + C) of y (B, Ctot, HW)
__global__ void concat_kernel(float *y, const float *x, int B, int Ctot, int c0, int C, int HW, int backward) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, n = (size_t)B * C * HW;
  if (i >= n) return;
  size_t b = i / ((size_t)C * HW), r = i % ((size_t)C * HW);
  size_t j = b * (size_t)Ctot * HW + (size_t)c0 * HW + r;
  if (backward)
    ((float *)x)[i] += y[j];
  else
    y[j] = x[i];
}

// db (C) += sum over (B, HW) of dy (B, C, HW); one block per channel, fixed-shape reduction in double
__global__ void channel_bias_grad_kernel(float *db, const float *dy, int B, int C, int HW) {
  __shared__ double sh[256];
  int c = blockIdx.x;
  double s = 0;
  size_t n = (size_t)B * HW;
  for (size_t k = threadIdx.x; k < n; k += blockDim.x) {
    size_t b = k / HW, i = k % HW;
    s += dy[(b * C + c) * (size_t)HW + i];
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int t = blockDim.x / 2; t > 0; t >>= 1) {
    if (threadIdx.x < t) sh[threadIdx.x] += sh[threadIdx.x + t];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[c] += (float)sh[0];
}

extern "C" void dml_cuda_add_forward(float *y, const float *a, const float *b, size_t n, int relu, void *stream) {
  add_fwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, a, b, n, relu);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_add_backward(float *da, float *db, const float *dy, const float *y, size_t n, int relu,
                                      int overwrite, void *stream) {
  add_bwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(da, db, dy, y, n, relu, overwrite);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_mul_forward(float *y, const float *x, const float *m, size_t n, void *stream) {
  mul_fwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, x, m, n);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_mul_backward(float *dx, const float *dy, const float *m, size_t n, void *stream) {
  mul_bwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(dx, dy, m, n);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_concat_forward(float *y, const float *x, int B, int Ctot, int c0, int C, int HW,
                                        void *stream) {
  size_t n = (size_t)B * C * HW;
  concat_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, x, B, Ctot, c0, C, HW, 0);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_concat_backward(float *dx, const float *dy, int B, int Ctot, int c0, int C, int HW,
                                         void *stream) {
  size_t n = (size_t)B * C * HW;
  concat_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>((float *)dy, dx, B, Ctot, c0, C, HW, 1);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_channel_bias_grad(float *db, const float *dy, int B, int C, int HW, void *stream) {
  channel_bias_grad_kernel<<<C, 256, 0, (cudaStream_t)stream>>>(db, dy, B, C, HW);
  LAUNCH_CHECK();
}
