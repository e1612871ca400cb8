/* pool (CPU) — max / average pooling over windows and global pooling, plain C with OpenMP over (b, c) planes.
 * Max pooling ignores padded positions (torch pads with −inf) and keeps the first maximum in row-major window
 * order; its argmax (index into the input plane) is saved for the backward. Average pooling divides by KH·KW
 * (count_include_pad=True, ceil_mode=False: every window lies inside the padded input). Every output element
 * is owned by one thread and every input gradient plane by one thread: results do not depend on thread count.
 * bf16 (NHWC): the same windows over rows of C channels; max keeps a bf16 value exactly, averages are summed in
 * float32 in window order and rounded once; the backward accumulates an image's gradient in a float32 plane
 * (one thread per image) and rounds each element once — the max pool's AVX-512 backward gathers the same sums
 * per input row instead (one thread per row). Max pooling has AVX-512 twins (cpu.h) giving the same bits. */
#include <float.h>
#include <math.h>

#include <stdlib.h>

#include "common/error.h"
#include "kernels/cpu/cpu.h"

/* max over one window [ha, hb) × [wa, wb) of a plane: the first position in row-major order, then a strict >
 * (ties keep the first maximum; a NaN never replaces a number); an empty window gives −inf at index −1 */
static inline void win_max(const float *xp, int W, int ha, int hb, int wa, int wb, float *y, int32_t *idx) {
  float m = -INFINITY;
  int32_t am = -1;
  for (int h = ha; h < hb; h++)
    for (int w = wa; w < wb; w++) {
      float v = xp[h * W + w];
      if (v > m || am < 0) {
        m = v;
        am = h * W + w;
      }
    }
  *y = m;
  *idx = am;
}

/* max, the outputs [owa, owb) of output row oh whose windows lie inside the input in w (rows [ha, hb), ha < hb):
 * the same scan as win_max, a window position at a time over the whole row of outputs */
DML_CPU_CLONES static void max_row_c(float *restrict ym, int32_t *restrict im, const float *restrict xp,
                                     const struct dml_conv_shape *s, int ha, int hb, int owa, int owb) {
  const int W = s->W, SW = s->SW, KW = s->KW, PW = s->PW;
  for (int ow = owa; ow < owb; ow++) {
    const int p = ha * W + ow * SW - PW;
    ym[ow] = xp[p];
    im[ow] = p;
  }
  for (int h = ha; h < hb; h++)
    for (int kw = h == ha; kw < KW; kw++) {
      const int base = h * W - PW + kw;
      for (int ow = owa; ow < owb; ow++) {
        const float v = xp[base + ow * SW], cur = ym[ow];
        const int gt = v > cur;
        ym[ow] = gt ? v : cur;
        im[ow] = gt ? base + ow * SW : im[ow];
      }
    }
}

#if DML_HAVE_AVX512
DML_AVX512 static void max_row_512(float *ym, int32_t *im, const float *xp, const struct dml_conv_shape *s, int ha,
                                   int hb, int owa, int owb) {
  const int W = s->W, SW = s->SW, KW = s->KW, PW = s->PW;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int ow = owa; ow < owb; ow += 16) {
    const __mmask16 m = dml512_mask16(owb - ow);
    const __m512i off = _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(ow), lane), _mm512_set1_epi32(SW));
    __m512i bi = _mm512_add_epi32(off, _mm512_set1_epi32(ha * W - PW));
    __m512 best = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, bi, xp, 4);
    for (int h = ha; h < hb; h++)
      for (int kw = h == ha; kw < KW; kw++) {
        const __m512i p = _mm512_add_epi32(off, _mm512_set1_epi32(h * W - PW + kw));
        const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, p, xp, 4);
        const __mmask16 gt = _mm512_mask_cmp_ps_mask(m, v, best, _CMP_GT_OQ);
        best = _mm512_mask_mov_ps(best, gt, v);
        bi = _mm512_mask_mov_epi32(bi, gt, p);
      }
    _mm512_mask_storeu_ps(ym + ow, m, best);
    _mm512_mask_storeu_epi32(im + ow, m, bi);
  }
}
#endif

