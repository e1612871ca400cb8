/* batchnorm (CPU) — 2-D batch normalisation (torch.nn.functional.batch_norm), training and inference modes, with
 * an optional fused ReLU. Running statistics follow torch: the biased batch variance normalises, the unbiased one
 * (×N/(N−1)) enters running_var with `momentum`.
 *
 * Statistics in one pass: per channel Σx and Σx² (forward), Σdy' and Σdy'·x (backward, dy' = dy masked by the
 * fused ReLU) in float64. Every product of two float32 (or bf16) values is exact in float64, so each sum is a
 * sequence of float64 additions of exact terms in a fixed order; var = Σx²/N − mean², dγ-sum = Σdy'x − mean·Σdy'.
 * The order:
 *  - fp32 (NCHW): per channel, 16 lanes, lane j summing the plane elements hw ≡ j (mod 16) for b = 0, 1, …; the
 *    lanes combined in a fixed tree (8+8, 4+4, 2+2, 1+1). One thread per channel.
 *  - bf16 (NHWC): the (b, hw) rows are split into fixed blocks of BN_ROWS rows; per block and channel the rows
 *    are summed in order, and the blocks are added in order. Threads take (block, channel chunk) tasks.
 * Neither depends on the thread count nor on the SIMD width. The elementwise passes use explicit fmaf(): the
 * AVX-512 kernels and the portable C twins (cpu.h) give bitwise the same results.
 * Outputs: y = max(fma(x, sc, sh), 0) with sc = γ·is, sh = β − mean·γ·is; dx (=, or += onto the existing
 * gradient) = fma(a, dy', fma(b, x, k)) with a = γ·is and, in training, b = −a·is²·Σdy'(x−m)/N,
 * k = a·(is²·Σdy'(x−m)·m/N − Σdy'/N) (b = k = 0 frozen). bf16 values are computed in float32 and rounded once per
 * output. */
#include <math.h>

#include <stdlib.h>

#include "common/error.h"
#include "kernels/cpu/cpu.h"

// ---------------------------------------------------------------------------------------------- fp32, NCHW

enum { LANES = 16 };

/* the fixed combination of the 16 lane sums */
static double lanes_sum(double *a) {
  for (int w = LANES / 2; w; w >>= 1)
    for (int j = 0; j < w; j++) a[j] += a[j + w];
  return a[0];
}

/* one channel's planes (B of them, HW each, cs apart): s[0] = Σx, s[1] = Σx² */
DML_CPU_CLONES static void chan_stats_c(const float *restrict x, size_t cs, int B, int HW, double *s) {
  double a[LANES] = {0}, q[LANES] = {0};
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs;
    int i = 0;
    for (; i + LANES <= HW; i += LANES)
      for (int j = 0; j < LANES; j++) {
        double v = xp[i + j];
        a[j] += v;
        q[j] += v * v;
      }
    for (int j = 0; i + j < HW; j++) {
      double v = xp[i + j];
      a[j] += v;
      q[j] += v * v;
    }
  }
  s[0] = lanes_sum(a);
  s[1] = lanes_sum(q);
}

/* d where the float y > 0, else +0: y > 0 as an unsigned compare on the bits (positive, finite or +inf, not NaN),
 * so that GCC vectorises the loop around it (the float compare became a branch per element) */
static inline float keep_pos(float y, float d) {
  union { float f; uint32_t u; } a = {y}, b = {d};
  b.u &= (uint32_t) - (uint32_t)(a.u - 1u < 0x7f800000u);
  return b.f;
}

