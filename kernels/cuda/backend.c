/* backend (CUDA) — fills the op table of kernels/ops.h with the CUDA implementations: cuDNN convolutions (conv.c),
 * cuBLAS matrix products (linear.c) and own kernels for the rest (.cu files), all on one stream. Owns the backend
 * context: the stream, the cuBLAS and cuDNN handles, the per-shape convolution plans and the one shared workspace.
 * Every op has the contract of its kernels/cpu counterpart, which is the oracle of tests/cuda. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "kernels/cuda/cuda.h"
#include "kernels/ops.h"

#define CUDA_CHECK(x)                                                                  \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) DML_ABORT("%s failed: %s", #x, cudaGetErrorString(e_));     \
  } while (0)

int dml_cuda_count_devices(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}

void *dml_cuda_workspace(struct dml_cuda_ctx *c, size_t bytes) {
  if (bytes <= c->workspace_bytes) return c->workspace;
  if (c->workspace) {
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    CUDA_CHECK(cudaFree(c->workspace));
  }
  CUDA_CHECK(cudaMalloc(&c->workspace, bytes));
  c->workspace_bytes = bytes;
  return c->workspace;
}

static void *stream_of(void *ctx) { return ((struct dml_cuda_ctx *)ctx)->stream; }

/* ---- thin adapters from the op table's signatures to the launchers (which take the stream) ---- */
static void relu_forward(void *ctx, float *y, const float *x, size_t n) { dml_cuda_relu_forward(y, x, n, stream_of(ctx)); }
static void relu_backward(void *ctx, float *dx, const float *dy, const float *y, size_t n) {
  dml_cuda_relu_backward(dx, dy, y, n, stream_of(ctx));
}
static void l2norm_forward(void *ctx, float *y, float *norm, const float *x, int B, int D) {
  dml_cuda_l2norm_forward(y, norm, x, B, D, stream_of(ctx));
}
static void l2norm_backward(void *ctx, float *dx, const float *dy, const float *y, const float *norm, int B, int D) {
  dml_cuda_l2norm_backward(dx, dy, y, norm, B, D, stream_of(ctx));
}
/* The conv-family ops take void * activations and a precision (kernels/ops.h); this backend has no act_convert,
 * so networks only ever ask it for DML_FP32 (float32 NCHW). */
static void batchnorm_forward(void *ctx, void *y, float *mean, float *invstd, float *running_mean, float *running_var,
                              const void *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                              float momentum, int training, int relu, int prec) {
  (void)prec;
  dml_cuda_batchnorm_forward(y, mean, invstd, running_mean, running_var, x, gamma, beta, B, C, HW, eps, momentum,
                             training, relu, stream_of(ctx));
}
static void batchnorm_backward(void *ctx, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                               const void *y, const float *mean, const float *invstd, const float *gamma, int B,
                               int C, int HW, int training, int relu, int dx_overwrite, int prec) {
  (void)prec;
  dml_cuda_batchnorm_backward(dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, B, C, HW, training, relu,
                              dx_overwrite, stream_of(ctx));
}
static void pool2d_forward(void *ctx, void *y, int32_t *idx, const void *x, const struct dml_conv_shape *s,
                           int kind) {
  dml_cuda_pool2d_forward(y, idx, x, s, kind, stream_of(ctx));
}
static void pool2d_backward(void *ctx, void *dx, const void *dy, const int32_t *idx, const struct dml_conv_shape *s,
                            int kind) {
  dml_cuda_pool2d_backward(dx, dy, idx, s, kind, stream_of(ctx));
}
static void global_pool_forward(void *ctx, float *y, int32_t *idx, const void *x, int B, int C, int HW, int kind,
                                int prec) {
  (void)prec;
  dml_cuda_global_pool_forward(y, idx, x, B, C, HW, kind, stream_of(ctx));
}
static void global_pool_backward(void *ctx, void *dx, const float *dy, const int32_t *idx, int B, int C, int HW,
                                 int kind, int prec) {
  (void)prec;
  dml_cuda_global_pool_backward(dx, dy, idx, B, C, HW, kind, stream_of(ctx));
}
static void add_forward(void *ctx, void *y, const void *a, const void *b, size_t n, int relu, int prec) {
  (void)prec;
  dml_cuda_add_forward(y, a, b, n, relu, stream_of(ctx));
}
static void add_backward(void *ctx, void *da, void *db, const void *dy, const void *y, size_t n, int relu,
                         int overwrite, int prec) {
  (void)prec;
  dml_cuda_add_backward(da, db, dy, y, n, relu, overwrite, stream_of(ctx));
}
static void concat_forward(void *ctx, void *y, const void *x, int B, int Ctot, int c0, int C, int HW, int prec) {
  (void)prec;
  dml_cuda_concat_forward(y, x, B, Ctot, c0, C, HW, stream_of(ctx));
}
static void concat_backward(void *ctx, void *dx, const void *dy, int B, int Ctot, int c0, int C, int HW, int prec) {
  (void)prec;
  dml_cuda_concat_backward(dx, dy, B, Ctot, c0, C, HW, stream_of(ctx));
}
static void mul_forward(void *ctx, float *y, const float *x, const float *m, size_t n) {
  dml_cuda_mul_forward(y, x, m, n, stream_of(ctx));
}
static void mul_backward(void *ctx, float *dx, const float *dy, const float *m, size_t n) {
  dml_cuda_mul_backward(dx, dy, m, n, stream_of(ctx));
}

