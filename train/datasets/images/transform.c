/* transform — the reference's torchvision transforms on decoded RGB, to the pixel (contract in images.h).
 * Ports of Pillow 9.4's C: Blend.c (ImagingBlend), Convert.c (rgb2l's L24, rgb2hsv_row, hsv2rgb) and
 * ImageEnhance.py; and of torchvision 0.14's RandomResizedCrop.get_params, CenterCrop, RandomCrop and ColorJitter.
 * The resampling itself (Resample.c) is in resample.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DML_X86 1
#endif

#include "train/datasets/images/images-impl.h"

// ---------------------------------------------------------------------------------------------- colour (PIL)

static inline uint8_t luma(const uint8_t *p) { /* Convert.c L24 */
  return (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
}

/* Image.blend(a, b, alpha) per value: a + alpha·(b − a), float, truncated; clipped when extrapolating */
static inline uint8_t blend(int a, int b, float alpha) {
  if (alpha >= 0 && alpha <= 1.0) return (uint8_t)((float)a + alpha * (float)(b - a));
  float t = (float)a + alpha * (float)(b - a);
  return t <= 0.0f ? 0 : t >= 255.0f ? 255 : (uint8_t)t;
}

static void rgb2hsv(const uint8_t *in, uint8_t *out) {
  uint8_t r = in[0], g = in[1], b = in[2];
  uint8_t maxc = r > g ? (r > b ? r : b) : (g > b ? g : b), minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
  uint8_t uh = 0, us = 0;
  if (minc != maxc) {
    float cr = (float)(maxc - minc), s = cr / (float)maxc, h;
    float rc = (float)(maxc - r) / cr, gc = (float)(maxc - g) / cr, bc = (float)(maxc - b) / cr;
    if (r == maxc) h = bc - gc;
    else if (g == maxc) h = (float)(2.0 + rc - bc);
    else h = (float)(4.0 + gc - rc);
    h = (float)fmod(h / 6.0 + 1.0, 1.0);
    int ih = (int)(h * 255.0), is = (int)(s * 255.0);
    uh = (uint8_t)(ih < 0 ? 0 : ih > 255 ? 255 : ih);
    us = (uint8_t)(is < 0 ? 0 : is > 255 ? 255 : is);
  }
  out[0] = uh, out[1] = us, out[2] = maxc;
}

static inline uint8_t c8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

static void hsv2rgb(const uint8_t *in, uint8_t *out) {
  uint8_t h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  int i = (int)floor((float)h * 6.0 / 255.0);
  float f = (float)((float)h * 6.0 / 255.0 - (float)i), fs = (float)((float)s / 255.0);
  uint8_t up = c8((int)round((float)v * (1.0 - fs))), uq = c8((int)round((float)v * (1.0 - fs * f)));
  uint8_t ut = c8((int)round((float)v * (1.0 - fs * (1.0 - f))));
  switch (i % 6) {
  case 0: out[0] = v, out[1] = ut, out[2] = up; break;
  case 1: out[0] = uq, out[1] = v, out[2] = up; break;
  case 2: out[0] = up, out[1] = v, out[2] = ut; break;
  case 3: out[0] = up, out[1] = uq, out[2] = v; break;
  case 4: out[0] = ut, out[1] = up, out[2] = v; break;
  default: out[0] = v, out[1] = up, out[2] = uq; break;
  }
}

/* torchvision F.adjust_* on a PIL image (ImageEnhance / HSV), in place on n RGB pixels */
static void adjust(uint8_t *px, size_t n, int which, double factor) {
  float a = (float)factor;
  if (which == 0) { /* Brightness: blend(black, img, f) */
    for (size_t i = 0; i < 3 * n; i++) px[i] = blend(0, px[i], a);
  } else if (which == 1) { /* Contrast: blend(L-mean grey, img, f); mean = int(mean(L) + 0.5) */
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += luma(px + 3 * i);
    int m = (int)(sum / (double)n + 0.5);
    for (size_t i = 0; i < 3 * n; i++) px[i] = blend(m, px[i], a);
  } else if (which == 2) { /* Color: blend(img.convert('L').convert('RGB'), img, f) */
    for (size_t i = 0; i < n; i++) {
      uint8_t l = luma(px + 3 * i);
      for (int c = 0; c < 3; c++) px[3 * i + c] = blend(l, px[3 * i + c], a);
    }
  } else { /* hue: HSV, h += np.uint8(f·255) (wrapping), back to RGB */
    uint8_t shift = (uint8_t)(int)(factor * 255);
    for (size_t i = 0; i < n; i++) {
      uint8_t hsv[3];
      rgb2hsv(px + 3 * i, hsv);
      hsv[0] = (uint8_t)(hsv[0] + shift);
      hsv2rgb(hsv, px + 3 * i);
    }
  }
}

