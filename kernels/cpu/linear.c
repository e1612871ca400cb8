/* linear (CPU) — fully connected layer on OpenBLAS sgemm (OpenMP build).
 * OpenBLAS splits a GEMM over output rows/columns, never over the reduction, so each output element is
 * accumulated in the same order whatever the thread count (checked by the e2e determinism test). */
#include <cblas.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

void dml_cpu_linear_forward(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C, int OC) {
  // y (B,OC) = x (B,C) · wᵀ, w (OC,C)
  if (b) {
    for (int i = 0; i < B; i++) memcpy(y + (size_t)i * OC, b, (size_t)OC * sizeof *y);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1.0f, x, C, w, C, b ? 1.0f : 0.0f, y, OC);
}

void dml_cpu_linear_backward(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int B, int C, int OC) {
  if (dx)  // dx (B,C) += dy (B,OC) · w (OC,C)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, dy, OC, w, C, 1.0f, dx, C);
  // dw (OC,C) += dyᵀ (OC,B) · x (B,C)
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1.0f, dy, OC, x, C, 1.0f, dw, C);
  if (db)
    for (int o = 0; o < OC; o++) {
      float s = 0;
      for (int i = 0; i < B; i++) s += dy[(size_t)i * OC + o];
      db[o] += s;
    }
}
