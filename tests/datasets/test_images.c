/* test_images — libdml_datasets against Pillow 9.4 + torchvision 0.14 + numpy (tests/reference/datasets_images.py
 * wrote the fixtures; regenerate with /usr/bin/python3 tests/reference/datasets_images.py):
 *   decoding of odd-sized colour/gray/progressive/CMYK JPEGs and RGB/RGBA/LA/palette/16-bit/2-bit PNGs equals
 *   np.array(Image.open(f).convert('RGB')) bitwise; Resize → CenterCrop, resized_crop boxes (down- and upscaling),
 *   brightness/contrast/saturation/hue and grayscale equal torchvision's PIL output bitwise;
 *   RandomResizedCrop.get_params given torch's own draws gives torch's box; numpy's linspace rounding and seeded
 *   choice; the decode pool gives bitwise the same batch with 0, 1 and 4 workers and through the cache (cold, warm);
 *   DCT scaling stays close to PIL and exact mode equals the full decode; a header claiming 10^10 pixels is refused
 *   before allocating, a 1×40000 PNG is transformed under a 1 GiB address-space limit, truncated and non-image files
 *   fail naming the path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "tests/datasets/gen.h"
#include "tests/testutil.h"
#include "train/datasets/datasets-impl.h"

#define FIX "tests/fixtures/datasets"

static int load(const char *path, struct dml_image *im) {
  if (dml_image_decode(path, 1, 0, im)) {
    fprintf(stderr, "%s\n", dml_error_message());
    return 1;
  }
  return 0;
}

/* bitwise comparison of two uint8 buffers, with the largest difference reported */
static int same(const char *what, const uint8_t *a, const uint8_t *b, size_t n) {
  size_t bad = 0;
  int maxd = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs((int)a[i] - (int)b[i]);
    bad += d != 0;
    if (d > maxd) maxd = d;
  }
  if (bad) fprintf(stderr, "  %s: %zu of %zu values differ (max %d)\n", what, bad, n, maxd);
  return expect_true(what, bad == 0);
}

static int decode_checks(void) {
  const char *names[] = {"cmyk.jpg", "color.jpg", "gray.jpg", "gray16.png", "gray2.png", "la.png", "palette.png",
                         "progressive.jpg", "rgb.png", "rgba.png", "wide.png"};
  int f = 0;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char *p = dml_strfmt(FIX "/img/%s", names[i]), *r = dml_strfmt(FIX "/out/%s.rgb.png", names[i]);
    struct dml_image a, b;
    if (load(p, &a) || load(r, &b)) return f + 1;
    char *what = dml_strfmt("decode %s (%d×%d) = PIL convert('RGB')", names[i], a.w, a.h);
    f += expect_true(what, a.w == b.w && a.h == b.h);
    if (a.w == b.w && a.h == b.h) f += same(what, a.rgb, b.rgb, (size_t)a.w * a.h * 3);
    int w, h, k;
    f += expect_true("probe gives the size", !dml_image_probe(p, 0, &w, &h, &k) && w == a.w && h == a.h);
    free(what), free(p), free(r);
    dml_image_free(&a), dml_image_free(&b);
  }
  return f;
}