/* one (b, c) plane; window bounds clipped once per output, no per-element bounds test */
DML_CPU_CLONES static void pool_plane(float *restrict yp, int32_t *restrict ip, const float *restrict xp,
                                      const struct dml_conv_shape *s, int kind, int simd) {
  const int H = s->H, W = s->W, OH = s->OH, OW = s->OW;
  /* outputs whose window lies inside the input in w */
  int owa = (s->PW + s->SW - 1) / s->SW, owb = (W - s->KW + s->PW) / s->SW + 1;
  owb = owb < OW ? owb : OW;
  owa = owa < owb ? owa : owb;
  (void)simd;
  for (int oh = 0; oh < OH; oh++) {
    int h0 = oh * s->SH - s->PH, ha = h0 < 0 ? 0 : h0, hb = h0 + s->KH > H ? H : h0 + s->KH;
    /* torch's divisor: the window clipped to the padded input (count_include_pad) */
    int hp = (h0 + s->KH < H + s->PH ? h0 + s->KH : H + s->PH) - h0;
    if (kind == DML_POOL_MAX) {
      const int a = ha < hb ? owa : OW, b = ha < hb ? owb : OW;
      for (int ow = 0; ow < OW; ow++) {
        if (ow == a && a < b) ow = b;
        if (ow >= OW) break;
        int w0 = ow * s->SW - s->PW, wa = w0 < 0 ? 0 : w0, wb = w0 + s->KW > W ? W : w0 + s->KW;
        win_max(xp, W, ha, hb, wa, wb, yp + oh * OW + ow, ip + oh * OW + ow);
      }
      if (a < b) {
#if DML_HAVE_AVX512
        if (simd)
          max_row_512(yp + oh * OW, ip + oh * OW, xp, s, ha, hb, a, b);
        else
#endif
          max_row_c(yp + oh * OW, ip + oh * OW, xp, s, ha, hb, a, b);
      }
      continue;
    }
    for (int ow = 0; ow < OW; ow++) {
      int w0 = ow * s->SW - s->PW, wa = w0 < 0 ? 0 : w0, wb = w0 + s->KW > W ? W : w0 + s->KW;
      int wp = (w0 + s->KW < W + s->PW ? w0 + s->KW : W + s->PW) - w0;
      double acc = 0;
      for (int h = ha; h < hb; h++)
        for (int w = wa; w < wb; w++) acc += xp[h * W + w];
      yp[oh * OW + ow] = (float)(acc / (hp * wp));
    }
  }
}

static void pool_fwd_bf16(uint16_t *y, int32_t *idx, const uint16_t *x, const struct dml_conv_shape *s, int kind);
static void pool_bwd_bf16(uint16_t *dx, const uint16_t *dy, const int32_t *idx, const struct dml_conv_shape *s, int kind);

void dml_cpu_pool2d_forward(void *ctx, void *yv, int32_t *idx, const void *xv, const struct dml_conv_shape *s, int kind) {
  (void)ctx;
  if (s->prec == DML_BF16) {
    pool_fwd_bf16(yv, idx, xv, s, kind);
    return;
  }
  float *y = yv;
  const float *x = xv;
  const int planes = s->B * s->C;
  const size_t in_plane = (size_t)s->H * s->W, out_plane = (size_t)s->OH * s->OW;
  const int simd = dml_cpu_avx512();
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; p++)
    pool_plane(y + p * out_plane, idx ? idx + p * out_plane : NULL, x + p * in_plane, s, kind, simd);
}