void dml_transform_adjust(uint8_t *px, size_t n, int which, double factor) {
  if (which == 4)
    for (size_t i = 0; i < n; i++) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = luma(px + 3 * i);
  else
    adjust(px, n, which, factor);
}

// ---------------------------------------------------------------------------------------------- geometry

static double rng_uniform(void *ctx, double lo, double hi) { return lo + (hi - lo) * dml_rng_uniform(ctx); }
static long rng_randint(void *ctx, long lo, long hi) { return lo + (long)dml_rng_below(ctx, (uint32_t)(hi - lo + 1)); }

struct dml_draws dml_draws_rng(struct dml_rng *r) {
  return (struct dml_draws){.uniform = rng_uniform, .randint = rng_randint, .ctx = r};
}

void dml_rrc_params(int w, int h, const struct dml_draws *d, int *top, int *left, int *ch, int *cw) {
  double area = (double)w * h, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
  for (int a = 0; a < 10; a++) {
    double target = area * d->uniform(d->ctx, 0.08, 1.0), ar = exp(d->uniform(d->ctx, lr0, lr1));
    int cww = (int)nearbyint(sqrt(target * ar)), chh = (int)nearbyint(sqrt(target / ar)); /* round half to even */
    if (0 < cww && cww <= w && 0 < chh && chh <= h) {
      *top = (int)d->randint(d->ctx, 0, h - chh);
      *left = (int)d->randint(d->ctx, 0, w - cww);
      *ch = chh, *cw = cww;
      return;
    }
  }
  double in_ratio = (double)w / h; /* fallback: centre crop with the aspect ratio clamped into [3/4, 4/3] */
  int cww = w, chh = h;
  if (in_ratio < 3.0 / 4.0) chh = (int)nearbyint(cww / (3.0 / 4.0));
  else if (in_ratio > 4.0 / 3.0) cww = (int)nearbyint(chh * (4.0 / 3.0));
  *ch = chh, *cw = cww;
  *top = (h - chh) / 2;
  *left = (w - cww) / 2;
}

/* torchvision Resize(int): shorter side → size, longer → int(size · long / short) */
static void resize_dims(int w, int h, int size, int *ow, int *oh) {
  if (w <= h) *ow = size, *oh = (int)((long long)size * h / w);
  else *oh = size, *ow = (int)((long long)size * w / h);
}

/* CenterCrop offset: int(round((n − crop)/2)); when the crop is larger, torchvision pads (crop − n)//2 first */
static int center_off(int n, int crop) { return n >= crop ? (int)nearbyint((n - crop) / 2.0) : -((crop - n) / 2); }