static int transform_checks(void) {
  FILE *fp = fopen(FIX "/transforms.txt", "r");
  if (!fp) return expect_true("transforms.txt opens", 0);
  char line[512];
  int f = 0, n = 0;
  while (fgets(line, sizeof line, fp)) {
    if (line[0] == '#') continue;
    char out[256], kind[32], name[64];
    double a[5] = {0};
    int k = sscanf(line, "%255s %31s %63s %lf %lf %lf %lf %lf", out, kind, name, &a[0], &a[1], &a[2], &a[3], &a[4]);
    if (k < 4) continue;
    char *pin = dml_strfmt(FIX "/img/%s", name), *pout = dml_strfmt(FIX "/%s", out);
    struct dml_image in, ref;
    if (load(pin, &in) || load(pout, &ref)) return f + 1;
    struct dml_transform t = dml_transform_for("resnet50", "base", 1);
    t.exact = 1;
    uint8_t *px = NULL;
    size_t np = (size_t)ref.w * ref.h;
    if (!strcmp(kind, "eval") || !strcmp(kind, "rrc")) {
      struct dml_geom g;
      if (!strcmp(kind, "eval")) {
        t.resize = (int)a[0], t.crop = (int)a[1];
        dml_transform_geom(&t, in.w, in.h, NULL, &g);
      } else { /* resized_crop(img, top, left, h, w, [size, size]) */
        t.crop = (int)a[4];
        memset(&g, 0, sizeof g);
        g.y0 = a[0], g.x0 = a[1], g.y1 = a[0] + a[2], g.x1 = a[1] + a[3];
        g.ow = g.oh = t.crop;
      }
      px = xmalloc((size_t)t.crop * t.crop * 3);
      dml_transform_pixels(&t, &g, &in, px);
      f += expect_true("output size", ref.w == t.crop && ref.h == t.crop);
    } else { /* colour ops on PIL's eval crop of the same image */
      char *pev = dml_strfmt(FIX "/out/%s.eval.png", name);
      struct dml_image ev;
      if (load(pev, &ev)) return f + 1;
      px = xmalloc(np * 3);
      memcpy(px, ev.rgb, np * 3);
      int which = !strcmp(kind, "bright") ? 0 : !strcmp(kind, "contrast") ? 1 : !strcmp(kind, "sat") ? 2
                : !strcmp(kind, "hue") ? 3 : 4;
      dml_transform_adjust(px, np, which, a[0]);
      dml_image_free(&ev);
      free(pev);
    }
    char *what = dml_strfmt("%s = torchvision/PIL", out);
    f += same(what, px, ref.rgb, np * 3);
    n++;
    free(what), free(px), free(pin), free(pout);
    dml_image_free(&in), dml_image_free(&ref);
  }
  fclose(fp);
  f += expect_true("all transform fixtures read", n >= 40);
  return f;
}

// ---------------------------------------------------------------------------------------------- RRC draws

struct replay {
  double v[24];
  long ints[2];
  int nv, iv, ii;
  int log_next; /* the second uniform of each attempt is the log aspect ratio */
};
static double replay_uniform(void *ctx, double lo, double hi) {
  struct replay *r = ctx;
  (void)lo, (void)hi;
  double v = r->v[r->iv++];
  return (r->iv % 2 == 0) ? log(v) : v; /* torch returns exp(u) as a float32: hand its log to our exp */
}
static long replay_randint(void *ctx, long lo, long hi) {
  struct replay *r = ctx;
  long v = r->ints[r->ii++];
  return v < lo || v > hi ? -999 : v;
}

static int rrc_checks(void) {
  FILE *fp = fopen(FIX "/rrc_draws.txt", "r");
  if (!fp) return expect_true("rrc_draws.txt opens", 0);
  int f = 0, n = 0, fallback = 0, bad = 0;
  int W, H, ti, tj, th, tw, na;
  while (fscanf(fp, "%d %d %d %d %d %d %d", &W, &H, &ti, &tj, &th, &tw, &na) == 7) {
    struct replay r = {0};
    for (int i = 0; i < 2 * na; i++)
      if (fscanf(fp, "%lf", &r.v[i]) != 1) return f + expect_true("rrc_draws.txt parses", 0);
    /* the two randint results follow unless every attempt failed (fallback) */
    int c = fgetc(fp);
    while (c == ' ') c = fgetc(fp);
    if (c != '\n' && c != EOF) {
      ungetc(c, fp);
      if (fscanf(fp, "%ld %ld", &r.ints[0], &r.ints[1]) != 2) return f + expect_true("rrc_draws.txt parses", 0);
    } else {
      fallback++;
    }
    struct dml_draws d = {replay_uniform, replay_randint, &r};
    int top, left, ch, cw;
    dml_rrc_params(W, H, &d, &top, &left, &ch, &cw);
    if (top != ti || left != tj || ch != th || cw != tw) {
      if (bad++ < 5) fprintf(stderr, "  %d×%d: got (%d %d %d %d), torch (%d %d %d %d)\n", W, H, top, left, ch, cw, ti, tj, th, tw);
    }
    n++;
  }
  fclose(fp);
  f += expect_true("RandomResizedCrop boxes equal torchvision's for the same draws", n >= 100 && bad == 0);
  f += expect_true("the fallback centre crop is exercised", fallback > 0);
  printf("rrc: %d boxes, %d fallbacks\n", n, fallback);
  return f;
}