/* ---- device memory ---- */
static void *cu_alloc(void *ctx, size_t bytes) {
  (void)ctx;
  void *p = NULL;
  CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 256));
  return p;
}
static void cu_release(void *ctx, void *p) {
  (void)ctx;
  CUDA_CHECK(cudaFree(p));
}
static void cu_to_device(void *ctx, void *dst, const void *src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_of(ctx)));
  /* the host buffer may be reused by the caller at once: make the copy complete before returning */
  CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
}
static void cu_to_host(void *ctx, void *dst, const void *src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_of(ctx)));
  CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
}
static void cu_zero(void *ctx, void *p, size_t bytes) { CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream_of(ctx))); }

static void cuda_destroy(void *ctx) {
  struct dml_cuda_ctx *c = ctx;
  dml_cuda_conv_cache_free(c);
  if (c->workspace) cudaFree(c->workspace);
  cudnnDestroy(c->dnn);
  cublasDestroy(c->blas);
  cudaStreamDestroy(c->stream);
  free(c);
}

struct dml_backend *dml_backend_cuda_new(void) {
  struct dml_cuda_ctx *c = xcalloc(1, sizeof *c);
  cudaStream_t st;
  cublasHandle_t blas;
  cudnnHandle_t dnn;
  CUDA_CHECK(cudaStreamCreate(&st));
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) DML_ABORT("cublasCreate failed");
  if (cublasSetStream(blas, st) != CUBLAS_STATUS_SUCCESS) DML_ABORT("cublasSetStream failed");
  /* plain fp32 products (no TF32): the CPU backend is the oracle. DML_CUDA_TF32=1 (bench/gpu only) allows TF32. */
  const char *tf = getenv("DML_CUDA_TF32");
  c->tf32 = tf && !strcmp(tf, "1");
  if (c->tf32) fprintf(stderr, "cuda: TF32 tensor-core math (DML_CUDA_TF32=1)\n");
  if (cublasSetMathMode(blas, c->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS)
    DML_ABORT("cublasSetMathMode failed");
  cudnnStatus_t ds = cudnnCreate(&dnn);
  if (ds != CUDNN_STATUS_SUCCESS) DML_ABORT("cudnnCreate failed: %s", cudnnGetErrorString(ds));
  ds = cudnnSetStream(dnn, st);
  if (ds != CUDNN_STATUS_SUCCESS) DML_ABORT("cudnnSetStream failed: %s", cudnnGetErrorString(ds));
  c->stream = st;
  c->blas = blas;
  c->dnn = dnn;
  struct dml_backend *be = xcalloc(1, sizeof *be);
  be->name = "cuda";
  be->ctx = c;
  be->destroy = cuda_destroy;
  be->fn = (struct dml_backend_fn){
    .linear_forward = dml_cuda_linear_forward, .linear_backward = dml_cuda_linear_backward,
    .relu_forward = relu_forward, .relu_backward = relu_backward,
    .l2norm_forward = l2norm_forward, .l2norm_backward = l2norm_backward,
    .conv2d_forward = dml_cuda_conv2d_forward, .conv2d_backward = dml_cuda_conv2d_backward,
    .batchnorm_forward = batchnorm_forward, .batchnorm_backward = batchnorm_backward,
    .pool2d_forward = pool2d_forward, .pool2d_backward = pool2d_backward,
    .global_pool_forward = global_pool_forward, .global_pool_backward = global_pool_backward,
    .add_forward = add_forward, .add_backward = add_backward,
    .concat_forward = concat_forward, .concat_backward = concat_backward,
    .mul_forward = mul_forward, .mul_backward = mul_backward,
    .alloc = cu_alloc, .release = cu_release, .to_device = cu_to_device, .to_host = cu_to_host, .zero = cu_zero,
  };
  return be;
}
