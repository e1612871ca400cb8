/* resample — PIL's antialiased BILINEAR resize (Pillow 9.4 Resample.c: precompute_coeffs, normalize_coeffs_8bpc,
 * ImagingResampleHorizontal_8bpc then ImagingResampleVertical_8bpc, each pass rounded to uint8), computed only for
 * an output window, with plain C, AVX2 and AVX-512 kernels (images-impl.h).
 *
 * Every kernel forms the same int32 sums, 2^21 + Σ pixel·coefficient with PIL's 22-bit coefficients, then shifts
 * and clamps as PIL does; integer addition is exact and the sums never exceed 255·(2^22 + taps) + 2^21 < 2^31, so
 * the order of the additions cannot change a bit and the SIMD kernels equal the C one (tests/datasets check it on
 * random images, boxes and widths). The kernels are compiled with __attribute__((target)) and chosen at run time
 * by __builtin_cpu_supports, so the library still runs on a CPU without AVX2. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DML_X86 1
#endif

#include "train/datasets/images/images-impl.h"

enum { PRECISION_BITS = 32 - 8 - 2, HALF = 1 << (PRECISION_BITS - 1) };

// ---------------------------------------------------------------------------------------------- ISA

enum dml_isa dml_image_isa(void) {
#ifdef DML_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return DML_ISA_AVX512;
  if (__builtin_cpu_supports("avx2")) return DML_ISA_AVX2;
#endif
  return DML_ISA_SCALAR;
}

const char *dml_image_isa_name(enum dml_isa isa) {
  return isa == DML_ISA_AVX512 ? "avx512" : isa == DML_ISA_AVX2 ? "avx2" : "scalar";
}

// ---------------------------------------------------------------------------------------------- coefficients

static double box_scale(double in0, double in1, int out_size) {
  return (double)(float)((float)in1 - (float)in0) / out_size; /* PIL's box is float */
}

/* precompute_coeffs(inSize, in0, in1, outSize) for the output indices [o0, o0 + on), triangle filter (support 1),
 * normalised and in 22-bit fixed point. bounds (on, 2): first input index, tap count; kk (on, ks). Returns ks. */
