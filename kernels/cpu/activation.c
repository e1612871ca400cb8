/* activation (CPU) — ReLU and the (optionally ReLU-fused) elementwise add, forward/backward, plain C with
 * OpenMP static schedules (elementwise: no reduction, thread-count independent). */
#include "kernels/cpu/cpu.h"

void dml_cpu_relu_forward(void *ctx, float *y, const float *x, size_t n) {
  (void)ctx;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

void dml_cpu_relu_backward(void *ctx, float *dx, const float *dy, const float *y, size_t n) {
  (void)ctx;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0;
}

void dml_cpu_add_forward(void *ctx, float *y, const float *a, const float *b, size_t n, int relu) {
  (void)ctx;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) {
    float v = a[i] + b[i];
    y[i] = relu && !(v > 0) ? 0 : v;
  }
}

void dml_cpu_add_backward(void *ctx, float *da, float *db, const float *dy, const float *y, size_t n, int relu) {
  (void)ctx;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) {
    float g = relu && !(y[i] > 0) ? 0 : dy[i];
    if (da) da[i] += g;
    if (db) db[i] += g;
  }
}
