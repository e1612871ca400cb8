/* batchnorm (CPU) — 2-D batch normalisation (torch.nn.functional.batch_norm), training and inference modes, with
 * an optional fused ReLU, plain C with OpenMP over channels. Each channel's sums are accumulated in double by one
 * thread in a fixed order (SIMD lanes over hw, then b), so results do not depend on the thread count (they may
 * differ in the last bits between the AVX2 and the baseline build of the loops). Running statistics follow
 * torch: the biased batch variance normalises, the unbiased one (×N/(N−1)) enters running_var with `momentum`.
 * bf16 (NHWC): the (b, hw) rows are split into fixed blocks of BN_ROWS rows (independent of the thread count);
 * each block's per-channel sums are accumulated in double and the blocks are added in order, so results do not
 * depend on the thread count either; values are computed in float32 and rounded to bf16 once per output. */
#include <math.h>

#include <stdlib.h>

#include "common/error.h"
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

static void bn_fwd_f32(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                       const float *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                       float momentum, int training, int relu) {
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

static void bn_bwd_f32(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *y,
                       const float *mean, const float *invstd, const float *gamma, int B, int C, int HW, int training,
                       int relu, int dx_overwrite) {
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

// ---------------------------------------------------------------------------------------------- bf16, NHWC

#define BN_ROWS 256

/* per channel over rows [r0, r1): s1 += Σ v, s2 += Σ (v − m)², v = x (stats) */
DML_CPU_CLONES static void rows_stats(const uint16_t *restrict x, int C, size_t r0, size_t r1,
                                      const float *restrict m, double *restrict s1, double *restrict s2) {
  for (int c = 0; c < C; c++) s1[c] = s2[c] = 0;
  for (size_t r = r0; r < r1; r++) {
    const uint16_t *xr = x + r * C;
#pragma omp simd
    for (int c = 0; c < C; c++) {
      float v = dml_bf16_to_f32(xr[c]), d = v - m[c];
      s1[c] += v;
      s2[c] += (double)d * d;
    }
  }
}

/* per channel over rows [r0, r1): s1 = Σ d, s2 = Σ d·(x − m), d = dy masked by the fused ReLU (y > 0) */
DML_CPU_CLONES static void rows_bw_sums(const uint16_t *restrict x, const uint16_t *restrict y,
                                        const uint16_t *restrict dy, int C, size_t r0, size_t r1,
                                        const float *restrict m, int relu, double *restrict s1, double *restrict s2) {
  for (int c = 0; c < C; c++) s1[c] = s2[c] = 0;
  for (size_t r = r0; r < r1; r++) {
    const uint16_t *xr = x + r * C, *yr = y + r * C, *dr = dy + r * C;
#pragma omp simd
    for (int c = 0; c < C; c++) {
      float d = relu && !(dml_bf16_to_f32(yr[c]) > 0) ? 0.0f : dml_bf16_to_f32(dr[c]);
      s1[c] += d;
      s2[c] += (double)d * (dml_bf16_to_f32(xr[c]) - m[c]);
    }
  }
}

/* Σ over the blocks, in block order, of the per-block sums part[blk][2][C] */
static void blocks_sum(const double *part, long nblk, int C, double *s1, double *s2) {
  for (int c = 0; c < C; c++) s1[c] = s2[c] = 0;
  for (long k = 0; k < nblk; k++)
    for (int c = 0; c < C; c++) {
      s1[c] += part[(size_t)k * 2 * C + c];
      s2[c] += part[(size_t)k * 2 * C + C + c];
    }
}

DML_CPU_CLONES static void rows_affine(uint16_t *restrict y, const uint16_t *restrict x, int C, size_t r0, size_t r1,
                                       const float *restrict sc, const float *restrict sh, int relu) {
  for (size_t r = r0; r < r1; r++) {
    const uint16_t *xr = x + r * C;
    uint16_t *yr = y + r * C;
#pragma omp simd
    for (int c = 0; c < C; c++) {
      float v = dml_bf16_to_f32(xr[c]) * sc[c] + sh[c];
      yr[c] = dml_bf16_from_f32(relu && !(v > 0) ? 0.0f : v);
    }
  }
}

DML_CPU_CLONES static void rows_bw_dx(uint16_t *restrict dx, const uint16_t *restrict x, const uint16_t *restrict y,
                                      const uint16_t *restrict dy, int C, size_t r0, size_t r1, const float *restrict m,
                                      const float *restrict g, const float *restrict k1, const float *restrict k2,
                                      int relu, int ow) {
  for (size_t r = r0; r < r1; r++) {
    const uint16_t *xr = x + r * C, *yr = y + r * C, *dr = dy + r * C;
    uint16_t *o = dx + r * C;
#pragma omp simd
    for (int c = 0; c < C; c++) {
      float d = relu && !(dml_bf16_to_f32(yr[c]) > 0) ? 0.0f : dml_bf16_to_f32(dr[c]);
      float v = g[c] * (d - k1[c] - (dml_bf16_to_f32(xr[c]) - m[c]) * k2[c]);
      o[c] = dml_bf16_from_f32((ow ? 0.0f : dml_bf16_to_f32(o[c])) + v);
    }
  }
}

static void bn_fwd_bf16(uint16_t *y, float *mean, float *invstd, float *running_mean, float *running_var,
                        const uint16_t *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                        float momentum, int training, int relu) {
  const size_t R = (size_t)B * HW;
  const long nblk = (long)((R + BN_ROWS - 1) / BN_ROWS);
  float *sc = xmalloc(3 * (size_t)C * sizeof *sc), *sh = sc + C, *mf = sh + C;
  if (training) {
    const double N = (double)R;
    double *part = xmalloc((size_t)nblk * 2 * C * sizeof *part), *s1 = xmalloc(2 * (size_t)C * sizeof *s1),
           *s2 = s1 + C;
    for (int c = 0; c < C; c++) mf[c] = 0;
#pragma omp parallel for schedule(static)
    for (long k = 0; k < nblk; k++)
      rows_stats(x, C, (size_t)k * BN_ROWS, (size_t)(k + 1) * BN_ROWS < R ? (size_t)(k + 1) * BN_ROWS : R, mf,
                 part + (size_t)k * 2 * C, part + (size_t)k * 2 * C + C);
    blocks_sum(part, nblk, C, s1, s2);
    for (int c = 0; c < C; c++) mf[c] = (float)(s1[c] / N);
    /* second pass around the mean (numerically safe variance) */
#pragma omp parallel for schedule(static)
    for (long k = 0; k < nblk; k++)
      rows_stats(x, C, (size_t)k * BN_ROWS, (size_t)(k + 1) * BN_ROWS < R ? (size_t)(k + 1) * BN_ROWS : R, mf,
                 part + (size_t)k * 2 * C, part + (size_t)k * 2 * C + C);
    blocks_sum(part, nblk, C, s1, s2);
    for (int c = 0; c < C; c++) {
      double m = mf[c], var = s2[c] / N, is = 1.0 / sqrt(var + eps);
      if (running_mean) running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * m);
      if (running_var)
        running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * (N > 1 ? s2[c] / (N - 1) : var));
      mean[c] = (float)m;
      invstd[c] = (float)is;
    }
    free(part);
    free(s1);
  } else {
    for (int c = 0; c < C; c++) {
      mean[c] = running_mean[c];
      invstd[c] = (float)(1.0 / sqrt((double)running_var[c] + eps));
    }
  }
  for (int c = 0; c < C; c++) {
    double is = invstd[c];
    sc[c] = (float)(gamma[c] * is);
    sh[c] = (float)(beta[c] - (double)mean[c] * gamma[c] * is);
  }
#pragma omp parallel for schedule(static)
  for (long k = 0; k < nblk; k++)
    rows_affine(y, x, C, (size_t)k * BN_ROWS, (size_t)(k + 1) * BN_ROWS < R ? (size_t)(k + 1) * BN_ROWS : R, sc, sh,
                relu);
  free(sc);
}