static int coeffs(int in_size, double in0, double in1, int out_size, int o0, int on, int *bounds, int32_t **kk_out) {
  double scale = box_scale(in0, in1, out_size);
  double fs = scale < 1.0 ? 1.0 : scale, support = 1.0 * fs, ss = 1.0 / fs;
  int ks = (int)ceil(support) * 2 + 1;
  double *k = xmalloc((size_t)ks * sizeof *k);
  int32_t *kk = xcalloc((size_t)on * ks + 1, sizeof *kk);
  for (int i = 0; i < on; i++) {
    int xx = o0 + i;
    double center = (float)in0 + (xx + 0.5) * scale, ww = 0;
    int xmin = (int)(center - support + 0.5), xmax;
    if (xmin < 0) xmin = 0;
    xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    if (xmax < 0) xmax = 0;
    for (int x = 0; x < xmax; x++) {
      double t = fabs((x + xmin - center + 0.5) * ss);
      k[x] = t < 1.0 ? 1.0 - t : 0.0;
      ww += k[x];
    }
    for (int x = 0; x < xmax; x++) {
      double v = ww != 0.0 ? k[x] / ww : k[x];
      kk[i * ks + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[2 * i] = xmin;
    bounds[2 * i + 1] = xmax;
  }
  free(k);
  *kk_out = kk;
  return ks;
}

void dml_resample_span(int in_size, double in0, double in1, int out_size, int o0, int on, int *lo, int *hi) {
  *lo = in_size, *hi = 0;
  if (on <= 0) {
    *lo = *hi = 0;
    return;
  }
  int *b = xmalloc((size_t)on * 2 * sizeof *b);
  int32_t *kk;
  coeffs(in_size, in0, in1, out_size, o0, on, b, &kk);
  for (int i = 0; i < on; i++) {
    if (b[2 * i + 1] == 0) continue;
    if (b[2 * i] < *lo) *lo = b[2 * i];
    if (b[2 * i] + b[2 * i + 1] > *hi) *hi = b[2 * i] + b[2 * i + 1];
  }
  if (*hi <= *lo) *lo = *hi = 0;
  free(b);
  free(kk);
}

static inline uint8_t clip8(int32_t v) {
  v >>= PRECISION_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// ---------------------------------------------------------------------------------------------- plain C kernels

/* one output pixel of the horizontal pass: taps n from p (RGB) with coefficients k */
static inline void hpixel_c(const uint8_t *p, const int32_t *k, int n, uint8_t *o) {
  int32_t s0 = HALF, s1 = HALF, s2 = HALF;
  for (int x = 0; x < n; x++, p += 3) {
    s0 += p[0] * k[x];
    s1 += p[1] * k[x];
    s2 += p[2] * k[x];
  }
  o[0] = clip8(s0), o[1] = clip8(s1), o[2] = clip8(s2);
}

/* vertical pass for m values: out[i] = clip8(HALF + Σ_y rows[y·rs + i]·k[y]) */
static void vrow_c(const uint8_t *rows, size_t rs, const int32_t *k, int taps, int m, uint8_t *out) {
  int32_t acc[256];
  for (int i0 = 0; i0 < m; i0 += 256) { /* 256 values at a time, row by row (a loop compilers vectorise) */
    int n = m - i0 < 256 ? m - i0 : 256;
    for (int i = 0; i < n; i++) acc[i] = HALF;
    for (int y = 0; y < taps; y++) {
      const uint8_t *p = rows + (size_t)y * rs + i0;
      int32_t ky = k[y];
      for (int i = 0; i < n; i++) acc[i] += p[i] * ky;
    }
    for (int i = 0; i < n; i++) out[i0 + i] = clip8(acc[i]);
  }
}

// ---------------------------------------------------------------------------------------------- AVX2 / AVX-512

#ifdef DML_X86
/* The horizontal kernels take the coefficients re-laid per output pixel in groups of G taps (G = 2 for AVX2, 4
 * for AVX-512), each tap's coefficient repeated in 4 lanes (R, G, B, unused), zero past the pixel's taps: kx
 * (nx, ng, G, 4). A group loads 8 (16) bytes, G pixels and 2 (4) bytes beyond; a block of output pixels runs as
 * many groups as its longest filter needs, and only when all those bytes lie in the view (else plain C). One call
 * does a whole row: out (nx, 3). */

__attribute__((target("avx2"))) static void hrow_avx2(const uint8_t *row, size_t avail, const int *b, int bx0,
                                                       const int32_t *kh, int ksh, const int32_t *kx, int ng, int nx,
                                                       uint8_t *out) {
  const __m128i sh = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i half = _mm256_set1_epi32(HALF);
  int i = 0;
  for (; i + 2 <= nx; i += 2) {
    int n0 = b[2 * i + 1], n1 = b[2 * i + 3], gm = ((n0 > n1 ? n0 : n1) + 1) / 2;
    int r0 = b[2 * i] - bx0, r1 = b[2 * i + 2] - bx0;
    if ((size_t)3 * r1 + 6 * (gm - 1) + 8 > avail && gm > 0) break;
    const uint8_t *p0 = row + (size_t)3 * r0, *p1 = row + (size_t)3 * r1;
    const int32_t *k0 = kx + (size_t)i * ng * 8, *k1 = k0 + (size_t)ng * 8;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
    for (int g = 0; g < gm; g++) {
      __m128i v0 = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(p0 + 6 * g)), sh);
      __m128i v1 = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i *)(p1 + 6 * g)), sh);
      a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(v0), _mm256_loadu_si256((const __m256i *)(k0 + 8 * g))));
      a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(v1), _mm256_loadu_si256((const __m256i *)(k1 + 8 * g))));
    }
    __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(a0, a1, 0x20), _mm256_permute2x128_si256(a0, a1, 0x31));
    s = _mm256_srai_epi32(_mm256_add_epi32(s, half), PRECISION_BITS); /* pixel i in lanes 0-3, i + 1 in 4-7 */
    s = _mm256_packus_epi16(_mm256_packs_epi32(s, s), s);
    uint32_t v0 = (uint32_t)_mm_cvtsi128_si32(_mm256_castsi256_si128(s));
    uint32_t v1 = (uint32_t)_mm_cvtsi128_si32(_mm256_extracti128_si256(s, 1));
    memcpy(out + 3 * i, &v0, 3);
    memcpy(out + 3 * i + 3, &v1, 3);
  }
  for (; i < nx; i++) hpixel_c(row + (size_t)3 * (b[2 * i] - bx0), kh + (size_t)i * ksh, b[2 * i + 1], out + 3 * i);
}