void dml_cpu_pool2d_backward(void *ctx, void *dxv, const void *dyv, const int32_t *idx, const struct dml_conv_shape *s,
                             int kind) {
  (void)ctx;
  if (s->prec == DML_BF16) {
    pool_bwd_bf16(dxv, dyv, idx, s, kind);
    return;
  }
  float *dx = dxv;
  const float *dy = dyv;
  const int planes = s->B * s->C, H = s->H, W = s->W, OH = s->OH, OW = s->OW;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; p++) {
    float *dxp = dx + (size_t)p * H * W;
    const float *dyp = dy + (size_t)p * OH * OW;
    if (kind == DML_POOL_MAX) {
      const int32_t *ip = idx + (size_t)p * OH * OW;
      for (int o = 0; o < OH * OW; o++)
        if (ip[o] >= 0) dxp[ip[o]] += dyp[o];
    } else {
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          int h0 = oh * s->SH - s->PH, w0 = ow * s->SW - s->PW;
          int hp = (h0 + s->KH < H + s->PH ? h0 + s->KH : H + s->PH) - h0;
          int wp = (w0 + s->KW < W + s->PW ? w0 + s->KW : W + s->PW) - w0;
          float g = dyp[oh * OW + ow] / (float)(hp * wp);
          for (int kh = 0; kh < s->KH; kh++) {
            int h = h0 + kh;
            if (h < 0 || h >= H) continue;
            for (int kw = 0; kw < s->KW; kw++) {
              int w = w0 + kw;
              if (w >= 0 && w < W) dxp[h * W + w] += g;
            }
          }
        }
    }
  }
}

static void gpool_fwd_bf16(float *y, int32_t *idx, const uint16_t *x, int B, int C, int HW, int kind);
static void gpool_bwd_bf16(uint16_t *dx, const float *dy, const int32_t *idx, int B, int C, int HW, int kind);

void dml_cpu_global_pool_forward(void *ctx, float *y, int32_t *idx, const void *xv, int B, int C, int HW, int kind,
                                 int prec) {
  (void)ctx;
  if (prec == DML_BF16) {
    gpool_fwd_bf16(y, idx, xv, B, C, HW, kind);
    return;
  }
  const float *x = xv;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < B * C; p++) {
    const float *xp = x + (size_t)p * HW;
    if (kind == DML_POOL_MAX) {
      float m = xp[0];
      int32_t am = 0;
      for (int i = 1; i < HW; i++)
        if (xp[i] > m) {
          m = xp[i];
          am = i;
        }
      y[p] = m;
      idx[p] = am;
    } else {
      double acc = 0;
      for (int i = 0; i < HW; i++) acc += xp[i];
      y[p] = (float)(acc / HW);
    }
  }
}

void dml_cpu_global_pool_backward(void *ctx, void *dxv, const float *dy, const int32_t *idx, int B, int C, int HW,
                                  int kind, int prec) {
  (void)ctx;
  if (prec == DML_BF16) {
    gpool_bwd_bf16(dxv, dy, idx, B, C, HW, kind);
    return;
  }
  float *dx = dxv;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < B * C; p++) {
    float *dxp = dx + (size_t)p * HW;
    if (kind == DML_POOL_MAX) {
      dxp[idx[p]] += dy[p];
    } else {
      float g = dy[p] / (float)HW;
      for (int i = 0; i < HW; i++) dxp[i] += g;
    }
  }
}

// ---------------------------------------------------------------------------------------------- bf16, NHWC

/* one output row of C channels, max: the window's first position, then a strict > (ties keep the first maximum;
 * a NaN never replaces a number, as the float32 path) */
DML_CPU_CLONES static void win_max_bf16(uint16_t *restrict y, int32_t *restrict idx, float *restrict acc,
                                        const uint16_t *restrict x, int C, int W, int ha, int hb, int wa, int wb) {
  const uint16_t *x0 = x + ((size_t)ha * W + wa) * C;
  for (int c = 0; c < C; c++) acc[c] = dml_bf16_to_f32(x0[c]), idx[c] = ha * W + wa;
  for (int h = ha; h < hb; h++)
    for (int w = h == ha ? wa + 1 : wa; w < wb; w++) {
      const uint16_t *xr = x + ((size_t)h * W + w) * C;
      const int32_t pos = h * W + w;
      for (int c = 0; c < C; c++) {
        float v = dml_bf16_to_f32(xr[c]);
        int gt = v > acc[c];
        acc[c] = gt ? v : acc[c];
        idx[c] = gt ? pos : idx[c];
      }
    }
  for (int c = 0; c < C; c++) y[c] = dml_bf16_from_f32(acc[c]);
}