/* one channel: s[0] = Σd, s[1] = Σd·x, d = dy, masked by y > 0 when relu */
DML_CPU_CLONES static void chan_bw_sums_c(const float *restrict x, const float *restrict y, const float *restrict dy,
                                          size_t cs, int B, int HW, int relu, double *s) {
  double a[LANES] = {0}, q[LANES] = {0};
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs, *yp = relu ? y + b * cs : NULL, *dp = dy + b * cs;
    int i = 0;
    if (relu) {
      for (; i + LANES <= HW; i += LANES)
        for (int j = 0; j < LANES; j++) {
          float d = keep_pos(yp[i + j], dp[i + j]);
          a[j] += d;
          q[j] += (double)d * xp[i + j];
        }
      for (int j = 0; i + j < HW; j++) {
        float d = keep_pos(yp[i + j], dp[i + j]);
        a[j] += d;
        q[j] += (double)d * xp[i + j];
      }
    } else {
      for (; i + LANES <= HW; i += LANES)
        for (int j = 0; j < LANES; j++) {
          double d = dp[i + j];
          a[j] += d;
          q[j] += d * xp[i + j];
        }
      for (int j = 0; i + j < HW; j++) {
        double d = dp[i + j];
        a[j] += d;
        q[j] += d * xp[i + j];
      }
    }
  }
  s[0] = lanes_sum(a);
  s[1] = lanes_sum(q);
}

DML_CPU_CLONES static void chan_affine_c(float *restrict y, const float *restrict x, size_t cs, int B, int HW,
                                         float sc, float sh, int relu) {
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs;
    float *yp = y + b * cs;
    if (relu)
      for (int i = 0; i < HW; i++) {
        float v = fmaf(xp[i], sc, sh);
        yp[i] = v > 0 ? v : 0.0f;
      }
    else
      for (int i = 0; i < HW; i++) yp[i] = fmaf(xp[i], sc, sh);
  }
}

DML_CPU_CLONES static void chan_bw_dx_c(float *restrict dx, const float *restrict x, const float *restrict y,
                                        const float *restrict dy, size_t cs, int B, int HW, float a, float bb, float k,
                                        int relu, int ow) {
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs, *yp = relu ? y + b * cs : NULL, *dp = dy + b * cs;
    float *o = dx + b * cs;
    if (relu && ow)
      for (int i = 0; i < HW; i++) {
        float d = dp[i];
        o[i] = fmaf(a, yp[i] > 0 ? d : 0.0f, fmaf(bb, xp[i], k));
      }
    else if (relu)
      for (int i = 0; i < HW; i++) {
        float d = dp[i];
        o[i] += fmaf(a, yp[i] > 0 ? d : 0.0f, fmaf(bb, xp[i], k));
      }
    else if (ow)
      for (int i = 0; i < HW; i++) o[i] = fmaf(a, dp[i], fmaf(bb, xp[i], k));
    else
      for (int i = 0; i < HW; i++) o[i] += fmaf(a, dp[i], fmaf(bb, xp[i], k));
  }
}

#if DML_HAVE_AVX512
/* the 16 lanes as 2 × 8 float64 (lo = lanes 0–7) */
DML_AVX512 static inline void acc16(__m512d *lo, __m512d *hi, __m512 v, __mmask16 m) {
  __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), b = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
  *lo = _mm512_mask_add_pd(*lo, (__mmask8)m, *lo, a);
  *hi = _mm512_mask_add_pd(*hi, (__mmask8)(m >> 8), *hi, b);
}
DML_AVX512 static inline void accmul16(__m512d *lo, __m512d *hi, __m512 v, __m512 w, __mmask16 m) {
  __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), b = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
  __m512d c = _mm512_cvtps_pd(_mm512_castps512_ps256(w)), d = _mm512_cvtps_pd(_mm512_extractf32x8_ps(w, 1));
  /* the product is exact in float64: fused or not, the same sum */
  *lo = _mm512_mask3_fmadd_pd(a, c, *lo, (__mmask8)m);
  *hi = _mm512_mask3_fmadd_pd(b, d, *hi, (__mmask8)(m >> 8));
}
DML_AVX512 static double lanes_sum512(__m512d lo, __m512d hi) {
  double a[LANES];
  _mm512_storeu_pd(a, lo);
  _mm512_storeu_pd(a + 8, hi);
  return lanes_sum(a);
}