static int numpy_checks(void) {
  FILE *fp = fopen(FIX "/numpy.txt", "r");
  if (!fp) return expect_true("numpy.txt opens", 0);
  char line[4096];
  int f = 0, nl = 0, nc = 0;
  struct dml_mt19937 mt;
  int last_seed = -1;
  while (fgets(line, sizeof line, fp)) {
    char *tok = strtok(line, " \n");
    if (!tok || tok[0] == '#') continue;
    int want[512], nw = 0, got[512];
    if (!strcmp(tok, "linspace")) {
      int n = atoi(strtok(NULL, " \n")), m = atoi(strtok(NULL, " \n"));
      while ((tok = strtok(NULL, " \n"))) want[nw++] = atoi(tok);
      int k = dml_linspace_pick(n, m, got);
      char *what = dml_strfmt("unique(round(linspace(0, %d, %d))) = numpy", n - 1, m);
      f += expect_true(what, k == nw && !memcmp(got, want, (size_t)k * sizeof *got));
      free(what);
      nl++;
    } else {
      int seed = atoi(strtok(NULL, " \n")), n = atoi(strtok(NULL, " \n")), m = atoi(strtok(NULL, " \n"));
      while ((tok = strtok(NULL, " \n"))) want[nw++] = atoi(tok);
      if (seed != last_seed) dml_mt19937_seed(&mt, (uint32_t)seed), last_seed = seed; /* one stream per seed */
      dml_numpy_choice(&mt, n, m, got);
      char *what = dml_strfmt("np.random.seed(%d) … choice(%d, %d, replace=False) = numpy", seed, n, m);
      f += expect_true(what, nw == m && !memcmp(got, want, (size_t)m * sizeof *got));
      free(what);
      nc++;
    }
  }
  fclose(fp);
  f += expect_true("numpy cases read", nl >= 10 && nc >= 12);
  return f;
}

// ---------------------------------------------------------------------------------------------- pipeline