/* AVX-512 horizontal pass: output pixels in blocks of up to 5 (15 lanes: pixel, channel) whose taps all lie in the
 * 21 input pixels of one 64-byte window; the window's bytes are widened to 64 words, and per pair of taps one word
 * permutation puts (tap 2s, tap 2s + 1) of every lane side by side, so that vpmaddwd multiplies and adds them. The
 * 22-bit coefficients are split as hi·2^15 + lo (both fit int16) into two products summed separately, then
 * (hi_sum << 15) + lo_sum: exactly the C kernel's int32 sum. A block whose filter is too long for the window (a
 * downscale by more than about 10) is one pixel in plain C. */
struct hblock {
  int i0, np, first, steps; /* output pixels [i0, i0 + np), window from input pixel first; steps 0: plain C */
  size_t at;                /* its steps in the plan: (steps, 3, 32) int16 (index, hi, lo) */
};
enum { HB_PIXELS = 5, HB_WINDOW = 21 };

static struct hblock *hplan(const int *b, const int32_t *kh, int ksh, int nx, int16_t **plan_out, int *nb_out) {
  struct hblock *bl = xmalloc((size_t)nx * sizeof *bl);
  size_t cap = 0, used = 0;
  int nb = 0;
  for (int i = 0; i < nx;) {
    int first = b[2 * i], np = 0, taps = 0;
    for (int j = i; j < nx && np < HB_PIXELS; j++) {
      int n = b[2 * j + 1];
      if (n > 0 && b[2 * j] + n - first > HB_WINDOW) break;
      np++;
      taps = n > taps ? n : taps;
    }
    struct hblock *h = &bl[nb++];
    h->i0 = i, h->first = first, h->at = used;
    if (np == 0) { /* one pixel with a filter longer than the window */
      h->np = 1, h->steps = 0;
      i++;
      continue;
    }
    h->np = np, h->steps = (taps + 1) / 2;
    cap += (size_t)h->steps * 96;
    used = cap;
    i += np;
  }
  int16_t *plan = xcalloc(cap + 1, sizeof *plan);
  for (int k = 0; k < nb; k++) {
    const struct hblock *h = &bl[k];
    for (int s = 0; s < h->steps; s++) {
      int16_t *idx = plan + h->at + (size_t)s * 96, *hi = idx + 32, *lo = idx + 64;
      for (int L = 0; L < 3 * h->np; L++) {
        int j = h->i0 + L / 3, c = L % 3;
        for (int u = 0; u < 2; u++) {
          int t = 2 * s + u;
          if (t >= b[2 * j + 1]) continue; /* index 0, coefficient 0 */
          int32_t kk = kh[(size_t)j * ksh + t];
          idx[2 * L + u] = (int16_t)(3 * (b[2 * j] - h->first + t) + c);
          hi[2 * L + u] = (int16_t)(kk >> 15);
          lo[2 * L + u] = (int16_t)(kk & 0x7fff);
        }
      }
    }
  }
  *plan_out = plan;
  *nb_out = nb;
  return bl;
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) static void hrow_avx512(const uint8_t *row, size_t avail,
                                                                              const int *b, int bx0,
                                                                              const int32_t *kh, int ksh,
                                                                              const struct hblock *bl, int nb,
                                                                              const int16_t *plan, uint8_t *out) {
  const __m512i half = _mm512_set1_epi32(HALF), zero = _mm512_setzero_si512();
  for (int k = 0; k < nb; k++) {
    const struct hblock *h = &bl[k];
    size_t off = (size_t)3 * (h->first - bx0);
    if (h->steps == 0 || off + 64 > avail) {
      for (int i = h->i0; i < h->i0 + h->np; i++)
        hpixel_c(row + (size_t)3 * (b[2 * i] - bx0), kh + (size_t)i * ksh, b[2 * i + 1], out + 3 * i);
      continue;
    }
    __m512i v = _mm512_loadu_si512(row + off);
    __m512i w0 = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(v)), w1 = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(v, 1));
    __m512i ahi = zero, alo = zero;
    const int16_t *p = plan + h->at;
    for (int s = 0; s < h->steps; s++, p += 96) {
      __m512i x = _mm512_permutex2var_epi16(w0, _mm512_loadu_si512(p), w1);
      ahi = _mm512_add_epi32(ahi, _mm512_madd_epi16(x, _mm512_loadu_si512(p + 32)));
      alo = _mm512_add_epi32(alo, _mm512_madd_epi16(x, _mm512_loadu_si512(p + 64)));
    }
    __m512i sum = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(ahi, 15), alo), half);
    sum = _mm512_max_epi32(_mm512_srai_epi32(sum, PRECISION_BITS), zero);
    _mm_mask_storeu_epi8(out + 3 * h->i0, (__mmask16)((1u << (3 * h->np)) - 1), _mm512_cvtusepi32_epi8(sum));
  }
}