DML_AVX512 static void chan_stats_512(const float *x, size_t cs, int B, int HW, double *s) {
  __m512d a0 = _mm512_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs;
    for (int i = 0; i < HW; i += LANES) {
      const __mmask16 m = dml512_mask16(HW - i);
      __m512 v = _mm512_maskz_loadu_ps(m, xp + i);
      acc16(&a0, &a1, v, m);
      accmul16(&q0, &q1, v, v, m);
    }
  }
  s[0] = lanes_sum512(a0, a1);
  s[1] = lanes_sum512(q0, q1);
}

DML_AVX512 static void chan_bw_sums_512(const float *x, const float *y, const float *dy, size_t cs, int B, int HW,
                                        int relu, double *s) {
  __m512d a0 = _mm512_setzero_pd(), a1 = a0, q0 = a0, q1 = a0;
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs, *yp = relu ? y + b * cs : NULL, *dp = dy + b * cs;
    for (int i = 0; i < HW; i += LANES) {
      const __mmask16 m = dml512_mask16(HW - i);
      __mmask16 keep = m;
      if (relu) keep = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, yp + i), _mm512_setzero_ps(), _CMP_GT_OQ);
      __m512 d = _mm512_maskz_loadu_ps(keep, dp + i), v = _mm512_maskz_loadu_ps(m, xp + i);
      acc16(&a0, &a1, d, m);
      accmul16(&q0, &q1, d, v, m);
    }
  }
  s[0] = lanes_sum512(a0, a1);
  s[1] = lanes_sum512(q0, q1);
}

DML_AVX512 static void chan_affine_512(float *y, const float *x, size_t cs, int B, int HW, float sc, float sh,
                                       int relu) {
  const __m512 vs = _mm512_set1_ps(sc), vh = _mm512_set1_ps(sh), z = _mm512_setzero_ps();
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs;
    float *yp = y + b * cs;
    for (int i = 0; i < HW; i += LANES) {
      const __mmask16 m = dml512_mask16(HW - i);
      __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xp + i), vs, vh);
      if (relu) v = _mm512_max_ps(v, z); /* v > 0 ? v : 0, a NaN to 0 */
      _mm512_mask_storeu_ps(yp + i, m, v);
    }
  }
}

DML_AVX512 static void chan_bw_dx_512(float *dx, const float *x, const float *y, const float *dy, size_t cs, int B,
                                      int HW, float a, float bb, float k, int relu, int ow) {
  const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(bb), vk = _mm512_set1_ps(k), z = _mm512_setzero_ps();
  for (int b = 0; b < B; b++) {
    const float *xp = x + b * cs, *yp = relu ? y + b * cs : NULL, *dp = dy + b * cs;
    float *o = dx + b * cs;
    for (int i = 0; i < HW; i += LANES) {
      const __mmask16 m = dml512_mask16(HW - i);
      __mmask16 keep = m;
      if (relu) keep = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, yp + i), z, _CMP_GT_OQ);
      __m512 d = _mm512_maskz_loadu_ps(keep, dp + i);
      __m512 v = _mm512_fmadd_ps(va, d, _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, xp + i), vk));
      if (!ow) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, o + i), v);
      _mm512_mask_storeu_ps(o + i, m, v);
    }
  }
}
#endif

static void bn_fwd_f32(float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                       const float *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                       float momentum, int training, int relu) {
  const size_t cs = (size_t)C * HW;
  const double N = (double)B * HW;
  const int simd = dml_cpu_avx512();
  (void)simd; /* no AVX-512 kernels on other architectures */
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    const float *xc = x + (size_t)c * HW;
    double m, is;
    if (training) {
      double s[2];
#if DML_HAVE_AVX512
      if (simd)
        chan_stats_512(xc, cs, B, HW, s);
      else
#endif
        chan_stats_c(xc, cs, B, HW, s);
      m = s[0] / N;
      double var = s[1] / N - m * m;
      var = var > 0 ? var : 0;
      is = 1.0 / sqrt(var + eps);
      if (running_mean) running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * m);
      if (running_var) running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * (N > 1 ? var * N / (N - 1) : var));
    } else {
      m = running_mean[c];
      is = 1.0 / sqrt((double)running_var[c] + eps);
    }
    mean[c] = (float)m;
    invstd[c] = (float)is;
    const float sc = (float)(gamma[c] * is), sh = (float)(beta[c] - m * gamma[c] * is);
