/* conv (CUDA) — 2-D convolution forward and backward through cuDNN (the only file that touches cuDNN), with the
 * contract of kernels/cpu/conv.c: NCHW activations, OIHW weights, torch.nn.Conv2d semantics, no dilation/groups.
 *
 * Plans are cached per shape: tensor/filter/convolution descriptors and the three algorithms, chosen once from
 * cuDNN's heuristics (cudnnGet*Algorithm_v7) as the first one that cuDNN reports CUDNN_DETERMINISTIC and whose
 * workspace fits, so a run repeats bit for bit on the same GPU. Math is CUDNN_FMA_MATH: plain fp32, no TF32
 * (the CPU results are the oracle); DML_CUDA_TF32=1 (for bench/gpu) allows TF32 tensor cores instead. One shared workspace (kernels/cuda/cuda.h) serves every call. The bias
 * forward is cudnnAddTensor; its gradient is an own fixed-order reduction (cuDNN's may use atomics). */
#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "kernels/cuda/cuda.h"
#include "kernels/ops.h"

/* cuDNN 9 marks the legacy convolution API deprecated; it is still the stable C entry point */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define CUDNN_CHECK(x)                                                                   \
  do {                                                                                   \
    cudnnStatus_t s_ = (x);                                                              \
    if (s_ != CUDNN_STATUS_SUCCESS) DML_ABORT("%s failed: %s", #x, cudnnGetErrorString(s_)); \
  } while (0)

enum { WORKSPACE_CAP = 1 << 30 }; /* never choose an algorithm needing more than 1 GiB of scratch */

struct dml_cuda_conv_cache {
  struct dml_cuda_conv_cache *next;
  struct dml_conv_shape s;
  cudnnTensorDescriptor_t x, y, bias;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  size_t ws_fwd, ws_data, ws_filter;
};

static int same_shape(const struct dml_conv_shape *a, const struct dml_conv_shape *b) {
  return memcmp(a, b, sizeof *a) == 0;
}

static struct dml_cuda_conv_cache *plan_for(struct dml_cuda_ctx *c, const struct dml_conv_shape *s) {
  for (struct dml_cuda_conv_cache *p = c->conv; p; p = p->next)
    if (same_shape(&p->s, s)) return p;
  cudnnHandle_t h = c->dnn;
  struct dml_cuda_conv_cache *p = xcalloc(1, sizeof *p);
  p->s = *s;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->B, s->C, s->H, s->W));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s->B, s->OC, s->OH, s->OW));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, s->OC, 1, 1));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s->OC, s->C, s->KH, s->KW));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, s->PH, s->PW, s->SH, s->SW, 1, 1, CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, c->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  int n, ok;

  cudnnConvolutionFwdAlgoPerf_t pf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                     &n, pf));
  ok = 0;
  for (int i = 0; i < n && !ok; i++)
    if (pf[i].status == CUDNN_STATUS_SUCCESS && pf[i].determinism == CUDNN_DETERMINISTIC &&
        pf[i].memory <= WORKSPACE_CAP) {
      p->fwd = pf[i].algo;
      ok = 1;
    }
  if (!ok) DML_ABORT("cuDNN offers no deterministic forward convolution for this shape");
  CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y, p->fwd, &p->ws_fwd));

  cudnnConvolutionBwdDataAlgoPerf_t pd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x,
                                                          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, pd));
  ok = 0;
  for (int i = 0; i < n && !ok; i++)
    if (pd[i].status == CUDNN_STATUS_SUCCESS && pd[i].determinism == CUDNN_DETERMINISTIC &&
        pd[i].memory <= WORKSPACE_CAP) {
      p->bwd_data = pd[i].algo;
      ok = 1;
    }
  if (!ok) DML_ABORT("cuDNN offers no deterministic backward-data convolution for this shape");
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x, p->bwd_data, &p->ws_data));

  cudnnConvolutionBwdFilterAlgoPerf_t pw[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w,
                                                            CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, pw));
  ok = 0;
  for (int i = 0; i < n && !ok; i++)
    if (pw[i].status == CUDNN_STATUS_SUCCESS && pw[i].determinism == CUDNN_DETERMINISTIC &&
        pw[i].memory <= WORKSPACE_CAP) {
      p->bwd_filter = pw[i].algo;
      ok = 1;
    }
  if (!ok) DML_ABORT("cuDNN offers no deterministic backward-filter convolution for this shape");
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->conv, p->w, p->bwd_filter,
                                                             &p->ws_filter));
  p->next = c->conv;
  c->conv = p;
  return p;
}

void dml_cuda_conv2d_forward(void *ctx, void *y, const void *x, const float *w, const float *b,
                             const struct dml_conv_shape *s) {
  struct dml_cuda_ctx *c = ctx;
  struct dml_cuda_conv_cache *p = plan_for(c, s);
  const float one = 1, zero = 0;
  void *ws = dml_cuda_workspace(c, p->ws_fwd);
  CUDNN_CHECK(cudnnConvolutionForward(c->dnn, &one, p->x, x, p->w, w, p->conv, p->fwd, ws, p->ws_fwd, &zero, p->y, y));
  if (b) CUDNN_CHECK(cudnnAddTensor(c->dnn, &one, p->bias, b, &one, p->y, y));
}

void dml_cuda_conv2d_backward(void *ctx, void *dx, float *dw, float *db, const void *dy, const void *x,
                              const float *w, const struct dml_conv_shape *s, int dx_overwrite) {
  struct dml_cuda_ctx *c = ctx;
  struct dml_cuda_conv_cache *p = plan_for(c, s);
  const float one = 1, zero = 0;
  if (dx) {
    void *ws = dml_cuda_workspace(c, p->ws_data);
    CUDNN_CHECK(cudnnConvolutionBackwardData(c->dnn, &one, p->w, w, p->y, dy, p->conv, p->bwd_data, ws, p->ws_data,
                                             dx_overwrite ? &zero : &one, p->x, dx));
  }
  void *ws = dml_cuda_workspace(c, p->ws_filter);
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->dnn, &one, p->x, x, p->y, dy, p->conv, p->bwd_filter, ws,
                                             p->ws_filter, &one, p->w, dw));
  if (db) dml_cuda_channel_bias_grad(db, dy, s->B, s->OC, s->OH * s->OW, c->stream);
}

void dml_cuda_conv_cache_free(struct dml_cuda_ctx *c) {
  for (struct dml_cuda_conv_cache *p = c->conv, *q; p; p = q) {
    q = p->next;
    cudnnDestroyTensorDescriptor(p->x);
    cudnnDestroyTensorDescriptor(p->y);
    cudnnDestroyTensorDescriptor(p->bias);
    cudnnDestroyFilterDescriptor(p->w);
    cudnnDestroyConvolutionDescriptor(p->conv);
    free(p);
  }
  c->conv = NULL;
}
