/* test_image_kernels — the two fast paths of libdml_datasets against the paths they replace (which test_images
 * checks against Pillow + torchvision):
 *   region decoding: a JPEG region decoded with jpeg_crop_scanline + jpeg_skip_scanlines equals the same pixels of
 *   the full TurboJPEG decode, bitwise, for 4:4:4, 4:2:2, 4:2:0, 4:4:0, 4:1:1 and grayscale, baseline and
 *   progressive, odd sizes, every DCT scale and random regions including the image's edges, and the CMYK fixture;
 *   a truncated file still fails naming it; whole transforms (train and eval, DCT-scaled and exact) give the same
 *   floats with region decoding (no cache) as with the full decode (through a cold cache);
 *   SIMD resampling: the AVX2 and AVX-512 kernels (those this CPU runs) equal the plain C kernel bitwise on random
 *   images of widths 1–70, random fractional boxes (up- and downscaling to 1/12), random windows, images ending at
 *   an unreadable page (so a read past the view faults), and views that hold only part of the image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "train/datasets/images/images-impl.h"

#define FIX "tests/fixtures/datasets"

static uint64_t lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 33;
}
static int below(uint64_t *s, int n) { return n <= 1 ? 0 : (int)(lcg(s) % (uint64_t)n); }

/* a JPEG in memory: smooth colour ramps plus noise (so chroma changes from block to block) */
static unsigned char *make_jpeg(int w, int h, int subsamp, int progressive, uint64_t seed, unsigned long *n) {
  uint8_t *px = xmalloc((size_t)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        int v = (x * (c + 1) * 7 + y * (3 - c) * 5) % 256 + below(&seed, 90) - 45;
        px[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
  tjhandle tj = tjInitCompress();
  unsigned char *jpg = NULL;
  *n = 0;
  int rc = tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpg, n, subsamp, 85, progressive ? TJFLAG_PROGRESSIVE : 0);
  tjDestroy(tj);
  free(px);
  if (rc) {
    tjFree(jpg);
    return NULL;
  }
  return jpg;
}

/* region decodes of buf at scale s against its full decode; *partial counts the ones that were really partial */
static int region_case(const char *what, const unsigned char *buf, size_t n, int s, uint64_t *rs, int *partial) {
  struct dml_image full, reg;
  if (dml_image_decode_buf(what, buf, n, s, 0, &full)) return expect_true(what, 0);
  int W = full.w, H = full.h, f = 0, bad = 0;
  for (int k = 0; k < 24; k++) {
    int r[4];
    if (k < 4) { /* each edge */
      r[0] = k == 0 ? 0 : W / 3, r[2] = k == 1 ? W : (2 * W + 2) / 3;
      r[1] = k == 2 ? 0 : H / 3, r[3] = k == 3 ? H : (2 * H + 2) / 3;
    } else {
      r[0] = below(rs, W), r[2] = r[0] + 1 + below(rs, W - r[0]);
      r[1] = below(rs, H), r[3] = r[1] + 1 + below(rs, H - r[1]);
    }
    if (r[2] <= r[0] || r[3] <= r[1]) continue;
    if (dml_image_decode_region(what, buf, n, s, 0, r, &reg)) {
      bad++;
      continue;
    }
    int dw = reg.dec_w ? reg.dec_w : reg.w, dh = reg.dec_h ? reg.dec_h : reg.h;
    int covers = dw == W && dh == H && reg.off_x <= r[0] && reg.off_y <= r[1] && reg.off_x + reg.w >= r[2] &&
                 reg.off_y + reg.h >= r[3] && reg.scale == s;
    if (!covers) {
      bad++;
    } else {
      *partial += reg.w < W || reg.h < H;
      for (int y = r[1]; y < r[3]; y++)
        if (memcmp(full.rgb + ((size_t)y * W + r[0]) * 3,
                   reg.rgb + ((size_t)(y - reg.off_y) * reg.w + (r[0] - reg.off_x)) * 3, (size_t)(r[2] - r[0]) * 3)) {
          if (!bad) fprintf(stderr, "  %s 1/%d: region [%d,%d)x[%d,%d) row %d differs\n", what, s, r[0], r[2], r[1], r[3], y);
          bad++;
          break;
        }
    }
    dml_image_free(&reg);
  }
  dml_image_free(&full);
  char *name = dml_strfmt("%s at 1/%d: 24 region decodes = the full decode there", what, s);
  f += expect_true(name, bad == 0);
  free(name);
  return f;
}

static int region_checks(const char *tmp) {
  const struct { int samp; const char *name; } kinds[] = {{TJSAMP_444, "4:4:4"}, {TJSAMP_422, "4:2:2"},
      {TJSAMP_420, "4:2:0"}, {TJSAMP_440, "4:4:0"}, {TJSAMP_411, "4:1:1"}, {TJSAMP_GRAY, "gray"}};
  const int sizes[][2] = {{1, 1}, {37, 23}, {61, 45}, {100, 75}, {253, 190}, {500, 375}};
  int f = 0, partial = 0;
  uint64_t rs = 12345;
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
    for (int prog = 0; prog < 2; prog++)
      for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
        unsigned long n;
        unsigned char *jpg = make_jpeg(sizes[z][0], sizes[z][1], kinds[k].samp, prog, 7 * k + z, &n);
        char *what = dml_strfmt("%s%s %d×%d JPEG", kinds[k].name, prog ? " progressive" : "", sizes[z][0], sizes[z][1]);
        if (!jpg) {
          f += expect_true(what, 0);
          free(what);
          continue;
        }
        for (int s = 1; s <= 8; s *= 2) f += region_case(what, jpg, n, s, &rs, &partial);
        free(what);
        tjFree(jpg);
      }
  const char *fixtures[] = {"cmyk.jpg", "color.jpg", "gray.jpg", "progressive.jpg"};
  for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) {
    char *p = dml_strfmt(FIX "/img/%s", fixtures[i]);
    unsigned char *buf;
    size_t n;
    if (dml_image_read_file(p, &buf, &n)) {
      f += expect_true(p, 0);
    } else {
      for (int s = 1; s <= 8; s *= 2) f += region_case(p, buf, n, s, &rs, &partial);
      free(buf);
    }
    free(p);
  }
  printf("region decodes that were partial: %d\n", partial);
  f += expect_true("region decoding decodes less than the whole image (most regions)", partial > 1000);

  /* a truncated JPEG (no EOI at the end) is decoded whole, which fails naming it, as before */
  unsigned long n;
  unsigned char *jpg = make_jpeg(200, 150, TJSAMP_420, 0, 3, &n);
  struct dml_image im;
  int r[4] = {10, 10, 40, 40};
  dml_status st = dml_image_decode_region("cut.jpg", jpg, n * 2 / 3, 1, 0, r, &im);
  f += expect_true("truncated JPEG: region decoding fails naming the file",
                   st == DML_ERR_FORMAT && strstr(dml_error_message(), "cut.jpg"));
  /* whole transforms: region decoding (no cache) = full decode (a cold cache stores and uses the full decode) */
  char *path = dml_strfmt("%s/big.jpg", tmp);
  FILE *fp = fopen(path, "wb");
  tjFree(jpg);
  jpg = make_jpeg(611, 433, TJSAMP_420, 0, 9, &n);
  fwrite(jpg, 1, n, fp);
  fclose(fp);
  tjFree(jpg);
  const char *augs[] = {"base", "adv", "red"};
  int same = 1, m = 0;
  for (int e = 0; e < 2; e++)
    for (int a = 0; a < 4; a++)
      for (int exact = 0; exact < 2; exact++) {
        struct dml_transform t = dml_transform_for("resnet50", a < 3 ? augs[a] : "base", a == 3);
        if (e) t.resize = 128, t.crop = 112; /* DCT-scaled decodes too (unless exact) */
        t.exact = exact;
        size_t sz = (size_t)3 * t.crop * t.crop;
        float *x0 = xmalloc(sz * sizeof *x0), *x1 = xmalloc(sz * sizeof *x1);
        for (uint64_t pos = 0; pos < 12; pos++) {
          char *cdir = dml_strfmt("%s/cache%d", tmp, m++);
          dml_image_cache_t *c;
          if (dml_image_cache_open(cdir, &c) || dml_transform_file(&t, path, 5, 1, pos, NULL, x0) ||
              dml_transform_file(&t, path, 5, 1, pos, c, x1))
            same = 0;
          else
            same &= !memcmp(x0, x1, sz * sizeof *x0);
          for (int k = 1; k <= 3; k++) { /* plain C, AVX2, AVX-512 kernels (capped at the CPU's): the same floats */
            struct dml_transform tk = t;
            tk.kernels = k;
            same &= !dml_transform_file(&tk, path, 5, 1, pos, NULL, x1) && !memcmp(x0, x1, sz * sizeof *x0);
          }
          dml_image_cache_close(c);
          free(cdir);
        }
        free(x0), free(x1);
      }
  f += expect_true("train/eval transforms: region decode = full decode, and every kernel set the same (12 draws × 4 "
                   "transforms × exact/DCT × 2 sizes)", same);
  free(path);
  return f;
}