#if DML_HAVE_AVX512
    if (simd)
      chan_affine_512(y + (size_t)c * HW, xc, cs, B, HW, sc, sh, relu);
    else
#endif
      chan_affine_c(y + (size_t)c * HW, xc, cs, B, HW, sc, sh, relu);
  }
}

/* the backward's per-channel coefficients from the sums s1 = Σd, s2x = Σd·x (the header's a, b, k) */
static void bw_coef(double s1, double s2x, double m, double is, double gamma, double N, int training, float *dgamma,
                    float *dbeta, float *a, float *b, float *k) {
  const double s2 = s2x - m * s1; /* Σd·(x − m) */
  *dbeta += (float)s1;
  *dgamma += (float)(s2 * is);
  const double g = gamma * is, k2 = training ? s2 * is * is / N : 0, k1 = training ? s1 / N : 0;
  *a = (float)g;
  *b = (float)(-g * k2);
  *k = (float)(g * (k2 * m - k1));
}

static void bn_bwd_f32(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *y,
                       const float *mean, const float *invstd, const float *gamma, int B, int C, int HW, int training,
                       int relu, int dx_overwrite) {
  const size_t cs = (size_t)C * HW;
  const double N = (double)B * HW;
  const int simd = dml_cpu_avx512();
  (void)simd; /* no AVX-512 kernels on other architectures */
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    const size_t o = (size_t)c * HW;
    const float *yc = relu ? y + o : NULL;
    double s[2];
#if DML_HAVE_AVX512
    if (simd)
      chan_bw_sums_512(x + o, yc, dy + o, cs, B, HW, relu, s);
    else
#endif
      chan_bw_sums_c(x + o, yc, dy + o, cs, B, HW, relu, s);
    float a, b, k;
    bw_coef(s[0], s[1], mean[c], invstd[c], gamma[c], N, training, dgamma + c, dbeta + c, &a, &b, &k);
    if (!dx) continue;
#if DML_HAVE_AVX512
    if (simd)
      chan_bw_dx_512(dx + o, x + o, yc, dy + o, cs, B, HW, a, b, k, relu, dx_overwrite);
    else
#endif
      chan_bw_dx_c(dx + o, x + o, yc, dy + o, cs, B, HW, a, b, k, relu, dx_overwrite);
  }
}

// ---------------------------------------------------------------------------------------------- bf16, NHWC

#define BN_ROWS 256 /* rows per reduction block */
#define BN_CHUNK 512 /* channels per reduction task (any split gives the same sums) */
#define BN_EROWS 64 /* rows per task of the elementwise passes */

/* channels [c0, c1) over rows [r0, r1): s1[c] = Σ x, s2[c] = Σ x² */
DML_CPU_CLONES static void rows_stats_c(const uint16_t *restrict x, int C, size_t r0, size_t r1, int c0, int c1,
                                        double *restrict s1, double *restrict s2) {
  for (int c = c0; c < c1; c++) s1[c] = s2[c] = 0;
  for (size_t r = r0; r < r1; r++) {
    const uint16_t *xr = x + r * C;
    for (int c = c0; c < c1; c++) {
      double v = dml_bf16_to_f32(xr[c]);
      s1[c] += v;
      s2[c] += v * v;
    }
  }
}