#if DML_HAVE_AVX512
DML_AVX512 static void win_max_bf16_512(uint16_t *y, int32_t *idx, const uint16_t *x, int C, int W, int ha, int hb,
                                        int wa, int wb) {
  for (int c = 0; c < C; c += 16) {
    const __mmask16 m = dml512_mask16(C - c);
    __m512 best = dml512_from_bf16(_mm256_maskz_loadu_epi16(m, x + ((size_t)ha * W + wa) * C + c));
    __m512i bi = _mm512_set1_epi32(ha * W + wa);
    for (int h = ha; h < hb; h++)
      for (int w = h == ha ? wa + 1 : wa; w < wb; w++) {
        const __m512 v = dml512_from_bf16(_mm256_maskz_loadu_epi16(m, x + ((size_t)h * W + w) * C + c));
        const __mmask16 gt = _mm512_mask_cmp_ps_mask(m, v, best, _CMP_GT_OQ);
        best = _mm512_mask_mov_ps(best, gt, v);
        bi = _mm512_mask_mov_epi32(bi, gt, _mm512_set1_epi32(h * W + w));
      }
    _mm256_mask_storeu_epi16(y + c, m, dml512_to_bf16(best));
    _mm512_mask_storeu_epi32(idx + c, m, bi);
  }
}
#endif

DML_CPU_CLONES static void win_avg_bf16(uint16_t *restrict y, float *restrict acc, const uint16_t *restrict x, int C,
                                        int W, int ha, int hb, int wa, int wb, float inv) {
  for (int c = 0; c < C; c++) acc[c] = 0.0f;
  for (int h = ha; h < hb; h++)
    for (int w = wa; w < wb; w++) {
      const uint16_t *xr = x + ((size_t)h * W + w) * C;
      for (int c = 0; c < C; c++) acc[c] += dml_bf16_to_f32(xr[c]);
    }
  for (int c = 0; c < C; c++) y[c] = dml_bf16_from_f32(acc[c] * inv);
}

static void pool_fwd_bf16(uint16_t *y, int32_t *idx, const uint16_t *x, const struct dml_conv_shape *s, int kind) {
  const int H = s->H, W = s->W, C = s->C, OH = s->OH, OW = s->OW;
  const int simd = dml_cpu_avx512();
  (void)simd;
#pragma omp parallel
  {
    float *acc = xmalloc((size_t)C * sizeof *acc);
#pragma omp for schedule(static)
    for (int bo = 0; bo < s->B * OH; bo++) {
      const int b = bo / OH, oh = bo % OH;
      int h0 = oh * s->SH - s->PH, ha = h0 < 0 ? 0 : h0, hb = h0 + s->KH > H ? H : h0 + s->KH;
      int hp = (h0 + s->KH < H + s->PH ? h0 + s->KH : H + s->PH) - h0;
      const uint16_t *xb = x + (size_t)b * H * W * C;
      for (int ow = 0; ow < OW; ow++) {
        int w0 = ow * s->SW - s->PW, wa = w0 < 0 ? 0 : w0, wb = w0 + s->KW > W ? W : w0 + s->KW;
        int wp = (w0 + s->KW < W + s->PW ? w0 + s->KW : W + s->PW) - w0;
        const size_t o = (((size_t)b * OH + oh) * OW + ow) * C;
        if (kind == DML_POOL_MAX) {
#if DML_HAVE_AVX512
          if (simd) {
            win_max_bf16_512(y + o, idx + o, xb, C, W, ha, hb, wa, wb);
            continue;
          }
#endif
          win_max_bf16(y + o, idx + o, acc, xb, C, W, ha, hb, wa, wb);
        } else
          win_avg_bf16(y + o, acc, xb, C, W, ha, hb, wa, wb, 1.0f / (float)(hp * wp));
      }
    }
    free(acc);
  }
}

/* float32 plane g ⇄ bf16 plane d (n values; portable C and AVX-512 twins) and the max pool's scatter of one output
 * row of C channels: g[idx[c]·C + c] += dy[c] (idx −1: an empty window, nothing) */
