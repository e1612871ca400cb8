/* batchnorm (CPU) — 2-D batch normalisation (torch.nn.functional.batch_norm), training and inference modes,
 * plain C with OpenMP over channels. Each channel's sums are accumulated in double in (b, hw) index order by
 * one thread, so results do not depend on the thread count. Running statistics follow torch: biased batch
 * variance normalises, the unbiased one (×N/(N−1)) enters running_var with `momentum`. */
#include <math.h>

#include "kernels/cpu/cpu.h"

void dml_cpu_batchnorm_forward(void *ctx, float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                               const float *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                               float momentum, int training) {
  (void)ctx;
  const size_t cs = (size_t)C * HW;
  const double N = (double)B * HW;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    double m, is;
    if (training) {
      double s = 0;
      for (int b = 0; b < B; b++) {
        const float *xp = x + b * cs + (size_t)c * HW;
        for (int i = 0; i < HW; i++) s += xp[i];
      }
      m = s / N;
      double v = 0;
      for (int b = 0; b < B; b++) {
        const float *xp = x + b * cs + (size_t)c * HW;
        for (int i = 0; i < HW; i++) v += (xp[i] - m) * (xp[i] - m);
      }
      double var = v / N;
      is = 1.0 / sqrt(var + eps);
      if (running_mean) running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * m);
      if (running_var) running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * (N > 1 ? v / (N - 1) : var));
    } else {
      m = running_mean[c];
      is = 1.0 / sqrt((double)running_var[c] + eps);
    }
    mean[c] = (float)m;
    invstd[c] = (float)is;
    const float sc = (float)(gamma[c] * is), sh = (float)(beta[c] - m * gamma[c] * is);
    for (int b = 0; b < B; b++) {
      const float *xp = x + b * cs + (size_t)c * HW;
      float *yp = y + b * cs + (size_t)c * HW;
      for (int i = 0; i < HW; i++) yp[i] = xp[i] * sc + sh;
    }
  }
}

void dml_cpu_batchnorm_backward(void *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                const float *mean, const float *invstd, const float *gamma, int B, int C, int HW,
                                int training) {
  (void)ctx;
  const size_t cs = (size_t)C * HW;
  const double N = (double)B * HW;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    const double m = mean[c], is = invstd[c];
    double sdy = 0, sdyx = 0;
    for (int b = 0; b < B; b++) {
      const float *xp = x + b * cs + (size_t)c * HW, *dyp = dy + b * cs + (size_t)c * HW;
      for (int i = 0; i < HW; i++) {
        sdy += dyp[i];
        sdyx += dyp[i] * (xp[i] - m);
      }
    }
    dbeta[c] += (float)sdy;
    dgamma[c] += (float)(sdyx * is);
    if (!dx) continue;
    const double g = gamma[c] * is;
    /* training: dx = γ·is/N · (N·dy − Σdy − x̂·Σ(dy·x̂)), x̂ = (x−m)·is; inference: dx = γ·is·dy */
    const double k1 = training ? sdy / N : 0, k2 = training ? sdyx * is * is / N : 0;
    for (int b = 0; b < B; b++) {
      const float *xp = x + b * cs + (size_t)c * HW, *dyp = dy + b * cs + (size_t)c * HW;
      float *dxp = dx + b * cs + (size_t)c * HW;
      for (int i = 0; i < HW; i++) dxp[i] += (float)(g * (dyp[i] - k1 - (xp[i] - m) * k2));
    }
  }
}
