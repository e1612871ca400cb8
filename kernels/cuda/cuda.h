/* cuda — extern "C" launchers of the CUDA backend's own kernels (internal to kernels/cuda).
 * No C++ crosses this header. Every launcher checks its launch. */
#ifndef DML_KERNELS_CUDA_H
#define DML_KERNELS_CUDA_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
void dml_cuda_bias_fill(float *y, const float *b, int B, int OC, void *stream);
void dml_cuda_bias_grad(float *db, const float *dy, int B, int OC, void *stream);
void dml_cuda_relu_forward(float *y, const float *x, size_t n, void *stream);
void dml_cuda_relu_backward(float *dx, const float *dy, const float *y, size_t n, void *stream);
void dml_cuda_l2norm_forward(float *y, float *norm, const float *x, int B, int D, void *stream);
void dml_cuda_l2norm_backward(float *dx, const float *dy, const float *y, const float *norm, int B, int D, void *stream);
#ifdef __cplusplus
}
#endif
#endif