DML_CPU_CLONES static void widen_c(float *restrict g, const uint16_t *restrict d, size_t n) {
  for (size_t i = 0; i < n; i++) g[i] = dml_bf16_to_f32(d[i]);
}
DML_CPU_CLONES static void narrow_c(uint16_t *restrict d, const float *restrict g, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = dml_bf16_from_f32(g[i]);
}
DML_CPU_CLONES static void scatter_row_c(float *restrict g, const int32_t *restrict ir, const uint16_t *restrict dr,
                                         int C) {
  for (int c = 0; c < C; c++)
    if (ir[c] >= 0) g[(size_t)ir[c] * C + c] += dml_bf16_to_f32(dr[c]);
}
#if DML_HAVE_AVX512
DML_AVX512 static void widen_512(float *g, const uint16_t *d, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = dml512_mask16(n - i < 16 ? (int)(n - i) : 16);
    _mm512_mask_storeu_ps(g + i, m, dml512_from_bf16(_mm256_maskz_loadu_epi16(m, d + i)));
  }
}
DML_AVX512 static void narrow_512(uint16_t *d, const float *g, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = dml512_mask16(n - i < 16 ? (int)(n - i) : 16);
    _mm256_mask_storeu_epi16(d + i, m, dml512_to_bf16(_mm512_maskz_loadu_ps(m, g + i)));
  }
}
#endif

/* the outputs whose window covers input coordinate h along one axis: o·S − P ≤ h < o·S − P + K, 0 ≤ o < O */
static inline void cover(int h, int K, int S, int P, int O, int *lo, int *hi) {
  const int a = h + P - K + 1, b = (h + P) / S;
  *lo = a <= 0 ? 0 : (a + S - 1) / S;
  *hi = b < O - 1 ? b : O - 1;
}

#if DML_HAVE_AVX512
/* max pool backward, bf16, one input row h of one image, gathered instead of scattered: each input value, widened
 * once, gets the dy of every covering window whose argmax it is, in increasing output order — the order of
 * pool_bwd_bf16's scatter, so the same float sums — and is rounded once; no float32 plane, no scatter */
DML_AVX512 static void max_bwd_row_512(uint16_t *dxr, const uint16_t *dyb, const int32_t *ib,
                                       const struct dml_conv_shape *s, int h) {
  const int W = s->W, C = s->C, OW = s->OW;
  int ohl, ohh;
  cover(h, s->KH, s->SH, s->PH, s->OH, &ohl, &ohh);
  for (int w = 0; w < W; w++) {
    int owl, owh;
    cover(w, s->KW, s->SW, s->PW, OW, &owl, &owh);
    const __m512i pos = _mm512_set1_epi32(h * W + w);
    for (int c = 0; c < C; c += 16) {
      const __mmask16 m = dml512_mask16(C - c);
      uint16_t *p = dxr + (size_t)w * C + c;
      __m512 acc = dml512_from_bf16(_mm256_maskz_loadu_epi16(m, p));
      for (int oh = ohl; oh <= ohh; oh++)
        for (int ow = owl; ow <= owh; ow++) {
          const size_t o = ((size_t)oh * OW + ow) * C + c;
          const __mmask16 k = _mm512_mask_cmpeq_epi32_mask(m, _mm512_maskz_loadu_epi32(m, ib + o), pos);
          acc = _mm512_mask_add_ps(acc, k, acc, dml512_from_bf16(_mm256_maskz_loadu_epi16(k, dyb + o)));
        }
      _mm256_mask_storeu_epi16(p, m, dml512_to_bf16(acc));
    }
  }
}
#endif

static void pool_bwd_bf16(uint16_t *dx, const uint16_t *dy, const int32_t *idx, const struct dml_conv_shape *s, int kind) {
  const int H = s->H, W = s->W, C = s->C, OH = s->OH, OW = s->OW;
  const size_t plane = (size_t)H * W * C, oplane = (size_t)OH * OW * C;
  const int simd = dml_cpu_avx512();
  (void)simd;
#if DML_HAVE_AVX512
  if (simd && kind == DML_POOL_MAX) {
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s->B * H; bh++) {
      const int b = bh / H, h = bh % H;
      max_bwd_row_512(dx + (size_t)b * plane + (size_t)h * W * C, dy + (size_t)b * oplane, idx + (size_t)b * oplane,
                      s, h);
    }
    return;
  }