/* channels [c0, c1) over rows [r0, r1): s1[c] = Σ d, s2[c] = Σ d·x, d = dy masked by the fused ReLU (y > 0) */
DML_CPU_CLONES static void rows_bw_sums_c(const uint16_t *restrict x, const uint16_t *restrict y,
                                          const uint16_t *restrict dy, int C, size_t r0, size_t r1, int c0, int c1,
                                          int relu, double *restrict s1, double *restrict s2) {
  for (int c = c0; c < c1; c++) s1[c] = s2[c] = 0;
  for (size_t r = r0; r < r1; r++) {
    const uint16_t *xr = x + r * C, *dr = dy + r * C;
    if (relu) {
      const uint16_t *yr = y + r * C;
      for (int c = c0; c < c1; c++) {
        double d = dml_bf16_to_f32(dml_bf16_relu_keep(yr[c], dr[c]));
        s1[c] += d;
        s2[c] += d * dml_bf16_to_f32(xr[c]);
      }
    } else {
      for (int c = c0; c < c1; c++) {
        double d = dml_bf16_to_f32(dr[c]);
        s1[c] += d;
        s2[c] += d * dml_bf16_to_f32(xr[c]);
      }
    }
  }
}

DML_CPU_CLONES static void rows_affine_c(uint16_t *restrict y, const uint16_t *restrict x, int C, size_t r0,
                                         size_t r1, const float *restrict sc, const float *restrict sh, int relu) {
  for (size_t r = r0; r < r1; r++) {
    const uint16_t *xr = x + r * C;
    uint16_t *yr = y + r * C;
    if (relu)
      for (int c = 0; c < C; c++) {
        float v = fmaf(dml_bf16_to_f32(xr[c]), sc[c], sh[c]);
        yr[c] = dml_bf16_from_f32(v > 0 ? v : 0.0f);
      }
    else
      for (int c = 0; c < C; c++) yr[c] = dml_bf16_from_f32(fmaf(dml_bf16_to_f32(xr[c]), sc[c], sh[c]));
  }
}

DML_CPU_CLONES static void rows_bw_dx_c(uint16_t *restrict dx, const uint16_t *restrict x, const uint16_t *restrict y,
                                        const uint16_t *restrict dy, int C, size_t r0, size_t r1,
                                        const float *restrict a, const float *restrict b, const float *restrict k,
                                        int relu, int ow) {
  for (size_t r = r0; r < r1; r++) {
    const uint16_t *xr = x + r * C, *dr = dy + r * C;
    uint16_t *o = dx + r * C;
    if (relu) {
      const uint16_t *yr = y + r * C;
      for (int c = 0; c < C; c++) {
        float v = fmaf(a[c], dml_bf16_to_f32(dml_bf16_relu_keep(yr[c], dr[c])), fmaf(b[c], dml_bf16_to_f32(xr[c]), k[c]));
        o[c] = dml_bf16_from_f32(ow ? v : dml_bf16_to_f32(o[c]) + v);
      }
    } else {
      for (int c = 0; c < C; c++) {
        float v = fmaf(a[c], dml_bf16_to_f32(dr[c]), fmaf(b[c], dml_bf16_to_f32(xr[c]), k[c]));
        o[c] = dml_bf16_from_f32(ow ? v : dml_bf16_to_f32(o[c]) + v);
      }
    }
  }
}

#if DML_HAVE_AVX512
/* 32 bf16 → 4 × 8 float64 */
DML_AVX512 static inline void pd4_from_bf16(__m512d *v, __m512i h) {
  const __m256i lo = _mm512_castsi512_si256(h), hi = _mm512_extracti64x4_epi64(h, 1);
  v[0] = dml512_pd_from_bf16(_mm256_castsi256_si128(lo));
  v[1] = dml512_pd_from_bf16(_mm256_extracti128_si256(lo, 1));
  v[2] = dml512_pd_from_bf16(_mm256_castsi256_si128(hi));
  v[3] = dml512_pd_from_bf16(_mm256_extracti128_si256(hi, 1));
}
static inline __mmask32 mask32(int n) { return (__mmask32)(n >= 32 ? 0xffffffffu : n <= 0 ? 0u : (1u << n) - 1u); }
DML_AVX512 static inline void store_sums(double *s1, double *s2, const __m512d *a, const __m512d *q, __mmask32 m) {
  for (int j = 0; j < 4; j++) {
    const __mmask8 mj = (__mmask8)(m >> (8 * j));
    _mm512_mask_storeu_pd(s1 + 8 * j, mj, a[j]);
    _mm512_mask_storeu_pd(s2 + 8 * j, mj, q[j]);
  }
}