static int pipeline_checks(const char *tmp) {
  int f = 0, N = 12;
  char *paths[12];
  for (int i = 0; i < N; i++) {
    paths[i] = dml_strfmt("%s/p%02d.%s", tmp, i, i % 4 == 3 ? "png" : "jpg");
    int w = 60 + 13 * i, h = 45 + 7 * (i % 5);
    int r = i % 4 == 3 ? gen_png(paths[i], w, h, (uint64_t)i, i, 2, 8) : gen_jpeg(paths[i], w, h, (uint64_t)i, i, i == 5, 88);
    if (r) return expect_true("fixture images written", 0);
  }
  const char *augs[] = {"base", "adv", "red"};
  for (int a = 0; a < 3; a++) {
    struct dml_transform t = dml_transform_for("resnet50", augs[a], 0);
    t.crop = 24, t.resize = 27;
    size_t sz = (size_t)3 * 24 * 24;
    float *out[4];
    int workers[4] = {0, 1, 4, 4};
    char *cdir = dml_strfmt("%s/cache_%s", tmp, augs[a]);
    dml_image_cache_t *cache = NULL;
    for (int k = 0; k < 4; k++) {
      out[k] = xcalloc((size_t)N * sz, sizeof(float));
      if (k == 3 && dml_image_cache_open(cdir, &cache)) return f + expect_true("cache opens", 0);
      dml_loader_t *L = dml_loader_create(workers[k], cache);
      struct dml_batch_req q = {.paths = (const char *const *)paths, .count = N, .tf = &t, .seed = 7, .epoch = 3,
                                .pos0 = 100, .out = out[k]};
      dml_status st = dml_loader_wait(L, dml_loader_submit(L, &q));
      if (k == 3 && !st) { /* warm: a second pass maps the stored pixels */
        float *again = xcalloc((size_t)N * sz, sizeof(float));
        q.out = again;
        st = dml_loader_wait(L, dml_loader_submit(L, &q));
        long hits, misses;
        dml_image_cache_stats(cache, &hits, &misses);
        f += expect_true("warm cache: every image a hit", hits == N && misses == N);
        f += expect_true("warm cache pixels = cold", !memcmp(again, out[3], (size_t)N * sz * sizeof(float)));
        free(again);
      }
      dml_loader_free(L);
      if (st) fprintf(stderr, "%s\n", dml_error_message());
      f += expect_true("batch decodes", st == DML_OK);
    }
    dml_image_cache_close(cache);
    char *w1 = dml_strfmt("%s: 0 vs 1 decode workers bitwise", augs[a]), *w4 = dml_strfmt("%s: 1 vs 4 workers bitwise", augs[a]);
    char *wc = dml_strfmt("%s: through the cache bitwise", augs[a]);
    f += expect_true(w1, !memcmp(out[0], out[1], (size_t)N * sz * sizeof(float)));
    f += expect_true(w4, !memcmp(out[1], out[2], (size_t)N * sz * sizeof(float)));
    f += expect_true(wc, !memcmp(out[2], out[3], (size_t)N * sz * sizeof(float)));
    /* different epochs draw different crops */
    float *o2 = xcalloc((size_t)N * sz, sizeof(float));
    dml_loader_t *L = dml_loader_create(2, NULL);
    struct dml_batch_req q = {.paths = (const char *const *)paths, .count = N, .tf = &t, .seed = 7, .epoch = 4, .pos0 = 100, .out = o2};
    dml_loader_wait(L, dml_loader_submit(L, &q));
    dml_loader_free(L);
    f += expect_true("another epoch, other augmentations", memcmp(o2, out[0], (size_t)N * sz * sizeof(float)) != 0);
    free(o2);
    for (int k = 0; k < 4; k++) free(out[k]);
    free(w1), free(w4), free(wc), free(cdir);
  }
  /* DCT scaling: a 1000×760 JPEG evaluated at Resize(64) → CenterCrop(56) decodes at 1/8; close to exact PIL */
  char *big = dml_strfmt("%s/big.jpg", tmp);
  gen_jpeg(big, 1000, 760, 9, 3, 0, 92);
  struct dml_transform t = dml_transform_for("resnet50", "base", 1);
  t.resize = 64, t.crop = 56;
  struct dml_geom g;
  dml_transform_geom(&t, 1000, 760, NULL, &g);
  f += expect_true("DCT scale chosen for a 1000×760 source at 64 px", dml_transform_scale(&t, &g, 1000, 760) == 8);
  size_t sz = (size_t)3 * 56 * 56;
  float *xs = xmalloc(sz * sizeof *xs), *xe = xmalloc(sz * sizeof *xe), *xf = xmalloc(sz * sizeof *xf);
  dml_transform_file(&t, big, 1, 0, 0, NULL, xs);
  t.exact = 1;
  dml_transform_file(&t, big, 1, 0, 0, NULL, xe);
  struct dml_image im;
  load(big, &im);
  dml_image_eval_transform(im.rgb, im.w, im.h, &t, xf);
  dml_image_free(&im);
  f += expect_true("exact mode = the full-size decode", !memcmp(xe, xf, sz * sizeof *xe));
  double mad = 0;
  for (size_t i = 0; i < sz; i++) mad += fabs(xs[i] - xe[i]) * 0.226 * 255; /* back to pixel units (std ≈ 0.226) */
  mad /= sz;
  printf("DCT 1/8 vs PIL: mean |difference| %.2f of 255\n", mad);
  f += expect_true("DCT-scaled pixels stay close to PIL's (mean |d| < 4/255) but are not identical", mad < 4 && mad > 0);
  free(xs), free(xe), free(xf), free(big);
  for (int i = 0; i < N; i++) free(paths[i]);
  return f;
}