#endif
#pragma omp parallel
  {
    float *g = xmalloc(plane * sizeof *g);
#pragma omp for schedule(static)
    for (int b = 0; b < s->B; b++) {
      uint16_t *dxb = dx + (size_t)b * plane;
      const uint16_t *dyb = dy + (size_t)b * oplane;
#if DML_HAVE_AVX512
      if (simd)
        widen_512(g, dxb, plane);
      else
#endif
        widen_c(g, dxb, plane);
      if (kind == DML_POOL_MAX) {
        const int32_t *ib = idx + (size_t)b * oplane;
        for (size_t o = 0; o < oplane; o += C) scatter_row_c(g, ib + o, dyb + o, C);
      } else {
        for (int oh = 0; oh < OH; oh++)
          for (int ow = 0; ow < OW; ow++) {
            int h0 = oh * s->SH - s->PH, w0 = ow * s->SW - s->PW;
            int hp = (h0 + s->KH < H + s->PH ? h0 + s->KH : H + s->PH) - h0;
            int wp = (w0 + s->KW < W + s->PW ? w0 + s->KW : W + s->PW) - w0;
            const uint16_t *dr = dyb + ((size_t)oh * OW + ow) * C;
            const float inv = 1.0f / (float)(hp * wp);
            for (int kh = 0; kh < s->KH; kh++) {
              int h = h0 + kh;
              if (h < 0 || h >= H) continue;
              for (int kw = 0; kw < s->KW; kw++) {
                int w = w0 + kw;
                if (w < 0 || w >= W) continue;
                float *gr = g + ((size_t)h * W + w) * C;
#pragma omp simd
                for (int c = 0; c < C; c++) gr[c] += dml_bf16_to_f32(dr[c]) * inv;
              }
            }
          }
      }
#if DML_HAVE_AVX512
      if (simd)
        narrow_512(dxb, g, plane);
      else
#endif
        narrow_c(dxb, g, plane);
    }
    free(g);
  }
}

static void gpool_fwd_bf16(float *y, int32_t *idx, const uint16_t *x, int B, int C, int HW, int kind) {
#pragma omp parallel
  {
    double *acc = xmalloc((size_t)C * sizeof *acc);
#pragma omp for schedule(static)
    for (int b = 0; b < B; b++) {
      const uint16_t *xb = x + (size_t)b * HW * C;
      float *yb = y + (size_t)b * C;
      if (kind == DML_POOL_MAX) {
        int32_t *ib = idx + (size_t)b * C;
        for (int c = 0; c < C; c++) yb[c] = dml_bf16_to_f32(xb[c]), ib[c] = 0;
        for (int i = 1; i < HW; i++)
          for (int c = 0; c < C; c++) {
            float v = dml_bf16_to_f32(xb[(size_t)i * C + c]);
            if (v > yb[c]) yb[c] = v, ib[c] = i;
          }
      } else {
        for (int c = 0; c < C; c++) acc[c] = 0;
        for (int i = 0; i < HW; i++) {
          const uint16_t *xr = xb + (size_t)i * C;
#pragma omp simd
          for (int c = 0; c < C; c++) acc[c] += dml_bf16_to_f32(xr[c]);
        }
        for (int c = 0; c < C; c++) yb[c] = (float)(acc[c] / HW);
      }
    }
    free(acc);
  }
}

static void gpool_bwd_bf16(uint16_t *dx, const float *dy, const int32_t *idx, int B, int C, int HW, int kind) {
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++) {
    uint16_t *dxb = dx + (size_t)b * HW * C;
    const float *dyb = dy + (size_t)b * C;
    if (kind == DML_POOL_MAX) {
      const int32_t *ib = idx + (size_t)b * C;
      for (int c = 0; c < C; c++) {
        uint16_t *p = dxb + (size_t)ib[c] * C + c;
        *p = dml_bf16_from_f32(dml_bf16_to_f32(*p) + dyb[c]);
      }
    } else {
      for (int i = 0; i < HW; i++) {
        uint16_t *dr = dxb + (size_t)i * C;
#pragma omp simd
        for (int c = 0; c < C; c++) dr[c] = dml_bf16_from_f32(dml_bf16_to_f32(dr[c]) + dyb[c] / (float)HW);
      }
    }
  }
}