static void bn_bwd_bf16(uint16_t *dx, float *dgamma, float *dbeta, const uint16_t *dy, const uint16_t *x,
                        const uint16_t *y, const float *mean, const float *invstd, const float *gamma, int B, int C,
                        int HW, int training, int relu, int dx_overwrite) {
  const size_t R = (size_t)B * HW;
  const long nblk = (long)((R + BN_ROWS - 1) / BN_ROWS);
  const double N = (double)R;
  double *part = xmalloc((size_t)nblk * 2 * C * sizeof *part), *s1 = xmalloc(2 * (size_t)C * sizeof *s1), *s2 = s1 + C;
#pragma omp parallel for schedule(static)
  for (long k = 0; k < nblk; k++)
    rows_bw_sums(x, y, dy, C, (size_t)k * BN_ROWS, (size_t)(k + 1) * BN_ROWS < R ? (size_t)(k + 1) * BN_ROWS : R,
                 mean, relu, part + (size_t)k * 2 * C, part + (size_t)k * 2 * C + C);
  blocks_sum(part, nblk, C, s1, s2);
  float *g = xmalloc(3 * (size_t)C * sizeof *g), *k1 = g + C, *k2 = k1 + C;
  for (int c = 0; c < C; c++) {
    double is = invstd[c];
    dbeta[c] += (float)s1[c];
    dgamma[c] += (float)(s2[c] * is);
    g[c] = (float)(gamma[c] * is);
    k1[c] = training ? (float)(s1[c] / N) : 0.0f;
    k2[c] = training ? (float)(s2[c] * is * is / N) : 0.0f;
  }
  if (dx) {
#pragma omp parallel for schedule(static)
    for (long k = 0; k < nblk; k++)
      rows_bw_dx(dx, x, y, dy, C, (size_t)k * BN_ROWS, (size_t)(k + 1) * BN_ROWS < R ? (size_t)(k + 1) * BN_ROWS : R,
                 mean, g, k1, k2, relu, dx_overwrite);
  }
  free(g);
  free(part);
  free(s1);
}

void dml_cpu_batchnorm_forward(void *ctx, void *y, float *mean, float *invstd, float *running_mean, float *running_var,
                               const void *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                               float momentum, int training, int relu, int prec) {
  (void)ctx;
  if (prec == DML_BF16)
    bn_fwd_bf16(y, mean, invstd, running_mean, running_var, x, gamma, beta, B, C, HW, eps, momentum, training, relu);
  else
    bn_fwd_f32(y, mean, invstd, running_mean, running_var, x, gamma, beta, B, C, HW, eps, momentum, training, relu);
}

void dml_cpu_batchnorm_backward(void *ctx, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                                const void *y, const float *mean, const float *invstd, const float *gamma, int B,
                                int C, int HW, int training, int relu, int dx_overwrite, int prec) {
  (void)ctx;
  if (prec == DML_BF16)
    bn_bwd_bf16(dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, B, C, HW, training, relu, dx_overwrite);
  else
    bn_bwd_f32(dx, dgamma, dbeta, dy, x, y, mean, invstd, gamma, B, C, HW, training, relu, dx_overwrite);
}
