/* batchnorm (CPU) — 2-D batch normalisation (torch.nn.functional.batch_norm), training and inference modes, with
 * an optional fused ReLU, plain C with OpenMP over channels. Each channel's sums are accumulated in double by one
 * thread in a fixed order (SIMD lanes over hw, then b), so results do not depend on the thread count (they may
 * differ in the last bits between the AVX2 and the baseline build of the loops). Running statistics follow
 * torch: the biased batch variance normalises, the unbiased one (×N/(N−1)) enters running_var with `momentum`. */
#include <math.h>

#include "kernels/cpu/cpu.h"

DML_CPU_CLONES static void chan_sums(const float *restrict x, size_t cs, int B, int HW, double m, double *s1,
                                     double *s2) {
  double s = 0, v = 0;
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs;
#pragma omp simd reduction(+ : s, v)
    for (int i = 0; i < HW; i++) {
      double d = xp[i] - m;
      s += xp[i];
      v += d * d;
    }
  }
  *s1 = s;
  *s2 = v;
}

DML_CPU_CLONES static void chan_affine(float *restrict y, const float *restrict x, size_t cs, int B, int HW, float sc,
                                       float sh, int relu) {
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs;
    float *yp = y + b * cs;
    if (relu) {
#pragma omp simd
      for (int i = 0; i < HW; i++) {
        float v = xp[i] * sc + sh;
        yp[i] = v > 0 ? v : 0;
      }
    } else {
#pragma omp simd
      for (int i = 0; i < HW; i++) yp[i] = xp[i] * sc + sh;
    }
  }
}

void dml_cpu_batchnorm_forward(void *ctx, float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                               const float *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                               float momentum, int training, int relu) {
  (void)ctx;
  const size_t cs = (size_t)C * HW;
  const double N = (double)B * HW;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    const float *xc = x + (size_t)c * HW;
    double m, is;
    if (training) {
      double s, v;
      chan_sums(xc, cs, B, HW, 0.0, &s, &v);
      m = s / N;
      /* second pass around the mean (numerically safe variance) */
      chan_sums(xc, cs, B, HW, m, &s, &v);
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
    chan_affine(y + (size_t)c * HW, xc, cs, B, HW, (float)(gamma[c] * is), (float)(beta[c] - m * gamma[c] * is), relu);
  }
}

/* Σ dy' and Σ dy'·(x − m) over a channel, dy' = dy masked by the fused ReLU */
DML_CPU_CLONES static void chan_bw_sums(const float *restrict x, const float *restrict y, const float *restrict dy,
                                        size_t cs, int B, int HW, float m, int relu, double *s1, double *s2) {
  double sdy = 0, sdyx = 0;
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs, *yp = y + b * cs, *dyp = dy + b * cs;
#pragma omp simd reduction(+ : sdy, sdyx)
    for (int i = 0; i < HW; i++) {
      float d = relu && !(yp[i] > 0) ? 0.0f : dyp[i];
      sdy += d;
      sdyx += d * (xp[i] - m);
    }
  }
  *s1 = sdy;
  *s2 = sdyx;
}

DML_CPU_CLONES static void chan_bw_dx(float *restrict dx, const float *restrict x, const float *restrict y,
                                      const float *restrict dy, size_t cs, int B, int HW, float m, float g, float k1,
                                      float k2, int relu, int ow) {
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs, *yp = y + b * cs, *dyp = dy + b * cs;
    float *dxp = dx + b * cs;
#pragma omp simd
    for (int i = 0; i < HW; i++) {
      float d = relu && !(yp[i] > 0) ? 0.0f : dyp[i];
      dxp[i] = (ow ? 0.0f : dxp[i]) + g * (d - k1 - (xp[i] - m) * k2);
    }
  }
}

void dml_cpu_batchnorm_backward(void *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                const float *y, const float *mean, const float *invstd, const float *gamma, int B,
                                int C, int HW, int training, int relu, int dx_overwrite) {
  (void)ctx;
  const size_t cs = (size_t)C * HW;
  const double N = (double)B * HW;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    const size_t o = (size_t)c * HW;
    const double m = mean[c], is = invstd[c];
    double sdy, sdyx;
    chan_bw_sums(x + o, y + o, dy + o, cs, B, HW, (float)m, relu, &sdy, &sdyx);
    dbeta[c] += (float)sdy;
    dgamma[c] += (float)(sdyx * is);
    if (!dx) continue;
    /* training: dx = γ·is/N · (N·dy − Σdy − x̂·Σ(dy·x̂)), x̂ = (x−m)·is; inference: dx = γ·is·dy */
    const double k1 = training ? sdy / N : 0, k2 = training ? sdyx * is * is / N : 0;
    chan_bw_dx(dx + o, x + o, y + o, dy + o, cs, B, HW, (float)m, (float)(gamma[c] * is), (float)k1, (float)k2, relu,
               dx_overwrite);
  }
}
