/* activation (CPU) — ReLU, the (optionally ReLU-fused) elementwise add, the mask product of dropout, channel
 * concatenation, the activation format conversion and bf16 rounding, forward/backward, plain C with OpenMP static
 * schedules (elementwise: no reduction, thread-count independent). bf16 values are computed in float32 and
 * rounded once per output (kernels/ops.h). The add and the RGB input conversion have AVX-512 twins (cpu.h) giving
 * the same bits; dml_cpu_avx512() chooses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

#if DML_HAVE_AVX512
int dml_cpu_avx512(void) {
  const char *e = getenv("DML_CPU_SIMD");
  if (e && *e && strcmp(e, "auto") && strcmp(e, "portable")) {
    fprintf(stderr, "DML_CPU_SIMD=%s: expected auto or portable\n", e);
    exit(2);
  }
  if (e && !strcmp(e, "portable")) return 0;
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#endif

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

DML_CPU_CLONES static void add_f32(float *restrict y, const float *a, const float *b, size_t i0, size_t i1, int relu) {
  for (size_t i = i0; i < i1; i++) {
    float v = a[i] + b[i];
    y[i] = relu && !(v > 0) ? 0 : v;
  }
}

DML_CPU_CLONES static void add_bf16(uint16_t *restrict y, const uint16_t *a, const uint16_t *b, size_t i0, size_t i1,
                                    int relu) {
  for (size_t i = i0; i < i1; i++) {
    float v = dml_bf16_to_f32(a[i]) + dml_bf16_to_f32(b[i]);
    y[i] = dml_bf16_from_f32(relu && !(v > 0) ? 0 : v);
  }
}

#if DML_HAVE_AVX512
/* the AVX-512 twins of the add's forward and backward (one pass, no tile): the same values, bitwise */
DML_AVX512 static void add_f32_512(float *y, const float *a, const float *b, size_t i0, size_t i1, int relu) {
  for (size_t i = i0; i < i1; i += 16) {
    const __mmask16 m = dml512_mask16(i1 - i < 16 ? (int)(i1 - i) : 16);
    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    if (relu) v = _mm512_max_ps(v, _mm512_setzero_ps()); /* v > 0 ? v : 0, a NaN to 0 */
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}
DML_AVX512 static void add_bf16_512(uint16_t *y, const uint16_t *a, const uint16_t *b, size_t i0, size_t i1,
                                    int relu) {
  for (size_t i = i0; i < i1; i += 16) {
    const __mmask16 m = dml512_mask16(i1 - i < 16 ? (int)(i1 - i) : 16);
    __m512 v = _mm512_add_ps(dml512_from_bf16(_mm256_maskz_loadu_epi16(m, a + i)),
                             dml512_from_bf16(_mm256_maskz_loadu_epi16(m, b + i)));
    if (relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    _mm256_mask_storeu_epi16(y + i, m, dml512_to_bf16(v));
  }
}
DML_AVX512 static void add_bw_f32_512(float *da, float *db, const float *dy, const float *y, size_t i0, size_t i1,
                                      int relu, int ow) {
  for (size_t i = i0; i < i1; i += 16) {
    const __mmask16 m = dml512_mask16(i1 - i < 16 ? (int)(i1 - i) : 16);
    __mmask16 keep = m;
    if (relu) keep = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, y + i), _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 g = _mm512_maskz_loadu_ps(keep, dy + i);
    if (da) _mm512_mask_storeu_ps(da + i, m, (ow & 1) ? g : _mm512_add_ps(_mm512_maskz_loadu_ps(m, da + i), g));
    if (db) _mm512_mask_storeu_ps(db + i, m, (ow & 2) ? g : _mm512_add_ps(_mm512_maskz_loadu_ps(m, db + i), g));
  }
}
DML_AVX512 static void add_bw_bf16_512(uint16_t *da, uint16_t *db, const uint16_t *dy, const uint16_t *y, size_t i0,
                                       size_t i1, int relu, int ow) {
  for (size_t i = i0; i < i1; i += 16) {
    const __mmask16 m = dml512_mask16(i1 - i < 16 ? (int)(i1 - i) : 16);
    __mmask16 keep = m;
    if (relu) keep = m & dml512_bf16_pos(_mm256_maskz_loadu_epi16(m, y + i));
    const __m256i gb = _mm256_maskz_loadu_epi16(keep, dy + i);
    const __m512 g = dml512_from_bf16(gb);
    if (da)
      _mm256_mask_storeu_epi16(da + i, m, (ow & 1) ? gb : dml512_to_bf16(_mm512_add_ps(
                                                               dml512_from_bf16(_mm256_maskz_loadu_epi16(m, da + i)), g)));
    if (db)
      _mm256_mask_storeu_epi16(db + i, m, (ow & 2) ? gb : dml512_to_bf16(_mm512_add_ps(
                                                               dml512_from_bf16(_mm256_maskz_loadu_epi16(m, db + i)), g)));
  }
}
#endif

void dml_cpu_add_forward(void *ctx, void *y, const void *a, const void *b, size_t n, int relu, int prec) {
  (void)ctx;
  const size_t chunk = 16384;
  const long nch = (long)((n + chunk - 1) / chunk);
  const int simd = dml_cpu_avx512();
  (void)simd;
#pragma omp parallel for schedule(static) if (nch > 2)
  for (long c = 0; c < nch; c++) {
    size_t i0 = (size_t)c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
#if DML_HAVE_AVX512
    if (simd) {
      if (prec == DML_BF16)
        add_bf16_512(y, a, b, i0, i1, relu);
      else
        add_f32_512(y, a, b, i0, i1, relu);
      continue;
    }
#endif
    if (prec == DML_BF16)
      add_bf16(y, a, b, i0, i1, relu);
    else
      add_f32(y, a, b, i0, i1, relu);
  }
}

/* The add's backward, one pass over a chunk: the (masked) gradient g is formed once per tile of ADD_TILE elements
 * in a small buffer and written (`=`, a plain copy) or added into da and db by loops without branches. */
#define ADD_TILE 512

DML_CPU_CLONES static void tile_mask_f32(float *restrict g, const float *restrict dy, const float *restrict y,
                                         size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float d = dy[i]; /* loaded unconditionally: a select, not a branch */
    g[i] = y[i] > 0 ? d : 0.0f;
  }
}
DML_CPU_CLONES static void acc_f32(float *restrict d, const float *restrict g, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] += g[i];
}
DML_CPU_CLONES static void tile_mask_bf16(uint16_t *restrict g, const uint16_t *restrict dy, const uint16_t *restrict y,
                                          size_t n) {
  for (size_t i = 0; i < n; i++) g[i] = dml_bf16_relu_keep(y[i], dy[i]);
}
DML_CPU_CLONES static void acc_bf16(uint16_t *restrict d, const uint16_t *restrict g, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = dml_bf16_from_f32(dml_bf16_to_f32(d[i]) + dml_bf16_to_f32(g[i]));
}

