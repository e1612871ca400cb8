/* cuda — internal declarations of the CUDA backend (kernels/cuda): the backend context shared by its C files, and
 * the extern "C" launchers of its own kernels (.cu files). No C++ crosses this header. Every launcher checks its
 * launch. All launchers are asynchronous on the given stream.
 *
 * Determinism: every own kernel writes each output from one thread (or one block reduction in a fixed order) and
 * uses no atomics; backward passes that scatter (pooling) are written as gathers over the outputs that read an
 * input, in the CPU backend's order, so their sums equal the CPU's bit for bit. cuDNN convolutions use only
 * algorithms cuDNN reports as deterministic (conv.c). A run on the same GPU is therefore bitwise repeatable. */
#ifndef DML_KERNELS_CUDA_H
#define DML_KERNELS_CUDA_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* ---- backend context (backend.c owns it; conv.c and linear.c use it) ---- */
struct dml_conv_shape;
struct dml_cuda_conv_cache;        /* per-shape cuDNN descriptors and algorithms (conv.c) */
struct dml_cuda_ctx {
  void *stream;                    /* cudaStream_t */
  void *blas;                      /* cublasHandle_t */
  void *dnn;                       /* cudnnHandle_t */
  struct dml_cuda_conv_cache *conv;
  void *workspace;                 /* one shared scratch buffer for cuDNN, grown to the largest need */
  size_t workspace_bytes;
  int tf32;                        /* DML_CUDA_TF32=1: TF32 tensor-core math in cuDNN and cuBLAS (bench only) */
};
/* grow the shared workspace to at least `bytes` (synchronises the stream before freeing the old one) */
void *dml_cuda_workspace(struct dml_cuda_ctx *c, size_t bytes);

/* ---- linear.c ---- */
void dml_cuda_linear_forward(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C, int OC);
void dml_cuda_linear_backward(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, int B, int C, int OC);
/* ---- conv.c (cuDNN) ---- */
void dml_cuda_conv2d_forward(void *ctx, void *y, const void *x, const float *w, const float *b,
                             const struct dml_conv_shape *s);
void dml_cuda_conv2d_backward(void *ctx, void *dx, float *dw, float *db, const void *dy, const void *x,
                              const float *w, const struct dml_conv_shape *s, int dx_overwrite);
void dml_cuda_conv_cache_free(struct dml_cuda_ctx *c);

/* ---- activation.cu ---- */
void dml_cuda_bias_fill(float *y, const float *b, int B, int OC, void *stream);
void dml_cuda_bias_grad(float *db, const float *dy, int B, int OC, void *stream);
/* db (C) += Σ over (B, HW) of dy (B, C, HW): one block per channel, fixed-order reduction */
void dml_cuda_channel_bias_grad(float *db, const float *dy, int B, int C, int HW, void *stream);
void dml_cuda_relu_forward(float *y, const float *x, size_t n, void *stream);
void dml_cuda_relu_backward(float *dx, const float *dy, const float *y, size_t n, void *stream);
void dml_cuda_l2norm_forward(float *y, float *norm, const float *x, int B, int D, void *stream);
void dml_cuda_l2norm_backward(float *dx, const float *dy, const float *y, const float *norm, int B, int D, void *stream);
void dml_cuda_add_forward(float *y, const float *a, const float *b, size_t n, int relu, void *stream);
void dml_cuda_add_backward(float *da, float *db, const float *dy, const float *y, size_t n, int relu, int overwrite,
                           void *stream);
void dml_cuda_concat_forward(float *y, const float *x, int B, int Ctot, int c0, int C, int HW, void *stream);
void dml_cuda_concat_backward(float *dx, const float *dy, int B, int Ctot, int c0, int C, int HW, void *stream);
void dml_cuda_mul_forward(float *y, const float *x, const float *m, size_t n, void *stream);
void dml_cuda_mul_backward(float *dx, const float *dy, const float *m, size_t n, void *stream);

/* ---- batchnorm.cu (same contract as kernels/cpu/batchnorm.c) ---- */
void dml_cuda_batchnorm_forward(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                                const float *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                                float momentum, int training, int relu, void *stream);
void dml_cuda_batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                 const float *y, const float *mean, const float *invstd, const float *gamma, int B,
                                 int C, int HW, int training, int relu, int dx_overwrite, void *stream);

/* ---- pool.cu (same contract as kernels/cpu/pool.c) ---- */
void dml_cuda_pool2d_forward(float *y, int32_t *idx, const float *x, const struct dml_conv_shape *s, int kind,
                             void *stream);
void dml_cuda_pool2d_backward(float *dx, const float *dy, const int32_t *idx, const struct dml_conv_shape *s, int kind,
                              void *stream);
void dml_cuda_global_pool_forward(float *y, int32_t *idx, const float *x, int B, int C, int HW, int kind,
                                  void *stream);
void dml_cuda_global_pool_backward(float *dx, const float *dy, const int32_t *idx, int B, int C, int HW, int kind,
                                   void *stream);
#ifdef __cplusplus
}
#endif
#endif