void dml_transform_geom(const struct dml_transform *t, int w, int h, const struct dml_draws *d, struct dml_geom *g) {
  memset(g, 0, sizeof *g);
  g->x1 = w, g->y1 = h;
  int C = t->crop;
  if (t->aug == DML_AUG_EVAL || t->aug == DML_AUG_RED) {
    resize_dims(w, h, t->resize, &g->ow, &g->oh);
    if (t->aug == DML_AUG_EVAL) {
      g->cx = center_off(g->ow, C), g->cy = center_off(g->oh, C);
    } else if (!(g->ow == C && g->oh == C)) { /* RandomCrop.get_params: top, then left */
      g->cy = g->oh >= C ? (int)d->randint(d->ctx, 0, g->oh - C) : 0;
      g->cx = g->ow >= C ? (int)d->randint(d->ctx, 0, g->ow - C) : 0;
    }
  } else {
    int top, left, ch, cw;
    dml_rrc_params(w, h, d, &top, &left, &ch, &cw);
    g->x0 = left, g->y0 = top, g->x1 = left + cw, g->y1 = top + ch;
    g->ow = g->oh = C;
  }
  if (t->aug == DML_AUG_ADV) {
    g->gray = d->uniform(d->ctx, 0, 1) < 0.2;
    g->jitter = 1;
    for (int i = 0; i < 4; i++) g->order[i] = i;
    for (int i = 3; i > 0; i--) { /* a uniform permutation */
      int j = (int)d->randint(d->ctx, 0, i), tmp = g->order[i];
      g->order[i] = g->order[j], g->order[j] = tmp;
    }
    g->bright = d->uniform(d->ctx, 0.8, 1.2);
    g->contrast = d->uniform(d->ctx, 0.8, 1.2);
    g->saturation = d->uniform(d->ctx, 0.8, 1.2);
    g->hue = d->uniform(d->ctx, -0.2, 0.2);
  }
  if (t->aug != DML_AUG_EVAL) g->flip = d->uniform(d->ctx, 0, 1) < 0.5;
}

int dml_transform_scale(const struct dml_transform *t, const struct dml_geom *g, int w, int h) {
  if (t->exact) return 1;
  double bw = g->x1 - g->x0, bh = g->y1 - g->y0;
  for (int s = 8; s >= 2; s /= 2)
    if (bw >= (double)s * g->ow && bh >= (double)s * g->oh) return s;
  return 1;
}

/* The source box of g on the image as decoded (at 1/scale), in the coordinates resample_window takes: for scale 1,
 * PIL's crop of the integer box, so the box's own size clamps the filter (*cx, *cy: the crop's origin); for a
 * DCT-scaled decode, the box divided by the scale on the whole smaller image. */
static void source_box(const struct dml_geom *g, int scale, int dec_w, int dec_h, double box[4], int *in_w, int *in_h,
                       int *cx, int *cy) {
  if (scale <= 1) {
    *cx = (int)g->x0, *cy = (int)g->y0;
    *in_w = (int)(g->x1 - g->x0), *in_h = (int)(g->y1 - g->y0);
    box[0] = box[1] = 0, box[2] = *in_w, box[3] = *in_h;
  } else {
    double s = scale;
    *cx = *cy = 0, *in_w = dec_w, *in_h = dec_h;
    box[0] = g->x0 / s, box[1] = g->y0 / s, box[2] = g->x1 / s, box[3] = g->y1 / s;
    if (box[2] > dec_w) box[2] = dec_w;
    if (box[3] > dec_h) box[3] = dec_h;
  }
}

void dml_transform_region(const struct dml_transform *t, const struct dml_geom *g, int scale, int dec_w, int dec_h,
                          int r[4]) {
  double box[4];
  int in_w, in_h, cx, cy, C = t->crop, lo, hi;
  source_box(g, scale, dec_w, dec_h, box, &in_w, &in_h, &cx, &cy);
  int xa = g->cx < 0 ? 0 : g->cx, xb = g->cx + C > g->ow ? g->ow : g->cx + C;
  int ya = g->cy < 0 ? 0 : g->cy, yb = g->cy + C > g->oh ? g->oh : g->cy + C;
  dml_resample_span(in_w, box[0], box[2], g->ow, xa, xb - xa, &lo, &hi);
  r[0] = cx + lo, r[2] = cx + hi;
  dml_resample_span(in_h, box[1], box[3], g->oh, ya, yb - ya, &lo, &hi);
  r[1] = cy + lo, r[3] = cy + hi;
}

/* the kernel set for t: the CPU's best, capped by t->kernels */
static enum dml_isa kernels_for(const struct dml_transform *t) {
  enum dml_isa best = dml_image_isa();
  return t->kernels > 0 && t->kernels - 1 < (int)best ? (enum dml_isa)(t->kernels - 1) : best;
}

