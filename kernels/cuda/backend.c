/* backend (CUDA) — fills the op table with cuBLAS GEMMs and the own kernels of kernels/cuda (.cu files).
 * Row-major matrices are column-major transposes, so y = x·wᵀ is computed as yᵀ = w·xᵀ. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "kernels/cuda/cuda.h"
#include "kernels/ops.h"

#define CUDA_CHECK(x)                                                                  \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) DML_ABORT("%s failed: %s", #x, cudaGetErrorString(e_));     \
  } while (0)
#define CUBLAS_CHECK(x)                                                                \
  do {                                                                                 \
    cublasStatus_t s_ = (x);                                                           \
    if (s_ != CUBLAS_STATUS_SUCCESS) DML_ABORT("%s failed: cuBLAS status %d", #x, (int)s_); \
  } while (0)

struct cuda_ctx {
  cudaStream_t stream;
  cublasHandle_t blas;
};

int dml_cuda_count_devices(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}

static void linear_forward(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C, int OC) {
  struct cuda_ctx *c = ctx;
  const float one = 1, zero = 0;
  if (b) dml_cuda_bias_fill(y, b, B, OC, c->stream);
  CUBLAS_CHECK(cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, B, C, &one, w, C, x, C, b ? &one : &zero, y, OC));
}

static void linear_backward(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int B, int C, int OC) {
  struct cuda_ctx *c = ctx;
  const float one = 1;
  if (dx) CUBLAS_CHECK(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, C, B, OC, &one, w, C, dy, OC, &one, dx, C));
  CUBLAS_CHECK(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, B, &one, x, C, dy, OC, &one, dw, C));
  if (db) dml_cuda_bias_grad(db, dy, B, OC, c->stream);
}

static void relu_forward(void *ctx, float *y, const float *x, size_t n) {
  dml_cuda_relu_forward(y, x, n, ((struct cuda_ctx *)ctx)->stream);
}
static void relu_backward(void *ctx, float *dx, const float *dy, const float *y, size_t n) {
  dml_cuda_relu_backward(dx, dy, y, n, ((struct cuda_ctx *)ctx)->stream);
}
static void l2norm_forward(void *ctx, float *y, float *norm, const float *x, int B, int D) {
  dml_cuda_l2norm_forward(y, norm, x, B, D, ((struct cuda_ctx *)ctx)->stream);
}
static void l2norm_backward(void *ctx, float *dx, const float *dy, const float *y, const float *norm, int B, int D) {
  dml_cuda_l2norm_backward(dx, dy, y, norm, B, D, ((struct cuda_ctx *)ctx)->stream);
}

static void *cu_alloc(void *ctx, size_t bytes) {
  void *p = NULL;
  CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 256));
  return p;
}
static void cu_release(void *ctx, void *p) { CUDA_CHECK(cudaFree(p)); }
static void cu_to_device(void *ctx, void *dst, const void *src, size_t bytes) {
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ((struct cuda_ctx *)ctx)->stream));
}
static void cu_to_host(void *ctx, void *dst, const void *src, size_t bytes) {
  struct cuda_ctx *c = ctx;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
  CUDA_CHECK(cudaStreamSynchronize(c->stream));
}
static void cu_zero(void *ctx, void *p, size_t bytes) {
  CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ((struct cuda_ctx *)ctx)->stream));
}

static void cuda_destroy(void *ctx) {
  struct cuda_ctx *c = ctx;
  cublasDestroy(c->blas);
  cudaStreamDestroy(c->stream);
  free(c);
}

struct dml_backend *dml_backend_cuda_new(void) {
  struct cuda_ctx *c = xcalloc(1, sizeof *c);
  CUDA_CHECK(cudaStreamCreate(&c->stream));
  CUBLAS_CHECK(cublasCreate(&c->blas));
  CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
  struct dml_backend *be = xcalloc(1, sizeof *be);
  be->name = "cuda";
  be->ctx = c;
  be->destroy = cuda_destroy;
  be->fn = (struct dml_backend_fn){
    .linear_forward = linear_forward, .linear_backward = linear_backward,
    .relu_forward = relu_forward, .relu_backward = relu_backward,
    .l2norm_forward = l2norm_forward, .l2norm_backward = l2norm_backward,
    .alloc = cu_alloc, .release = cu_release, .to_device = cu_to_device, .to_host = cu_to_host, .zero = cu_zero,
  };
  return be;
}
