/* cpu — declarations shared by the CPU backend's op files (internal to kernels/cpu). */
#ifndef DML_KERNELS_CPU_H
#define DML_KERNELS_CPU_H
#include <stddef.h>

void dml_cpu_linear_forward(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C, int OC);
void dml_cpu_linear_backward(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int B, int C, int OC);
void dml_cpu_relu_forward(void *ctx, float *y, const float *x, size_t n);
void dml_cpu_relu_backward(void *ctx, float *dx, const float *dy, const float *y, size_t n);
void dml_cpu_l2norm_forward(void *ctx, float *y, float *norm, const float *x, int B, int D);
void dml_cpu_l2norm_backward(void *ctx, float *dx, const float *dy, const float *y, const float *norm, int B, int D);
#endif