void dml_transform_pixels(const struct dml_transform *t, const struct dml_geom *g, const struct dml_image *im,
                          uint8_t *out) {
  int C = t->crop, dec_w = im->dec_w ? im->dec_w : im->w, dec_h = im->dec_h ? im->dec_h : im->h;
  double box[4];
  int in_w, in_h, cx, cy;
  source_box(g, im->scale, dec_w, dec_h, box, &in_w, &in_h, &cx, &cy);
  /* the view: what im holds, in the coordinates of the image being resized (the crop for scale 1) */
  struct dml_rgb_view v = {.px = im->rgb, .stride = (size_t)im->w * 3, .x0 = im->off_x - cx, .y0 = im->off_y - cy,
                           .w = im->w, .h = im->h, .full_w = in_w, .full_h = in_h};
  dml_resample_window(&v, box[0], box[1], box[2], box[3], g->ow, g->oh, g->cx, g->cy, C, C, out, kernels_for(t));
  size_t n = (size_t)C * C;
  if (g->gray)
    for (size_t i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = luma(out + 3 * i);
  if (g->jitter) {
    const double f[4] = {g->bright, g->contrast, g->saturation, g->hue};
    for (int k = 0; k < 4; k++) adjust(out, n, g->order[k], f[g->order[k]]);
  }
  if (g->flip)
    for (int y = 0; y < C; y++) {
      uint8_t *row = out + (size_t)y * C * 3;
      for (int a = 0, b = C - 1; a < b; a++, b--)
        for (int c = 0; c < 3; c++) {
          uint8_t tmp = row[3 * a + c];
          row[3 * a + c] = row[3 * b + c], row[3 * b + c] = tmp;
        }
    }
}

#ifdef DML_X86
/* 16 pixels at a time: the 48 interleaved values converted, normalised in float32 (IEEE division and subtraction,
 * as the C expression, so the same bits), then split into the three planes by two-source permutations. */
__attribute__((target("avx512f"))) static size_t normalize_avx512(const uint8_t *px, size_t n, const float *mean,
                                                                   const float *sd, float *const o[3]) {
  __m512 m[3], d[3];
  for (int v = 0; v < 3; v++) { /* lane l of vector v holds channel (16 v + l) mod 3 */
    float mm[16], dd[16];
    for (int l = 0; l < 16; l++) mm[l] = mean[(16 * v + l) % 3], dd[l] = sd[(16 * v + l) % 3];
    m[v] = _mm512_loadu_ps(mm), d[v] = _mm512_loadu_ps(dd);
  }
  __m512i sel01[3], sel2[3]; /* plane c: elements 3i + c of the 48, first from vectors 0-1, then from vector 2 */
  for (int c = 0; c < 3; c++) {
    int a[16], b[16];
    for (int i = 0; i < 16; i++) {
      int e = 3 * i + c;
      a[i] = e < 32 ? e : 0;               /* from (v0, v1): indices 0-31 */
      b[i] = e < 32 ? i : 16 + (e - 32);   /* keep lane i, or take v2's element */
    }
    sel01[c] = _mm512_loadu_si512(a), sel2[c] = _mm512_loadu_si512(b);
  }
  const __m512 k255 = _mm512_set1_ps(255.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 f[3];
    for (int v = 0; v < 3; v++) {
      __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(px + 3 * i + 16 * v))));
      f[v] = _mm512_div_ps(_mm512_sub_ps(_mm512_div_ps(x, k255), m[v]), d[v]);
    }
    for (int c = 0; c < 3; c++) {
      __m512 t = _mm512_permutex2var_ps(f[0], sel01[c], f[1]);
      _mm512_storeu_ps(o[c] + i, _mm512_permutex2var_ps(t, sel2[c], f[2]));
    }
  }
  return i;
}
#endif

void dml_transform_normalize(const struct dml_transform *t, const uint8_t *px, float *out) {
  size_t n = (size_t)t->crop * t->crop, i = 0;
  float *o[3];
  for (int c = 0; c < 3; c++) o[c] = out + (size_t)(t->bgr ? 2 - c : c) * n;
#ifdef DML_X86
  if (kernels_for(t) == DML_ISA_AVX512) i = normalize_avx512(px, n, t->mean, t->std, o);
#endif
  if (i == n) return;
  float lut[3][256]; /* ToTensor, Normalize (float32) of each of the 256 values: the same expression, once */
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - t->mean[c]) / t->std[c];
  for (; i < n; i++) {
    o[0][i] = lut[0][px[3 * i]];
    o[1][i] = lut[1][px[3 * i + 1]];
    o[2][i] = lut[2][px[3 * i + 2]];
  }
}

