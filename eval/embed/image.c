/* image — JPEG/PNG decoding and the evaluation transform (see image.h for the contract and the PIL semantics). */
#include "eval/embed/image.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

struct dml_image_norm dml_image_norm_for_arch(const char *arch) {
  struct dml_image_norm n = {.resize = 256, .crop = strstr(arch, "googlenet") ? 227 : 224,
                             .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
  if (strstr(arch, "bninception") && !strstr(arch, "googlenet") && !strstr(arch, "resnet50")) {
    n.mean[0] = 0.502f, n.mean[1] = 0.4588f, n.mean[2] = 0.4078f;
    n.std[0] = n.std[1] = n.std[2] = 0.0039f;
    n.bgr = 1;
  }
  return n;
}

static dml_status read_file(const char *path, unsigned char **buf, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return dml_error(DML_ERR_IO, "cannot open image %s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (sz <= 0) {
    fclose(f);
    return dml_error(DML_ERR_FORMAT, "image %s is empty", path);
  }
  *buf = xmalloc((size_t)sz);
  *n = fread(*buf, 1, (size_t)sz, f);
  fclose(f);
  if (*n != (size_t)sz) {
    free(*buf);
    return dml_error(DML_ERR_IO, "cannot read image %s", path);
  }
  return DML_OK;
}

static dml_status load_jpeg(const char *path, const unsigned char *buf, size_t n, uint8_t **rgb, int *w, int *h) {
  tjhandle tj = tjInitDecompress();
  if (!tj) return dml_error(DML_ERR_STATE, "cannot start the JPEG decoder");
  int ss, cs;
  dml_status st = DML_OK;
  if (tjDecompressHeader3(tj, buf, (unsigned long)n, w, h, &ss, &cs)) {
    st = dml_error(DML_ERR_FORMAT, "image %s: bad JPEG header: %s", path, tjGetErrorStr2(tj));
  } else if (*w <= 0 || *h <= 0 || (long)*w * *h > (1L << 28)) {
    st = dml_error(DML_ERR_FORMAT, "image %s: JPEG of unsupported size %d×%d", path, *w, *h);
  } else {
    *rgb = xmalloc((size_t)*w * *h * 3);
    /* default flags: ISLOW DCT and fancy upsampling, as PIL decodes */
    if (tjDecompress2(tj, buf, (unsigned long)n, *rgb, *w, 0, *h, TJPF_RGB, 0)) {
      st = dml_error(DML_ERR_FORMAT, "image %s: cannot decode JPEG: %s", path, tjGetErrorStr2(tj));
      free(*rgb);
      *rgb = NULL;
    }
  }
  tjDestroy(tj);
  return st;
}

static dml_status load_png(const char *path, const unsigned char *buf, size_t n, uint8_t **rgb, int *w, int *h) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, buf, n))
    return dml_error(DML_ERR_FORMAT, "image %s: bad PNG: %s", path, img.message);
  if (img.width == 0 || img.height == 0 || (unsigned long)img.width * img.height > (1UL << 28)) {
    png_image_free(&img);
    return dml_error(DML_ERR_FORMAT, "image %s: PNG of unsupported size", path);
  }
  img.format = PNG_FORMAT_RGBA; /* keep alpha out of the colour values: dropped below, not composited */
  uint8_t *rgba = xmalloc(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, NULL, rgba, 0, NULL)) {
    free(rgba);
    return dml_error(DML_ERR_FORMAT, "image %s: cannot decode PNG: %s", path, img.message);
  }
  *w = (int)img.width;
  *h = (int)img.height;
  size_t np = (size_t)*w * *h;
  *rgb = xmalloc(np * 3);
  for (size_t i = 0; i < np; i++) memcpy(*rgb + 3 * i, rgba + 4 * i, 3);
  free(rgba);
  return DML_OK;
}

dml_status dml_image_load(const char *path, uint8_t **rgb, int *w, int *h) {
  unsigned char *buf = NULL;
  size_t n = 0;
  *rgb = NULL;
  dml_status st = read_file(path, &buf, &n);
  if (st) return st;
  if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
    st = load_jpeg(path, buf, n, rgb, w, h);
  else if (n >= 8 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8))
    st = load_png(path, buf, n, rgb, w, h);
  else
    st = dml_error(DML_ERR_FORMAT, "image %s is neither JPEG nor PNG", path);
  free(buf);
  return st;
}

// ---------------------------------------------------------------------------------------------- resize (PIL)

enum { PRECISION_BITS = 32 - 8 - 2 };