static void add_bw_range(float *da, float *db, const float *dy, const float *y, size_t i0, size_t i1, int relu,
                         int ow) {
  float tile[ADD_TILE];
  for (size_t t = i0; t < i1; t += ADD_TILE) {
    const size_t n = i1 - t < ADD_TILE ? i1 - t : ADD_TILE;
    const float *g = dy + t;
    if (relu) {
      tile_mask_f32(tile, dy + t, y + t, n);
      g = tile;
    }
    if (da && (ow & 1)) memcpy(da + t, g, n * sizeof *g);
    else if (da) acc_f32(da + t, g, n);
    if (db && (ow & 2)) memcpy(db + t, g, n * sizeof *g);
    else if (db) acc_f32(db + t, g, n);
  }
}

static void add_bw_bf16(uint16_t *da, uint16_t *db, const uint16_t *dy, const uint16_t *y, size_t i0, size_t i1,
                        int relu, int ow) {
  /* `=`: the gradient's bf16 value itself (0 + g rounds to g) */
  uint16_t tile[ADD_TILE];
  for (size_t t = i0; t < i1; t += ADD_TILE) {
    const size_t n = i1 - t < ADD_TILE ? i1 - t : ADD_TILE;
    const uint16_t *g = dy + t;
    if (relu) {
      tile_mask_bf16(tile, dy + t, y + t, n);
      g = tile;
    }
    if (da && (ow & 1)) memcpy(da + t, g, n * sizeof *g);
    else if (da) acc_bf16(da + t, g, n);
    if (db && (ow & 2)) memcpy(db + t, g, n * sizeof *g);
    else if (db) acc_bf16(db + t, g, n);
  }
}