DML_AVX512 static inline void load_sums(__m512d *a, __m512d *q, const double *s1, const double *s2, __mmask32 m) {
  for (int j = 0; j < 4; j++) {
    const __mmask8 mj = (__mmask8)(m >> (8 * j));
    a[j] = _mm512_maskz_loadu_pd(mj, s1 + 8 * j);
    q[j] = _mm512_maskz_loadu_pd(mj, s2 + 8 * j);
  }
}

/* Rows in groups of BN_GROUP (contiguous memory); per group, 64 channels at a time (two halves of 32) with the
 * 8 × 8 float64 accumulators of each sum in registers, kept in s1/s2 between groups: per channel the rows are
 * still added in order, one by one. */
enum { BN_GROUP = 16 };
DML_AVX512 static void rows_stats_512(const uint16_t *x, int C, size_t r0, size_t r1, int c0, int c1, double *s1,
                                      double *s2) {
  for (int c = c0; c < c1; c++) s1[c] = s2[c] = 0;
  for (size_t g = r0; g < r1; g += BN_GROUP) {
    const size_t g1 = g + BN_GROUP < r1 ? g + BN_GROUP : r1;
    for (int c = c0; c < c1; c += 64) {
      const __mmask32 m0 = mask32(c1 - c), m1 = mask32(c1 - c - 32);
      __m512d a[8], q[8], v[8];
      load_sums(a, q, s1 + c, s2 + c, m0);
      load_sums(a + 4, q + 4, s1 + c + 32, s2 + c + 32, m1);
      for (size_t r = g; r < g1; r++) {
        pd4_from_bf16(v, _mm512_maskz_loadu_epi16(m0, x + r * C + c));
        pd4_from_bf16(v + 4, _mm512_maskz_loadu_epi16(m1, x + r * C + c + 32));
        for (int j = 0; j < 8; j++) {
          a[j] = _mm512_add_pd(a[j], v[j]);
          q[j] = _mm512_fmadd_pd(v[j], v[j], q[j]); /* exact product */
        }
      }
      store_sums(s1 + c, s2 + c, a, q, m0);
      store_sums(s1 + c + 32, s2 + c + 32, a + 4, q + 4, m1);
    }
  }
}

DML_AVX512 static inline __mmask32 keep32(const uint16_t *y, __mmask32 m) {
  return _mm512_mask_cmplt_epu16_mask(m, _mm512_sub_epi16(_mm512_maskz_loadu_epi16(m, y), _mm512_set1_epi16(1)),
                                      _mm512_set1_epi16(0x7f80));
}

DML_AVX512 static void rows_bw_sums_512(const uint16_t *x, const uint16_t *y, const uint16_t *dy, int C, size_t r0,
                                        size_t r1, int c0, int c1, int relu, double *s1, double *s2) {
  for (int c = c0; c < c1; c++) s1[c] = s2[c] = 0;
  for (size_t g = r0; g < r1; g += BN_GROUP) {
    const size_t g1 = g + BN_GROUP < r1 ? g + BN_GROUP : r1;
    for (int c = c0; c < c1; c += 64) {
      const __mmask32 m0 = mask32(c1 - c), m1 = mask32(c1 - c - 32);
      __m512d a[8], q[8], d[8], v[8];
      load_sums(a, q, s1 + c, s2 + c, m0);
      load_sums(a + 4, q + 4, s1 + c + 32, s2 + c + 32, m1);
      for (size_t r = g; r < g1; r++) {
        const size_t o = r * C + c;
        const __mmask32 k0 = relu ? keep32(y + o, m0) : m0, k1 = relu ? keep32(y + o + 32, m1) : m1;
        pd4_from_bf16(d, _mm512_maskz_loadu_epi16(k0, dy + o));
        pd4_from_bf16(d + 4, _mm512_maskz_loadu_epi16(k1, dy + o + 32));
        pd4_from_bf16(v, _mm512_maskz_loadu_epi16(m0, x + o));
        pd4_from_bf16(v + 4, _mm512_maskz_loadu_epi16(m1, x + o + 32));
        for (int j = 0; j < 8; j++) {
          a[j] = _mm512_add_pd(a[j], d[j]);
          q[j] = _mm512_fmadd_pd(d[j], v[j], q[j]); /* exact product */
        }
      }
      store_sums(s1 + c, s2 + c, a, q, m0);
      store_sums(s1 + c + 32, s2 + c + 32, a + 4, q + 4, m1);
    }
  }
}