__attribute__((target("avx2"))) static void vrow_avx2(const uint8_t *rows, size_t rs, const int32_t *k, int taps,
                                                       int m, uint8_t *out) {
  int i = 0;
  const __m256i half = _mm256_set1_epi32(HALF);
  for (; i + 16 <= m; i += 16) {
    __m256i a0 = half, a1 = half;
    for (int y = 0; y < taps; y++) {
      const uint8_t *p = rows + (size_t)y * rs + i;
      __m256i ky = _mm256_set1_epi32(k[y]);
      a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)), ky));
      a1 = _mm256_add_epi32(a1,
                            _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8))), ky));
    }
    a0 = _mm256_srai_epi32(a0, PRECISION_BITS), a1 = _mm256_srai_epi32(a1, PRECISION_BITS);
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a0, a1), 0xd8); /* 16 int16 in order */
    __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128((__m128i *)(out + i), b);
  }
  if (i < m) vrow_c(rows + i, rs, k, taps, m - i, out + i);
}

__attribute__((target("avx512f,avx512bw"))) static void vrow_avx512(const uint8_t *rows, size_t rs, const int32_t *k,
                                                                     int taps, int m, uint8_t *out) {
  int i = 0;
  const __m512i half = _mm512_set1_epi32(HALF), zero = _mm512_setzero_si512();
  for (; i + 32 <= m; i += 32) {
    __m512i a0 = half, a1 = half;
    for (int y = 0; y < taps; y++) {
      const uint8_t *p = rows + (size_t)y * rs + i;
      __m512i ky = _mm512_set1_epi32(k[y]);
      a0 = _mm512_add_epi32(a0, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)), ky));
      a1 = _mm512_add_epi32(a1,
                            _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 16))), ky));
    }
    a0 = _mm512_max_epi32(_mm512_srai_epi32(a0, PRECISION_BITS), zero); /* then unsigned saturation to 255 */
    a1 = _mm512_max_epi32(_mm512_srai_epi32(a1, PRECISION_BITS), zero);
    _mm_storeu_si128((__m128i *)(out + i), _mm512_cvtusepi32_epi8(a0));
    _mm_storeu_si128((__m128i *)(out + i + 16), _mm512_cvtusepi32_epi8(a1));
  }
  if (i < m) vrow_avx2(rows + i, rs, k, taps, m - i, out + i);
}
#endif

// ---------------------------------------------------------------------------------------------- the window