void dml_cpu_add_backward(void *ctx, void *da, void *db, const void *dy, const void *y, size_t n, int relu,
                          int overwrite, int prec) {
  (void)ctx;
  const size_t chunk = 16384;
  const long nch = (long)((n + chunk - 1) / chunk);
  const int simd = dml_cpu_avx512();
  (void)simd;
#pragma omp parallel for schedule(static) if (nch > 2)
  for (long c = 0; c < nch; c++) {
    size_t i0 = (size_t)c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
#if DML_HAVE_AVX512
    if (simd) {
      if (prec == DML_BF16)
        add_bw_bf16_512(da, db, dy, y, i0, i1, relu, overwrite);
      else
        add_bw_f32_512(da, db, dy, y, i0, i1, relu, overwrite);
      continue;
    }
#endif
    if (prec == DML_BF16)
      add_bw_bf16(da, db, dy, y, i0, i1, relu, overwrite);
    else
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

void dml_cpu_concat_forward(void *ctx, void *y, const void *x, int B, int Ctot, int c0, int C, int HW, int prec) {
  (void)ctx;
  if (prec == DML_BF16) { /* NHWC: each (b, hw) row of C channels lands at channel c0 of a row of Ctot */
    const size_t rows = (size_t)B * HW;
    uint16_t *yy = y;
    const uint16_t *xx = x;
#pragma omp parallel for schedule(static) if (rows * C > 32768)
    for (size_t r = 0; r < rows; r++) memcpy(yy + r * Ctot + c0, xx + r * C, (size_t)C * sizeof *yy);
    return;
  }
  float *yy = y;
  const float *xx = x;
  const size_t blk = (size_t)C * HW;
#pragma omp parallel for schedule(static) if (B > 1 && blk > 4096)
  for (int b = 0; b < B; b++) memcpy(yy + ((size_t)b * Ctot + c0) * HW, xx + b * blk, blk * sizeof *yy);
}

void dml_cpu_concat_backward(void *ctx, void *dx, const void *dy, int B, int Ctot, int c0, int C, int HW, int prec) {
  (void)ctx;
  if (prec == DML_BF16) {
    const size_t rows = (size_t)B * HW;
    uint16_t *d = dx;
    const uint16_t *g = dy;
#pragma omp parallel for schedule(static) if (rows * C > 32768)
    for (size_t r = 0; r < rows; r++)
      for (int c = 0; c < C; c++)
        d[r * C + c] = dml_bf16_from_f32(dml_bf16_to_f32(d[r * C + c]) + dml_bf16_to_f32(g[r * Ctot + c0 + c]));
    return;
  }
  const size_t blk = (size_t)C * HW;
#pragma omp parallel for schedule(static) if (B > 1 && blk > 4096)
  for (int b = 0; b < B; b++) {
    const float *src = (const float *)dy + ((size_t)b * Ctot + c0) * HW;
    float *dst = (float *)dx + b * blk;
    for (size_t i = 0; i < blk; i++) dst[i] += src[i];
  }
}

#if DML_HAVE_AVX512
/* float32 NCHW → bf16 NHWC for C = 3 (the network's input): 16 pixels of each plane rounded (dml512_to_bf16, the
 * same bits as dml_bf16_from_f32) and interleaved into 48 values by one two-source permutation */
DML_AVX512 static void rgb_to_bf16_512(uint16_t *y, const float *x, int HW) {
  __m512i i0, i1;
  {
    uint16_t a[64];
    for (int k = 0; k < 48; k++) a[k] = (uint16_t)(k % 3 == 2 ? 32 + k / 3 : 16 * (k % 3) + k / 3);
    for (int k = 48; k < 64; k++) a[k] = 0;
    i0 = _mm512_loadu_si512(a);
    i1 = _mm512_loadu_si512(a + 32);
  }
  for (int p = 0; p < HW; p += 16) {
    const int n = HW - p < 16 ? HW - p : 16;
    const __mmask16 m = dml512_mask16(n);
    const __m256i r = dml512_to_bf16(_mm512_maskz_loadu_ps(m, x + p)),
                  g = dml512_to_bf16(_mm512_maskz_loadu_ps(m, x + HW + p)),
                  b = dml512_to_bf16(_mm512_maskz_loadu_ps(m, x + 2 * HW + p));
    const __m512i rg = _mm512_inserti64x4(_mm512_castsi256_si512(r), g, 1), bb = _mm512_castsi256_si512(b);
    const __m512i o0 = _mm512_permutex2var_epi16(rg, i0, bb), o1 = _mm512_permutex2var_epi16(rg, i1, bb);
    const int t = 3 * n; /* values of this group */
    _mm512_mask_storeu_epi16(y + 3 * p, (__mmask32)(t >= 32 ? 0xffffffffu : (1u << t) - 1u), o0);
    if (t > 32) _mm256_mask_storeu_epi16(y + 3 * p + 32, (__mmask16)((1u << (t - 32)) - 1u), _mm512_castsi512_si256(o1));
  }
}
#endif

void dml_cpu_act_convert(void *ctx, void *y, int yprec, const void *x, int xprec, int B, int C, int HW) {
  (void)ctx;
  const size_t n = (size_t)B * C * HW;
#if DML_HAVE_AVX512
  if (yprec == DML_BF16 && xprec == DML_FP32 && C == 3 && dml_cpu_avx512()) {
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int b = 0; b < B; b++) rgb_to_bf16_512((uint16_t *)y + (size_t)b * HW * 3, (const float *)x + (size_t)b * 3 * HW, HW);
    return;
  }
#endif
  if (yprec == xprec) {
    memcpy(y, x, n * dml_prec_size(xprec));
  } else if (yprec == DML_BF16) { /* float32 NCHW → bf16 NHWC */
    const float *xx = x;
    uint16_t *yy = y;
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int b = 0; b < B; b++)
      for (int hw = 0; hw < HW; hw++)
        for (int c = 0; c < C; c++)
          yy[((size_t)b * HW + hw) * C + c] = dml_bf16_from_f32(xx[((size_t)b * C + c) * HW + hw]);
  } else { /* bf16 NHWC → float32 NCHW */
    const uint16_t *xx = x;
    float *yy = y;
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int b = 0; b < B; b++)
      for (int c = 0; c < C; c++)
        for (int hw = 0; hw < HW; hw++)
          yy[((size_t)b * C + c) * HW + hw] = dml_bf16_to_f32(xx[((size_t)b * HW + hw) * C + c]);
  }
}

void dml_cpu_round_bf16(void *ctx, float *y, const float *x, size_t n) {
  (void)ctx;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) y[i] = dml_bf16_round(x[i]);
}