DML_AVX512 static void rows_affine_512(uint16_t *y, const uint16_t *x, int C, size_t r0, size_t r1, const float *sc,
                                       const float *sh, int relu) {
  const __m512 z = _mm512_setzero_ps();
  for (size_t r = r0; r < r1; r++)
    for (int c = 0; c < C; c += 16) {
      const __mmask16 m = dml512_mask16(C - c);
      __m512 v = _mm512_fmadd_ps(dml512_from_bf16(_mm256_maskz_loadu_epi16(m, x + r * C + c)),
                                 _mm512_maskz_loadu_ps(m, sc + c), _mm512_maskz_loadu_ps(m, sh + c));
      if (relu) v = _mm512_max_ps(v, z);
      _mm256_mask_storeu_epi16(y + r * C + c, m, dml512_to_bf16(v));
    }
}

DML_AVX512 static void rows_bw_dx_512(uint16_t *dx, const uint16_t *x, const uint16_t *y, const uint16_t *dy, int C,
                                      size_t r0, size_t r1, const float *a, const float *b, const float *k, int relu,
                                      int ow) {
  for (size_t r = r0; r < r1; r++)
    for (int c = 0; c < C; c += 16) {
      const size_t o = r * C + c;
      const __mmask16 m = dml512_mask16(C - c);
      __mmask16 keep = m;
      if (relu) keep = m & dml512_bf16_pos(_mm256_maskz_loadu_epi16(m, y + o));
      const __m512 d = dml512_from_bf16(_mm256_maskz_loadu_epi16(keep, dy + o));
      const __m512 xv = dml512_from_bf16(_mm256_maskz_loadu_epi16(m, x + o));
      __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + c), d,
                                 _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, b + c), xv, _mm512_maskz_loadu_ps(m, k + c)));
      if (!ow) v = _mm512_add_ps(dml512_from_bf16(_mm256_maskz_loadu_epi16(m, dx + o)), v);
      _mm256_mask_storeu_epi16(dx + o, m, dml512_to_bf16(v));
    }
}
#endif

/* Per-channel sums of the rows, block by block (part[blk][2][C]), then Σ over the blocks in order (s1, s2). */
static void bf16_sums(const uint16_t *x, const uint16_t *y, const uint16_t *dy, int C, size_t R, int bw, int relu,
                      double *s1, double *s2) {
  const long nblk = (long)((R + BN_ROWS - 1) / BN_ROWS), nch = (C + BN_CHUNK - 1) / BN_CHUNK;
  double *part = xmalloc((size_t)nblk * 2 * C * sizeof *part);
  const int simd = dml_cpu_avx512();
  (void)simd; /* no AVX-512 kernels on other architectures */
#pragma omp parallel for collapse(2) schedule(static)
  for (long k = 0; k < nblk; k++)
    for (long j = 0; j < nch; j++) {
      const size_t r0 = (size_t)k * BN_ROWS, r1 = r0 + BN_ROWS < R ? r0 + BN_ROWS : R;
      const int c0 = (int)j * BN_CHUNK, c1 = c0 + BN_CHUNK < C ? c0 + BN_CHUNK : C;
      double *p1 = part + (size_t)k * 2 * C, *p2 = p1 + C;
#if DML_HAVE_AVX512
      if (simd) {
        if (bw)
          rows_bw_sums_512(x, y, dy, C, r0, r1, c0, c1, relu, p1, p2);
        else
          rows_stats_512(x, C, r0, r1, c0, c1, p1, p2);
        continue;
      }
#endif
      if (bw)
        rows_bw_sums_c(x, y, dy, C, r0, r1, c0, c1, relu, p1, p2);
      else
        rows_stats_c(x, C, r0, r1, c0, c1, p1, p2);
    }
  for (int c = 0; c < C; c++) s1[c] = s2[c] = 0;
  for (long k = 0; k < nblk; k++)
    for (int c = 0; c < C; c++) {
      s1[c] += part[(size_t)k * 2 * C + c];
      s2[c] += part[(size_t)k * 2 * C + C + c];
    }
  free(part);
}