// ---------------------------------------------------------------------------------------------- SIMD

/* n bytes ending exactly where an unreadable page begins */
struct guarded {
  uint8_t *base, *p;
  size_t len;
};
static struct guarded guarded_alloc(size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE), body = (n + pg - 1) / pg * pg;
  struct guarded g = {.len = body + pg};
  g.base = mmap(NULL, g.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  DML_ASSERT(g.base != MAP_FAILED);
  DML_ASSERT(!mprotect(g.base + body, pg, PROT_NONE));
  g.p = g.base + body - n;
  return g;
}

static int simd_checks(void) {
  enum dml_isa best = dml_image_isa();
  printf("CPU kernels: %s\n", dml_image_isa_name(best));
  if (best == DML_ISA_SCALAR) {
    printf("no AVX2 on this CPU: only the plain C kernel runs\n");
    return 0;
  }
  uint64_t rs = 777;
  int f = 0, trials = 0, bad[3] = {0};
  for (int t = 0; t < 600; t++) {
    int sw = t < 70 ? t + 1 : 1 + below(&rs, 70), sh = 1 + below(&rs, t < 70 ? 8 : 70);
    /* the image is the bottom-right part of a larger buffer: a view with an origin, ending at the guard page */
    int ox = below(&rs, 3), oy = below(&rs, 3), fw = sw + ox, fh = sh + oy;
    size_t n = (size_t)fw * fh * 3;
    struct guarded g = guarded_alloc(n);
    for (size_t i = 0; i < n; i++) g.p[i] = (uint8_t)lcg(&rs);
    double bx0 = below(&rs, 4) ? below(&rs, sw) : below(&rs, sw * 8) / 8.0, bx1 = bx0 + (sw - bx0) * (1 + below(&rs, 64)) / 64.0;
    double by0 = below(&rs, 4) ? below(&rs, sh) : below(&rs, sh * 8) / 8.0, by1 = by0 + (sh - by0) * (1 + below(&rs, 64)) / 64.0;
    int ow = 1 + below(&rs, 3 * sw + 2), oh = 1 + below(&rs, 3 * sh + 2);
    if (t % 7 == 0) ow = 1 + sw / 12, oh = 1 + sh / 12; /* strong downscaling: long filters */
    int wx = below(&rs, ow + 4) - 2, wy = below(&rs, oh + 4) - 2, wn = 1 + below(&rs, 40), wm = 1 + below(&rs, 12);
    /* the whole buffer as the image, and the same pixels through a view holding only the part the box needs */
    struct dml_rgb_view whole = {.px = g.p, .stride = (size_t)fw * 3, .w = fw, .h = fh, .full_w = fw, .full_h = fh};
    uint8_t *ref = xmalloc((size_t)wn * wm * 3), *got = xmalloc((size_t)wn * wm * 3);
    double B[4] = {bx0 + ox, by0 + oy, bx1 + ox, by1 + oy};
    dml_resample_window(&whole, B[0], B[1], B[2], B[3], ow, oh, wx, wy, wn, wm, ref, DML_ISA_SCALAR);
    int xa = wx < 0 ? 0 : wx, xb = wx + wn > ow ? ow : wx + wn, ya = wy < 0 ? 0 : wy, yb = wy + wm > oh ? oh : wy + wm;
    int lo[2], hi[2];
    dml_resample_span(fw, B[0], B[2], ow, xa, xb - xa, &lo[0], &hi[0]);
    dml_resample_span(fh, B[1], B[3], oh, ya, yb - ya, &lo[1], &hi[1]);
    struct dml_rgb_view part = whole;
    if (hi[0] > lo[0] && hi[1] > lo[1]) {
      part.px = g.p + ((size_t)lo[1] * fw + lo[0]) * 3;
      part.x0 = lo[0], part.y0 = lo[1], part.w = fw - lo[0], part.h = fh - lo[1];
    }
    for (int isa = DML_ISA_SCALAR; isa <= (int)best; isa++)
      for (int v = 0; v < 2; v++) {
        memset(got, 0xAB, (size_t)wn * wm * 3);
        dml_resample_window(v ? &part : &whole, B[0], B[1], B[2], B[3], ow, oh, wx, wy, wn, wm, got, (enum dml_isa)isa);
        if (memcmp(got, ref, (size_t)wn * wm * 3)) {
          if (!bad[isa]) fprintf(stderr, "  %s: %dx%d box [%g,%g)x[%g,%g) → %dx%d window %d,%d %dx%d differs (view %d)\n",
                                 dml_image_isa_name(isa), sw, sh, bx0, bx1, by0, by1, ow, oh, wx, wy, wn, wm, v);
          bad[isa]++;
        }
      }
    trials++;
    free(ref), free(got);
    munmap(g.base, g.len);
  }
  for (int isa = DML_ISA_SCALAR; isa <= (int)best; isa++) {
    char *what = dml_strfmt("%s resampling = plain C on %d random images, boxes and windows (and partial views)",
                            dml_image_isa_name(isa), trials);
    f += expect_true(what, bad[isa] == 0);
    free(what);
  }
  /* the normalisation table gives the expression's value for every byte */
  struct dml_transform tf = dml_transform_for("bninception", "base", 1);
  tf.crop = 15; /* 225 pixels: 14 vector blocks and a tail */
  uint8_t px[15 * 15 * 3];
  for (int i = 0; i < 15 * 15 * 3; i++) px[i] = (uint8_t)(i * 37 + 11);
  float out[3 * 15 * 15];
  dml_transform_normalize(&tf, px, out);
  int ok = 1;
  for (int i = 0; i < 225; i++)
    for (int c = 0; c < 3; c++) {
      float want = ((float)px[3 * i + c] / 255.0f - tf.mean[c]) / tf.std[c];
      ok &= out[(2 - c) * 225 + i] == want; /* BGR */
    }
  f += expect_true("normalise: ((v / 255) - mean) / std in float32, channels reversed for BN-Inception", ok);
  return f;
}

int main(void) {
  int f = 0;
  char *tmp = test_tmpdir("image_kernels");
  f += simd_checks();
  f += region_checks(tmp);
  char *cmd = dml_strfmt("rm -rf %s", tmp);
  if (!f && system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
  free(cmd);
  free(tmp);
  return test_report("datasets_image_kernels", f);
}
