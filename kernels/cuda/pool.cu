// pool (CUDA) — max / average pooling over windows and global pooling. Same contract and arithmetic as
// kernels/cpu/pool.c (the oracle): max keeps the first maximum in row-major window order and saves its argmax,
// average divides by the window clipped to the padded input (count_include_pad). The backward passes are gathers:
// one thread per input element sums, in the CPU's output order, the outputs whose window holds it, so there are no
// atomics and the input gradients equal the CPU's bit for bit.
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern "C" {
#include "kernels/ops.h"
}
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/launch.cuh"

__global__ void pool_fwd_kernel(float *y, int32_t *idx, const float *x, struct dml_conv_shape s, int kind) {
  const size_t n = (size_t)s.B * s.C * s.OH * s.OW;
  size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (t >= n) return;
  const int ow = (int)(t % s.OW), oh = (int)((t / s.OW) % s.OH);
  const size_t p = t / ((size_t)s.OH * s.OW);
  const float *xp = x + p * (size_t)s.H * s.W;
  const int H = s.H, W = s.W;
  int h0 = oh * s.SH - s.PH, ha = h0 < 0 ? 0 : h0, hb = h0 + s.KH > H ? H : h0 + s.KH;
  int hp = (h0 + s.KH < H + s.PH ? h0 + s.KH : H + s.PH) - h0;
  int w0 = ow * s.SW - s.PW, wa = w0 < 0 ? 0 : w0, wb = w0 + s.KW > W ? W : w0 + s.KW;
  int wp = (w0 + s.KW < W + s.PW ? w0 + s.KW : W + s.PW) - w0;
  if (kind == DML_POOL_MAX) {
    float m = -INFINITY;
    int32_t am = -1;
    for (int h = ha; h < hb; h++)
      for (int w = wa; w < wb; w++) {
        float v = xp[h * W + w];
        if (v > m || am < 0) {
          m = v;
          am = h * W + w;
        }
      }
    y[t] = m;
    if (idx) idx[t] = am;
  } else {
    double acc = 0;
    for (int h = ha; h < hb; h++)
      for (int w = wa; w < wb; w++) acc += xp[h * W + w];
    y[t] = (float)(acc / (hp * wp));
  }
}

// outputs o in [lo, hi] whose window [o·S − P, o·S − P + K) holds input position i
__device__ void out_range(int i, int S, int P, int K, int O, int *lo, int *hi) {
  int a = i + P - K + 1;
  *lo = a <= 0 ? 0 : (a + S - 1) / S;
  int b = (i + P) / S;
  *hi = b < O - 1 ? b : O - 1;
}

__global__ void pool_bwd_kernel(float *dx, const float *dy, const int32_t *idx, struct dml_conv_shape s, int kind) {
  const size_t n = (size_t)s.B * s.C * s.H * s.W;
  size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (t >= n) return;
  const int w = (int)(t % s.W), h = (int)((t / s.W) % s.H);
  const size_t p = t / ((size_t)s.H * s.W);
  const float *dyp = dy + p * (size_t)s.OH * s.OW;
  int oh0, oh1, ow0, ow1;
  out_range(h, s.SH, s.PH, s.KH, s.OH, &oh0, &oh1);
  out_range(w, s.SW, s.PW, s.KW, s.OW, &ow0, &ow1);
  float acc = dx[t];
  if (kind == DML_POOL_MAX) {
    const int32_t *ip = idx + p * (size_t)s.OH * s.OW, me = h * s.W + w;
    for (int oh = oh0; oh <= oh1; oh++)
      for (int ow = ow0; ow <= ow1; ow++)
        if (ip[oh * s.OW + ow] == me) acc += dyp[oh * s.OW + ow];
  } else {
    for (int oh = oh0; oh <= oh1; oh++)
      for (int ow = ow0; ow <= ow1; ow++) {
        int hs = oh * s.SH - s.PH, ws = ow * s.SW - s.PW;
        int hp = (hs + s.KH < s.H + s.PH ? hs + s.KH : s.H + s.PH) - hs;
        int wp = (ws + s.KW < s.W + s.PW ? ws + s.KW : s.W + s.PW) - ws;
        acc += dyp[oh * s.OW + ow] / (float)(hp * wp);
      }
  }
  dx[t] = acc;
}

__global__ void gpool_fwd_kernel(float *y, int32_t *idx, const float *x, int planes, int HW, int kind) {
  int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= planes) return;
  const float *xp = x + (size_t)p * HW;
  if (kind == DML_POOL_MAX) {
    float m = xp[0];
    int32_t am = 0;
    for (int i = 1; i < HW; i++)
      if (xp[i] > m) {
        m = xp[i];
        am = i;
      }
    y[p] = m;
    idx[p] = am;
  } else {
    double acc = 0;
    for (int i = 0; i < HW; i++) acc += xp[i];
    y[p] = (float)(acc / HW);
  }
}

__global__ void gpool_bwd_kernel(float *dx, const float *dy, const int32_t *idx, size_t n, int HW, int kind) {
  size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (t >= n) return;
  size_t p = t / HW;
  int i = (int)(t % HW);
  if (kind == DML_POOL_MAX) {
    if (idx[p] == i) dx[t] += dy[p];
  } else {
    dx[t] += dy[p] / (float)HW;
  }
}

extern "C" void dml_cuda_pool2d_forward(float *y, int32_t *idx, const float *x, const struct dml_conv_shape *s,
                                        int kind, void *stream) {
  size_t n = (size_t)s->B * s->C * s->OH * s->OW;
  pool_fwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(y, idx, x, *s, kind);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_pool2d_backward(float *dx, const float *dy, const int32_t *idx,
                                         const struct dml_conv_shape *s, int kind, void *stream) {
  size_t n = (size_t)s->B * s->C * s->H * s->W;
  pool_bwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(dx, dy, idx, *s, kind);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_global_pool_forward(float *y, int32_t *idx, const float *x, int B, int C, int HW, int kind,
                                             void *stream) {
  int planes = B * C;
  gpool_fwd_kernel<<<blocks_for((size_t)planes, 128), 128, 0, (cudaStream_t)stream>>>(y, idx, x, planes, HW, kind);
  LAUNCH_CHECK();
}

extern "C" void dml_cuda_global_pool_backward(float *dx, const float *dy, const int32_t *idx, int B, int C, int HW,
                                              int kind, void *stream) {
  size_t n = (size_t)B * C * HW;
  gpool_bwd_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(dx, dy, idx, n, HW, kind);
  LAUNCH_CHECK();
}
