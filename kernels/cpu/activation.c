/* activation (CPU) — ReLU forward/backward, plain C. */
#include "kernels/cpu/cpu.h"

void dml_cpu_relu_forward(void *ctx, float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

void dml_cpu_relu_backward(void *ctx, float *dx, const float *dy, const float *y, size_t n) {
  for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0;
}
