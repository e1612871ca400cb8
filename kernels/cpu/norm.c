/* norm (CPU) — row-wise L2 normalisation (torch.nn.functional.normalize, eps 1e-12), plain C.
 * Sums are accumulated in double, per row, in index order: deterministic. */
#include <math.h>

#include "kernels/cpu/cpu.h"

void dml_cpu_l2norm_forward(void *ctx, float *y, float *norm, const float *x, int B, int D) {
  for (int i = 0; i < B; i++) {
    const float *xi = x + (size_t)i * D;
    double s = 0;
    for (int j = 0; j < D; j++) s += (double)xi[j] * xi[j];
    double nr = sqrt(s);
    if (nr < 1e-12) nr = 1e-12;
    norm[i] = (float)nr;
    for (int j = 0; j < D; j++) y[(size_t)i * D + j] = (float)(xi[j] / nr);
  }
}

void dml_cpu_l2norm_backward(void *ctx, float *dx, const float *dy, const float *y, const float *norm, int B, int D) {
  for (int i = 0; i < B; i++) {
    const float *dyi = dy + (size_t)i * D, *yi = y + (size_t)i * D;
    double dot = 0;
    for (int j = 0; j < D; j++) dot += (double)dyi[j] * yi[j];
    /* below the eps clamp, the output is x/eps, linear in x */
    int clamped = norm[i] <= 1e-12f;
    for (int j = 0; j < D; j++)
      dx[(size_t)i * D + j] += clamped ? dyi[j] / norm[i] : (float)((dyi[j] - yi[j] * dot) / norm[i]);
  }
}