// ---------------------------------------------------------------------------------------------- bad files

static void put32(unsigned char *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (unsigned char)v; }

static int bad_file_checks(const char *tmp) {
  int f = 0;
  /* a valid PNG signature and IHDR claiming 100000 × 100000, then nothing */
  char *giant = dml_strfmt("%s/giant.png", tmp);
  unsigned char png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  put32(png + 16, 100000), put32(png + 20, 100000);
  png[24] = 8, png[25] = 2;
  put32(png + 29, (uint32_t)crc32(0, png + 12, 17));
  FILE *fp = fopen(giant, "wb");
  fwrite(png, 1, sizeof png, fp);
  fclose(fp);
  struct dml_image im;
  int w, h, k;
  dml_status st = dml_image_probe(giant, 0, &w, &h, &k);
  f += expect_true("10^10-pixel PNG header refused by the probe, naming the file",
                   st == DML_ERR_FORMAT && strstr(dml_error_message(), giant) && strstr(dml_error_message(), "limit"));
  st = dml_image_decode(giant, 1, 0, &im);
  f += expect_true("… and by the decoder", st == DML_ERR_FORMAT && strstr(dml_error_message(), giant));
  /* 1 × 40000: PIL would build a 256 × 10,240,000 intermediate; we compute the crop only — under 1 GiB */
  char *tall = dml_strfmt("%s/tall.png", tmp);
  gen_png(tall, 1, 40000, 1, 1, 2, 8);
  pid_t pid = fork();
  if (pid == 0) {
    struct rlimit rl = {1L << 30, 1L << 30};
    setrlimit(RLIMIT_AS, &rl);
    struct dml_transform t = dml_transform_for("resnet50", "base", 1);
    float *x = malloc((size_t)3 * 224 * 224 * sizeof *x);
    _exit(x && !dml_transform_file(&t, tall, 1, 0, 0, NULL, x) ? 0 : 1);
  }
  int status = 1;
  waitpid(pid, &status, 0);
  f += expect_true("1×40000 PNG: the eval transform runs in < 1 GiB", WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* truncated JPEG, not an image, empty file */
  char *good = dml_strfmt("%s/good.jpg", tmp), *trunc = dml_strfmt("%s/trunc.jpg", tmp);
  gen_jpeg(good, 120, 90, 1, 1, 0, 90);
  unsigned char buf[1 << 16];
  fp = fopen(good, "rb");
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  fp = fopen(trunc, "wb");
  fwrite(buf, 1, n / 2, fp);
  fclose(fp);
  st = dml_image_decode(trunc, 1, 0, &im);
  f += expect_true("truncated JPEG: an error naming it", st == DML_ERR_FORMAT && strstr(dml_error_message(), trunc));
  char *txt = dml_strfmt("%s/notes.jpg", tmp), *empty = dml_strfmt("%s/empty.png", tmp);
  fp = fopen(txt, "w");
  fputs("not a picture\n", fp);
  fclose(fp);
  fclose(fopen(empty, "w"));
  f += expect_true("text file named .jpg refused",
                   dml_image_probe(txt, 0, &w, &h, &k) == DML_ERR_FORMAT && strstr(dml_error_message(), txt));
  f += expect_true("empty file refused", dml_image_probe(empty, 0, &w, &h, &k) == DML_ERR_FORMAT);
  free(giant), free(tall), free(good), free(trunc), free(txt), free(empty);
  return f;
}

int main(void) {
  int f = 0;
  char *tmp = test_tmpdir("images");
  f += decode_checks();
  f += transform_checks();
  f += rrc_checks();
  f += numpy_checks();
  f += pipeline_checks(tmp);
  f += bad_file_checks(tmp);
  char *cmd = dml_strfmt("rm -rf %s", tmp);
  if (!f && system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
  free(cmd);
  free(tmp);
  return test_report("datasets_images", f);
}