static void bn_fwd_bf16(uint16_t *y, float *mean, float *invstd, float *running_mean, float *running_var,
                        const uint16_t *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                        float momentum, int training, int relu) {
  const size_t R = (size_t)B * HW;
  float *sc = xmalloc(2 * (size_t)C * sizeof *sc), *sh = sc + C;
  if (training) {
    const double N = (double)R;
    double *s1 = xmalloc(2 * (size_t)C * sizeof *s1), *s2 = s1 + C;
    bf16_sums(x, NULL, NULL, C, R, 0, 0, s1, s2);
    for (int c = 0; c < C; c++) {
      double m = s1[c] / N, var = s2[c] / N - m * m;
      var = var > 0 ? var : 0;
      if (running_mean) running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * m);
      if (running_var) running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * (N > 1 ? var * N / (N - 1) : var));
      mean[c] = (float)m;
      invstd[c] = (float)(1.0 / sqrt(var + eps));
    }
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
  const long nt = (long)((R + BN_EROWS - 1) / BN_EROWS);
  const int simd = dml_cpu_avx512();
  (void)simd; /* no AVX-512 kernels on other architectures */
#pragma omp parallel for schedule(static)
  for (long t = 0; t < nt; t++) {
    const size_t r0 = (size_t)t * BN_EROWS, r1 = r0 + BN_EROWS < R ? r0 + BN_EROWS : R;
#if DML_HAVE_AVX512
    if (simd) {
      rows_affine_512(y, x, C, r0, r1, sc, sh, relu);
      continue;
    }
#endif
    rows_affine_c(y, x, C, r0, r1, sc, sh, relu);
  }
  free(sc);
}

static void bn_bwd_bf16(uint16_t *dx, float *dgamma, float *dbeta, const uint16_t *dy, const uint16_t *x,
                        const uint16_t *y, const float *mean, const float *invstd, const float *gamma, int B, int C,
                        int HW, int training, int relu, int dx_overwrite) {
  const size_t R = (size_t)B * HW;
  const double N = (double)R;
  if (!relu) y = NULL;
  double *s1 = xmalloc(2 * (size_t)C * sizeof *s1), *s2 = s1 + C;
  bf16_sums(x, y, dy, C, R, 1, relu, s1, s2);
  float *a = xmalloc(3 * (size_t)C * sizeof *a), *b = a + C, *k = b + C;
  for (int c = 0; c < C; c++)
    bw_coef(s1[c], s2[c], mean[c], invstd[c], gamma[c], N, training, dgamma + c, dbeta + c, a + c, b + c, k + c);
  if (dx) {
    const long nt = (long)((R + BN_EROWS - 1) / BN_EROWS);
    const int simd = dml_cpu_avx512();
    (void)simd; /* no AVX-512 kernels on other architectures */
#pragma omp parallel for schedule(static)
    for (long t = 0; t < nt; t++) {
      const size_t r0 = (size_t)t * BN_EROWS, r1 = r0 + BN_EROWS < R ? r0 + BN_EROWS : R;
#if DML_HAVE_AVX512
      if (simd) {
        rows_bw_dx_512(dx, x, y, dy, C, r0, r1, a, b, k, relu, dx_overwrite);
        continue;
      }
#endif
      rows_bw_dx_c(dx, x, y, dy, C, r0, r1, a, b, k, relu, dx_overwrite);
    }
  }
  free(a);
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
