/* activation (CPU) — ReLU, the (optionally ReLU-fused) elementwise add, the mask product of dropout and channel
 * concatenation, forward/backward, plain C with OpenMP static schedules (elementwise: no reduction,
 * thread-count independent). */
#include <string.h>

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

DML_CPU_CLONES static void add_bw_range(float *restrict da, float *restrict db, const float *restrict dy,
                                        const float *restrict y, size_t i0, size_t i1, int relu, int ow) {
  for (size_t i = i0; i < i1; i++) {
    float g = relu && !(y[i] > 0) ? 0 : dy[i];
    if (da) da[i] = (ow & 1 ? 0 : da[i]) + g;
    if (db) db[i] = (ow & 2 ? 0 : db[i]) + g;
  }
}

void dml_cpu_add_backward(void *ctx, float *da, float *db, const float *dy, const float *y, size_t n, int relu,
                          int overwrite) {
  (void)ctx;
  const size_t chunk = 16384;
  const long nch = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (nch > 2)
  for (long c = 0; c < nch; c++) {
    size_t i0 = (size_t)c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
    add_bw_range(da, db, dy, y, i0, i1, relu, overwrite);
  }
}

void dml_cpu_mul_forward(void *ctx, float *y, const float *x, const float *m, size_t n) {
  (void)ctx;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) y[i] = x[i] * m[i];
}

void dml_cpu_mul_backward(void *ctx, float *dx, const float *dy, const float *m, size_t n) {
  (void)ctx;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) dx[i] += dy[i] * m[i];
}

void dml_cpu_concat_forward(void *ctx, float *y, const float *x, int B, int Ctot, int c0, int C, int HW) {
  (void)ctx;
  const size_t blk = (size_t)C * HW;
#pragma omp parallel for schedule(static) if (B > 1 && blk > 4096)
  for (int b = 0; b < B; b++) memcpy(y + ((size_t)b * Ctot + c0) * HW, x + b * blk, blk * sizeof *y);
}

void dml_cpu_concat_backward(void *ctx, float *dx, const float *dy, int B, int Ctot, int c0, int C, int HW) {
  (void)ctx;
  const size_t blk = (size_t)C * HW;
#pragma omp parallel for schedule(static) if (B > 1 && blk > 4096)
  for (int b = 0; b < B; b++) {
    const float *src = dy + ((size_t)b * Ctot + c0) * HW;
    float *dst = dx + b * blk;
    for (size_t i = 0; i < blk; i++) dst[i] += src[i];
  }
}