void dml_resample_window(const struct dml_rgb_view *v, double bx0, double by0, double bx1, double by1, int ow,
                         int oh, int wx, int wy, int wn, int wm, uint8_t *out, enum dml_isa isa) {
#ifndef DML_X86
  isa = DML_ISA_SCALAR;
#endif
  memset(out, 0, (size_t)wn * wm * 3);
  int x0 = wx < 0 ? 0 : wx, x1 = wx + wn > ow ? ow : wx + wn, y0 = wy < 0 ? 0 : wy, y1 = wy + wm > oh ? oh : wy + wm;
  if (x1 <= x0 || y1 <= y0) return;
  int nx = x1 - x0, ny = y1 - y0;
  int *bh = xmalloc((size_t)nx * 2 * sizeof *bh), *bv = xmalloc((size_t)ny * 2 * sizeof *bv);
  int32_t *kh, *kv;
  int ksh = coeffs(v->full_w, bx0, bx1, ow, x0, nx, bh, &kh), ksv = coeffs(v->full_h, by0, by1, oh, y0, ny, bv, &kv);
  int rmin = v->full_h, rmax = 0; /* input rows the vertical pass reads */
  for (int i = 0; i < ny; i++) {
    if (bv[2 * i + 1] == 0) continue;
    if (bv[2 * i] < rmin) rmin = bv[2 * i];
    if (bv[2 * i] + bv[2 * i + 1] > rmax) rmax = bv[2 * i] + bv[2 * i + 1];
  }
  if (rmax <= rmin) rmin = rmax = 0;
  for (int i = 0; i < nx; i++) /* the view must hold every tap (a caller's contract) */
    DML_ASSERT(bh[2 * i + 1] == 0 || (bh[2 * i] >= v->x0 && bh[2 * i] + bh[2 * i + 1] <= v->x0 + v->w));
  DML_ASSERT(rmax == rmin || (rmin >= v->y0 && rmax <= v->y0 + v->h));
  int ng = (ksh + 1) / 2;
  int32_t *kx = NULL; /* AVX2: (nx, ng, 2, 4), kh re-laid for hrow_avx2 */
  if (isa == DML_ISA_AVX2) {
    kx = xcalloc((size_t)nx * ng * 8, sizeof *kx);
    for (int i = 0; i < nx; i++)
      for (int x = 0; x < bh[2 * i + 1]; x++)
        for (int c = 0; c < 3; c++) kx[((size_t)i * ng * 2 + x) * 4 + c] = kh[(size_t)i * ksh + x];
  }
  int16_t *plan = NULL; /* AVX-512: the blocks of hrow_avx512 */
  struct hblock *blocks = NULL;
  int nb = 0;
#ifdef DML_X86
  if (isa == DML_ISA_AVX512) blocks = hplan(bh, kh, ksh, nx, &plan, &nb);
#endif
  uint8_t *tmp = xmalloc((size_t)(rmax - rmin) * nx * 3 + 1); /* horizontal pass: rows [rmin, rmax), nx columns */
  for (int y = rmin; y < rmax; y++) {
    int ry = y - v->y0;
    const uint8_t *row = v->px + (size_t)ry * v->stride;
    uint8_t *t = tmp + (size_t)(y - rmin) * nx * 3;
    size_t avail = (size_t)(v->h - 1 - ry) * v->stride + (size_t)v->w * 3; /* bytes readable from row */
#ifdef DML_X86
    if (isa == DML_ISA_AVX512) {
      hrow_avx512(row, avail, bh, v->x0, kh, ksh, blocks, nb, plan, t);
      continue;
    }
    if (isa == DML_ISA_AVX2) {
      hrow_avx2(row, avail, bh, v->x0, kh, ksh, kx, ng, nx, t);
      continue;
    }
#endif
    (void)avail;
    for (int i = 0; i < nx; i++) hpixel_c(row + (size_t)3 * (bh[2 * i] - v->x0), kh + (size_t)i * ksh, bh[2 * i + 1], t + 3 * i);
  }
  int m = 3 * nx;
  for (int j = 0; j < ny; j++) { /* vertical pass, a whole output row at a time */
    const uint8_t *rows = tmp + (size_t)(bv[2 * j] - rmin) * m;
    uint8_t *o = out + ((size_t)(y0 + j - wy) * wn + (x0 - wx)) * 3;
    const int32_t *k = kv + (size_t)j * ksv;
    int taps = bv[2 * j + 1];
#ifdef DML_X86
    if (isa == DML_ISA_AVX512) {
      vrow_avx512(rows, (size_t)m, k, taps, m, o);
      continue;
    }
    if (isa == DML_ISA_AVX2) {
      vrow_avx2(rows, (size_t)m, k, taps, m, o);
      continue;
    }
#endif
    vrow_c(rows, (size_t)m, k, taps, m, o);
  }
  free(kx);
  free(plan);
  free(blocks);
  free(tmp);
  free(bh);
  free(bv);
  free(kh);
  free(kv);
}

void dml_image_resize(const uint8_t *in, int w, int h, uint8_t *out, int ow, int oh) {
  struct dml_rgb_view v = {.px = in, .stride = (size_t)w * 3, .w = w, .h = h, .full_w = w, .full_h = h};
  dml_resample_window(&v, 0, 0, w, h, ow, oh, 0, 0, ow, oh, out, dml_image_isa());
}