struct dml_transform dml_transform_for(const char *arch, const char *augmentation, int eval) {
  struct dml_transform t = {.aug = DML_AUG_BASE, .resize = 256, .crop = strstr(arch, "googlenet") ? 227 : 224,
                            .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
  if (strstr(arch, "bninception")) { /* the reference's BaseDataset tests the substring */
    t.mean[0] = 0.502f, t.mean[1] = 0.4588f, t.mean[2] = 0.4078f;
    t.std[0] = t.std[1] = t.std[2] = 0.0039f;
    t.bgr = 1;
  }
  if (!strcmp(augmentation, "big")) t.crop = 256;
  else if (!strcmp(augmentation, "adv")) t.aug = DML_AUG_ADV;
  else if (!strcmp(augmentation, "red")) t.aug = DML_AUG_RED;
  else if (strcmp(augmentation, "base")) t.crop = 0;
  if (eval) t.aug = DML_AUG_EVAL;
  return t;
}

void dml_image_eval_transform(const uint8_t *rgb, int w, int h, const struct dml_transform *t, float *out) {
  struct dml_transform e = *t;
  e.aug = DML_AUG_EVAL;
  struct dml_geom g;
  dml_transform_geom(&e, w, h, NULL, &g);
  struct dml_image im = {.rgb = (uint8_t *)rgb, .w = w, .h = h, .scale = 1, .full_w = w, .full_h = h};
  uint8_t *px = xmalloc((size_t)t->crop * t->crop * 3);
  dml_transform_pixels(&e, &g, &im, px);
  dml_transform_normalize(&e, px, out);
  free(px);
}

// ---------------------------------------------------------------------------------------------- one sample

dml_status dml_transform_file(const struct dml_transform *t, const char *path, uint64_t seed, uint64_t epoch,
                              uint64_t pos, dml_image_cache_t *cache, float *out) {
  struct dml_rng r = dml_rng_init(seed, DML_RNG_AUGMENT, epoch, pos);
  struct dml_draws d = dml_draws_rng(&r);
  struct dml_image im = {0};
  struct dml_geom g;
  dml_status st = DML_OK;
  if (cache && dml_image_cache_lookup(cache, path, &im)) {
    dml_transform_geom(t, im.full_w, im.full_h, &d, &g);
    int s = im.jpeg ? dml_transform_scale(t, &g, im.full_w, im.full_h) : 1;
    if (s != im.scale) { /* stored at another DCT scale: decode this one from the file */
      dml_image_free(&im);
      st = dml_image_decode(path, s, t->max_pixels, &im);
    }
  } else {
    unsigned char *buf = NULL;
    size_t n = 0;
    int w = 0, h = 0;
    st = dml_image_read_file(path, &buf, &n);
    if (!st) st = dml_image_header(path, buf, n, t->max_pixels, &w, &h);
    if (!st) {
      dml_transform_geom(t, w, h, &d, &g);
      int s = dml_transform_scale(t, &g, w, h), r[4];
      if (cache) { /* the whole image: later epochs crop elsewhere */
        st = dml_image_decode_buf(path, buf, n, s, t->max_pixels, &im);
        if (!st) dml_image_cache_store(cache, path, &im);
      } else { /* only the pixels this geometry reads */
        dml_transform_region(t, &g, s, (w + s - 1) / s, (h + s - 1) / s, r);
        st = dml_image_decode_region(path, buf, n, s, t->max_pixels, r, &im);
      }
    }
    free(buf);
  }
  if (st) return st;
  uint8_t *px = xmalloc((size_t)t->crop * t->crop * 3);
  dml_transform_pixels(t, &g, &im, px);
  dml_transform_normalize(t, px, out);
  free(px);
  dml_image_free(&im);
  return DML_OK;
}