/* PIL's precompute_coeffs for the bilinear (triangle) filter, normalised and converted to fixed point */
static int coeffs(int in, int out, int **bounds, int32_t **kk) {
  double scale = (double)in / out, fs = scale < 1 ? 1 : scale, support = 1.0 * fs;
  int ks = (int)ceil(support) * 2 + 1;
  double *k = xmalloc((size_t)ks * sizeof *k);
  *bounds = xmalloc((size_t)out * 2 * sizeof **bounds);
  *kk = xcalloc((size_t)out * ks, sizeof **kk);
  for (int xx = 0; xx < out; xx++) {
    double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / fs;
    int xmin = (int)(center - support + 0.5), xmax;
    if (xmin < 0) xmin = 0;
    xmax = (int)(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      double t = fabs((x + xmin - center + 0.5) * ss);
      k[x] = t < 1 ? 1 - t : 0;
      ww += k[x];
    }
    for (int x = 0; x < xmax; x++) {
      double v = ww != 0 ? k[x] / ww : k[x];
      (*kk)[xx * ks + x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    }
    (*bounds)[2 * xx] = xmin;
    (*bounds)[2 * xx + 1] = xmax;
  }
  free(k);
  return ks;
}

static uint8_t clip8(int32_t v) {
  v >>= PRECISION_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void dml_image_resize(const uint8_t *in, int w, int h, uint8_t *out, int ow, int oh) {
  /* horizontal pass (w → ow) into tmp (h × ow), then vertical (h → oh); PIL skips a pass whose size is equal */
  const uint8_t *src = in;
  uint8_t *tmp = NULL;
  if (ow != w) {
    int *b;
    int32_t *kk;
    int ks = coeffs(w, ow, &b, &kk);
    tmp = xmalloc((size_t)h * ow * 3);
    for (int y = 0; y < h; y++)
      for (int xx = 0; xx < ow; xx++)
        for (int c = 0; c < 3; c++) {
          int32_t ss = 1 << (PRECISION_BITS - 1);
          for (int x = 0; x < b[2 * xx + 1]; x++)
            ss += in[((size_t)y * w + x + b[2 * xx]) * 3 + c] * kk[xx * ks + x];
          tmp[((size_t)y * ow + xx) * 3 + c] = clip8(ss);
        }
    free(b);
    free(kk);
    src = tmp;
  }
  if (oh != h) {
    int *b;
    int32_t *kk;
    int ks = coeffs(h, oh, &b, &kk);
    for (int yy = 0; yy < oh; yy++)
      for (int x = 0; x < ow; x++)
        for (int c = 0; c < 3; c++) {
          int32_t ss = 1 << (PRECISION_BITS - 1);
          for (int y = 0; y < b[2 * yy + 1]; y++)
            ss += src[((size_t)(y + b[2 * yy]) * ow + x) * 3 + c] * kk[yy * ks + y];
          out[((size_t)yy * ow + x) * 3 + c] = clip8(ss);
        }
    free(b);
    free(kk);
  } else {
    memcpy(out, src, (size_t)h * ow * 3);
  }
  free(tmp);
}

void dml_image_eval_transform(const uint8_t *rgb, int w, int h, const struct dml_image_norm *n, float *out) {
  /* torchvision Resize(int): the shorter side becomes `resize`, the longer int(resize · long / short) */
  int ow, oh;
  if (w <= h) {
    ow = n->resize;
    oh = (int)((long long)n->resize * h / w);
  } else {
    oh = n->resize;
    ow = (int)((long long)n->resize * w / h);
  }
  uint8_t *r = xmalloc((size_t)ow * oh * 3);
  if (ow == w && oh == h) memcpy(r, rgb, (size_t)w * h * 3);
  else dml_image_resize(rgb, w, h, r, ow, oh);
  int C = n->crop;
  /* CenterCrop: top = int(round((h − crop) / 2)) (Python's round: half to even); negative → zero padding */
  int top = (int)nearbyint((oh - C) / 2.0), left = (int)nearbyint((ow - C) / 2.0);
  for (int c = 0; c < 3; c++) {
    int oc = n->bgr ? 2 - c : c;
    float *o = out + (size_t)oc * C * C;
    for (int y = 0; y < C; y++)
      for (int x = 0; x < C; x++) {
        int sy = y + top, sx = x + left;
        float v = (sy >= 0 && sy < oh && sx >= 0 && sx < ow) ? r[((size_t)sy * ow + sx) * 3 + c] / 255.0f : 0.0f;
        o[(size_t)y * C + x] = (v - n->mean[c]) / n->std[c];
      }
  }
  free(r);
}
