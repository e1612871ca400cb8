/* linear (CUDA) — y = x·wᵀ + b and its backward through cuBLAS, with the contract of kernels/cpu/linear.c.
 * Row-major matrices are column-major transposes, so y = x·wᵀ is computed as yᵀ = w·xᵀ. The handle's math mode is
 * CUBLAS_DEFAULT_MATH (no TF32), set in backend.c. */
#include <cublas_v2.h>

#include "common/error.h"
#include "kernels/cuda/cuda.h"

#define CUBLAS_CHECK(x)                                                                        \
  do {                                                                                         \
    cublasStatus_t s_ = (x);                                                                   \
    if (s_ != CUBLAS_STATUS_SUCCESS) DML_ABORT("%s failed: cuBLAS status %d", #x, (int)s_);    \
  } while (0)

void dml_cuda_linear_forward(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C,
                             int OC) {
  struct dml_cuda_ctx *c = ctx;
  const float one = 1, zero = 0;
  if (b) dml_cuda_bias_fill(y, b, B, OC, c->stream);
  CUBLAS_CHECK(cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, B, C, &one, w, C, x, C, b ? &one : &zero, y, OC));
}

void dml_cuda_linear_backward(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, int B, int C, int OC) {
  struct dml_cuda_ctx *c = ctx;
  const float one = 1;
  if (dx) CUBLAS_CHECK(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, C, B, OC, &one, w, C, dy, OC, &one, dx, C));
  CUBLAS_CHECK(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, B, &one, x, C, dy, OC, &one, dw, C));
  if (db) dml_cuda_bias_grad(db, dy, B, OC, c->stream);
}
