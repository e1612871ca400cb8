/* decode — JPEG (TurboJPEG) and PNG (libpng) files into 8-bit RGB as PIL's Image.open(path).convert('RGB');
 * see images.h for the conversion rules, the pixel cap and DCT scaling. */
#include <errno.h>
#include <stdio.h> /* before jpeglib.h */
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <turbojpeg.h>

#include "common/dims.h"
#include "train/datasets/images/images-impl.h"

enum { KIND_JPEG = 1, KIND_PNG = 2, PROBE_BYTES = 1 << 16 };

/* Read the whole file (limit < 0) or its first `limit` bytes. */
static dml_status read_file(const char *path, long limit, unsigned char **buf, size_t *n, size_t *total) {
  FILE *f = fopen(path, "rb");
  if (!f) return dml_error(DML_ERR_IO, "cannot open image %s: %s", path, strerror(errno));
  long sz = -1;
  if (!fseek(f, 0, SEEK_END)) sz = ftell(f);
  if (sz < 0 || fseek(f, 0, SEEK_SET)) {
    fclose(f);
    return dml_error(DML_ERR_IO, "cannot read image %s (not a regular file?)", path);
  }
  if (sz == 0) {
    fclose(f);
    return dml_error(DML_ERR_FORMAT, "image %s is empty", path);
  }
  size_t want = limit >= 0 && limit < sz ? (size_t)limit : (size_t)sz;
  *buf = xmalloc(want);
  *n = fread(*buf, 1, want, f);
  fclose(f);
  if (*n != want) {
    free(*buf);
    *buf = NULL;
    return dml_error(DML_ERR_IO, "cannot read image %s", path);
  }
  if (total) *total = (size_t)sz;
  return DML_OK;
}

static int kind_of(const unsigned char *b, size_t n) {
  if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return KIND_JPEG;
  if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return KIND_PNG;
  return 0;
}

static dml_status check_size(const char *path, long w, long h, long max_pixels) {
  if (max_pixels <= 0) max_pixels = DML_IMAGE_MAX_PIXELS;
  if (w <= 0 || h <= 0) return dml_error(DML_ERR_FORMAT, "image %s: header claims an empty %ld×%ld image", path, w, h);
  if (w > max_pixels / h) /* w * h without overflow (UBSan found the signed wrap with a forged PNG header) */
    return dml_error(DML_ERR_FORMAT, "image %s: header claims %ld×%ld = %llu pixels, over the limit of %ld (refused "
                     "before decoding; PIL refuses such images too)", path, w, h,
                     (unsigned long long)w * (unsigned long long)h, max_pixels);
  /* and the shared overflow-safe shape check (common/dims.h) on the largest buffer sized from it (CMYK) */
  uint64_t dims[3] = {(uint64_t)h, (uint64_t)w, 4};
  return dml_dims_check(path, "image header", 3, dims, 1, "uint8", NULL, UINT64_MAX, NULL, NULL);
}

// ---------------------------------------------------------------------------------------------- PNG

struct png_src {
  const unsigned char *buf;
  size_t n, pos;
  char msg[256];
  jmp_buf jb;
};

static void png_on_error(png_structp p, png_const_charp msg) {
  struct png_src *s = png_get_error_ptr(p);
  snprintf(s->msg, sizeof s->msg, "%s", msg);
  longjmp(s->jb, 1);
}
static void png_on_warning(png_structp p, png_const_charp msg) { (void)p, (void)msg; }
static void png_on_read(png_structp p, png_bytep out, png_size_t len) {
  struct png_src *s = png_get_io_ptr(p);
  if (s->n - s->pos < len) png_error(p, "file is truncated");
  memcpy(out, s->buf + s->pos, len);
  s->pos += len;
}

/* header_only: stop after the header (probe). */
static dml_status png_read(const char *path, const unsigned char *buf, size_t n, long max_pixels, int header_only,
                           struct dml_image *out) {
  if (n >= 24 && !memcmp(buf + 12, "IHDR", 4)) { /* the size straight from IHDR, before libpng reads further */
    long w = (long)buf[16] << 24 | buf[17] << 16 | buf[18] << 8 | buf[19];
    long h = (long)buf[20] << 24 | buf[21] << 16 | buf[22] << 8 | buf[23];
    dml_status st = check_size(path, w, h, max_pixels);
    if (st) return st;
  }
  struct png_src s = {.buf = buf, .n = n};
  png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_on_error, png_on_warning);
  png_infop info = p ? png_create_info_struct(p) : NULL;
  if (!info) {
    png_destroy_read_struct(&p, NULL, NULL);
    return dml_error(DML_ERR_STATE, "cannot start the PNG decoder");
  }
  uint8_t *volatile raw = NULL, *volatile rgb = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp(s.jb)) {
    free(raw);
    free(rgb);
    free(rows);
    png_destroy_read_struct(&p, &info, NULL);
    return dml_error(DML_ERR_FORMAT, "image %s: corrupt PNG (%s)", path, s.msg);
  }
  png_set_user_limits(p, 0x7fffffff, 0x7fffffff); /* our own pixel cap below */
  png_set_crc_action(p, PNG_CRC_DEFAULT, PNG_CRC_WARN_USE);
  png_set_read_fn(p, &s, png_on_read);
  png_read_info(p, info);
  png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
  dml_status st = check_size(path, (long)w, (long)h, max_pixels);
  if (st || header_only) {
    out->w = (int)w, out->h = (int)h;
    png_destroy_read_struct(&p, &info, NULL);
    return st;
  }
  int ct = png_get_color_type(p, info), depth = png_get_bit_depth(p, info);
  if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(p);    /* tRNS is not turned into alpha: PIL drops it */
  if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(p); /* 0/255, ×85, ×17 as PIL */
  if (depth == 16) png_set_swap(p) /* little-endian samples: read as uint16 below */;
  png_set_interlace_handling(p);
  png_read_update_info(p, info);
  int ch = png_get_channels(p, info), d16 = png_get_bit_depth(p, info) == 16;
  size_t rowbytes = png_get_rowbytes(p, info);
  raw = xmalloc(rowbytes * h);
  rows = xmalloc(h * sizeof *rows);
  for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + y * rowbytes;
  png_read_image(p, rows);
  png_read_end(p, NULL);
  rgb = xmalloc((size_t)w * h * 3);
  for (png_uint_32 y = 0; y < h; y++) {
    const uint8_t *r8 = raw + y * rowbytes;
    const uint16_t *r16 = (const uint16_t *)r8;
    uint8_t *o = rgb + (size_t)y * w * 3;
    for (png_uint_32 x = 0; x < w; x++, o += 3) {
      int v[3];
      if (ch <= 2) { /* gray (+ alpha); 16-bit gray alone is PIL's mode I: clipped to 255, with alpha: high byte */
        int g = d16 ? (ch == 1 ? (r16[x] > 255 ? 255 : r16[x]) : r16[x * 2] >> 8) : r8[x * ch];
        v[0] = v[1] = v[2] = g;
      } else {
        for (int c = 0; c < 3; c++) v[c] = d16 ? r16[x * ch + c] >> 8 : r8[x * ch + c];
      }
      o[0] = (uint8_t)v[0], o[1] = (uint8_t)v[1], o[2] = (uint8_t)v[2];
    }
  }
  free(raw);
  free(rows);
  png_destroy_read_struct(&p, &info, NULL);
  out->rgb = rgb;
  out->w = out->full_w = (int)w;
  out->h = out->full_h = (int)h;
  out->scale = 1;
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- JPEG

/* PIL reads CMYK JPEGs as Adobe-inverted ("CMYK;I"), then cmyk2rgb: nk − nk·c/255; in place, 4 → 3 bytes */
static void cmyk_to_rgb(uint8_t *px, size_t np) {
  for (size_t i = 0; i < np; i++) {
    int c[4];
    for (int k = 0; k < 4; k++) c[k] = 255 - px[4 * i + k];
    int nk = 255 - c[3];
    for (int k = 0; k < 3; k++) {
      int t = c[k] * nk + 128;
      int v = nk - (((t >> 8) + t) >> 8);
      px[3 * i + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
}

static dml_status jpeg_read(const char *path, const unsigned char *buf, size_t n, int scale, long max_pixels,
                            int header_only, struct dml_image *out) {
  tjhandle tj = tjInitDecompress();
  if (!tj) return dml_error(DML_ERR_STATE, "cannot start the JPEG decoder");
  int w, h, ss, cs;
  dml_status st = DML_OK;
  if (tjDecompressHeader3(tj, buf, (unsigned long)n, &w, &h, &ss, &cs)) {
    st = dml_error(DML_ERR_FORMAT, "image %s: corrupt JPEG header (%s)", path, tjGetErrorStr2(tj));
    tjDestroy(tj);
    return st;
  }
  out->w = w, out->h = h;
  if ((st = check_size(path, w, h, max_pixels)) || header_only) {
    tjDestroy(tj);
    return st;
  }
  if (scale != 1 && scale != 2 && scale != 4 && scale != 8) scale = 1;
  int sw = (w + scale - 1) / scale, sh = (h + scale - 1) / scale;
  int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
  uint8_t *px = xmalloc((size_t)sw * sh * (cmyk ? 4 : 3));
  /* flags 0: ISLOW IDCT and fancy upsampling, PIL's settings */
  if (tjDecompress2(tj, buf, (unsigned long)n, px, sw, 0, sh, cmyk ? TJPF_CMYK : TJPF_RGB, 0)) {
    /* warnings (extraneous bytes, …) are ignored as PIL ignores them, except a premature end: PIL raises
     * "image file is truncated" */
    const char *msg = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(msg, "Premature end")) {
      st = dml_error(DML_ERR_FORMAT, "image %s: corrupt or truncated JPEG (%s)", path, msg);
      free(px);
      tjDestroy(tj);
      return st;
    }
  }
  tjDestroy(tj);
  if (cmyk) cmyk_to_rgb(px, (size_t)sw * sh);
  out->rgb = px;
  out->w = sw, out->h = sh;
  out->full_w = w, out->full_h = h;
  out->scale = scale;
  out->jpeg = 1;
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- JPEG region

struct region_err {
  struct jpeg_error_mgr mgr;
  jmp_buf jb;
  int eof; /* "Premature end of JPEG file" seen */
};

static void region_on_error(j_common_ptr c) { longjmp(((struct region_err *)c->err)->jb, 1); }
static void region_on_message(j_common_ptr c, int level) {
  struct region_err *e = (struct region_err *)c->err;
  if (level < 0 && e->mgr.msg_code == JWRN_JPEG_EOF) e->eof = 1;
}

/* The rows [r[1], r[3]) and at least the columns [r[0], r[2]) of the image as tjDecompress2 decodes it at 1/scale
 * (libjpeg API with TurboJPEG's settings: ISLOW IDCT, fancy upsampling, RGB or CMYK out), widened by one iMCU on
 * every side so that the fancy upsampling of the region's edge pixels sees the same neighbours as in a full decode
 * (libjpeg.txt, "Partial image decompression"). Returns 0 when it cannot decode the region exactly as the full
 * decode would (a libjpeg error or warning that matters): the caller then decodes the whole file, which reports
 * the error as before. */
static int jpeg_region(const unsigned char *buf, size_t n, int scale, const int r[4], struct dml_image *out) {
  struct jpeg_decompress_struct ci;
  struct region_err e = {0};
  ci.err = jpeg_std_error(&e.mgr);
  e.mgr.error_exit = region_on_error;
  e.mgr.emit_message = region_on_message;
  uint8_t *volatile px = NULL;
  JSAMPROW *volatile rows = NULL;
  if (setjmp(e.jb)) {
    jpeg_destroy_decompress(&ci);
    free(px);
    free(rows);
    return 0;
  }
  jpeg_create_decompress(&ci);
  jpeg_mem_src(&ci, buf, (unsigned long)n);
  jpeg_read_header(&ci, TRUE);
  int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
  ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  ci.dct_method = JDCT_ISLOW;
  ci.do_fancy_upsampling = TRUE;
  ci.scale_num = 1;
  ci.scale_denom = (unsigned)scale;
  jpeg_start_decompress(&ci);
  int W = (int)ci.output_width, H = (int)ci.output_height;
  int iw = ci.max_h_samp_factor * ci.min_DCT_scaled_size, ih = ci.max_v_samp_factor * ci.min_DCT_scaled_size;
  int x0 = r[0] - iw, x1 = r[2] + iw, y0 = r[1] - ih, y1 = r[3] + ih;
  x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0, x1 = x1 > W ? W : x1, y1 = y1 > H ? H : y1;
  if (x1 <= x0 || y1 <= y0) longjmp(e.jb, 1);
  JDIMENSION xoff = (JDIMENSION)x0, width = (JDIMENSION)(x1 - x0);
  if (xoff > 0 || width < (JDIMENSION)W) jpeg_crop_scanline(&ci, &xoff, &width);
  int w = (int)ci.output_width, h = y1 - y0, ch = cmyk ? 4 : 3;
  if (y0 > 0) jpeg_skip_scanlines(&ci, (JDIMENSION)y0);
  px = xmalloc((size_t)w * h * ch);
  rows = xmalloc((size_t)h * sizeof *rows);
  for (int y = 0; y < h; y++) rows[y] = px + (size_t)y * w * ch;
  while ((int)ci.output_scanline < y1)
    jpeg_read_scanlines(&ci, rows + (ci.output_scanline - (JDIMENSION)y0), (JDIMENSION)(y1 - (int)ci.output_scanline));
  if (e.eof) longjmp(e.jb, 1);
  jpeg_abort_decompress(&ci); /* the rows below are not needed */
  jpeg_destroy_decompress(&ci);
  free(rows);
  if (cmyk) cmyk_to_rgb(px, (size_t)w * h);
  memset(out, 0, sizeof *out);
  out->rgb = px;
  out->w = w, out->h = h, out->off_x = (int)xoff, out->off_y = y0, out->dec_w = W, out->dec_h = H;
  out->scale = scale, out->jpeg = 1;
  return 1;
}

dml_status dml_image_decode_region(const char *path, const unsigned char *buf, size_t n, int scale, long max_pixels,
                                   const int r[4], struct dml_image *out) {
  memset(out, 0, sizeof *out);
  if (scale != 1 && scale != 2 && scale != 4 && scale != 8) scale = 1;
  int w, h;
  dml_status st = kind_of(buf, n) == KIND_JPEG ? dml_image_header(path, buf, n, max_pixels, &w, &h) : DML_ERR_FORMAT;
  /* only when the data end with the EOI marker: then no row of the file can run out of data, the one warning
   * (truncation) that makes the full decode fail */
  if (!st && n >= 4 && buf[n - 2] == 0xFF && buf[n - 1] == 0xD9 && jpeg_region(buf, n, scale, r, out)) {
    out->full_w = w, out->full_h = h;
    return DML_OK;
  }
  return dml_image_decode_buf(path, buf, n, scale, max_pixels, out);
}

// ---------------------------------------------------------------------------------------------- public

dml_status dml_image_probe(const char *path, long max_pixels, int *w, int *h, int *kind) {
  unsigned char *buf = NULL;
  size_t n = 0, total = 0;
  dml_status st = read_file(path, PROBE_BYTES, &buf, &n, &total);
  if (st) return st;
  int k = kind_of(buf, n);
  struct dml_image im = {0};
  if (!k) {
    st = dml_error(DML_ERR_FORMAT, "image %s is neither JPEG nor PNG", path);
  } else {
    st = k == KIND_JPEG ? jpeg_read(path, buf, n, 1, max_pixels, 1, &im) : png_read(path, buf, n, max_pixels, 1, &im);
    if (st && n < total) { /* the header may lie beyond the first 64 KiB (large EXIF blocks): try the whole file */
      free(buf);
      if ((st = read_file(path, -1, &buf, &n, NULL))) return st;
      st = k == KIND_JPEG ? jpeg_read(path, buf, n, 1, max_pixels, 1, &im) : png_read(path, buf, n, max_pixels, 1, &im);
    }
  }
  free(buf);
  if (!st) *w = im.w, *h = im.h, *kind = k;
  return st;
}

dml_status dml_image_read_file(const char *path, unsigned char **buf, size_t *n) {
  return read_file(path, -1, buf, n, NULL);
}

dml_status dml_image_header(const char *path, const unsigned char *buf, size_t n, long max_pixels, int *w, int *h) {
  int k = kind_of(buf, n);
  struct dml_image im = {0};
  dml_status st;
  if (k == KIND_JPEG) st = jpeg_read(path, buf, n, 1, max_pixels, 1, &im);
  else if (k == KIND_PNG) st = png_read(path, buf, n, max_pixels, 1, &im);
  else st = dml_error(DML_ERR_FORMAT, "image %s is neither JPEG nor PNG", path);
  *w = im.w, *h = im.h;
  return st;
}

dml_status dml_image_decode_buf(const char *path, const unsigned char *buf, size_t n, int scale, long max_pixels,
                                struct dml_image *out) {
  memset(out, 0, sizeof *out);
  int k = kind_of(buf, n);
  dml_status st;
  if (k == KIND_JPEG) st = jpeg_read(path, buf, n, scale, max_pixels, 0, out);
  else if (k == KIND_PNG) st = png_read(path, buf, n, max_pixels, 0, out);
  else st = dml_error(DML_ERR_FORMAT, "image %s is neither JPEG nor PNG", path);
  if (st) memset(out, 0, sizeof *out);
  return st;
}

dml_status dml_image_decode(const char *path, int scale, long max_pixels, struct dml_image *out) {
  unsigned char *buf = NULL;
  size_t n = 0;
  memset(out, 0, sizeof *out);
  dml_status st = read_file(path, -1, &buf, &n, NULL);
  if (st) return st;
  st = dml_image_decode_buf(path, buf, n, scale, max_pixels, out);
  free(buf);
  return st;
}

void dml_image_free(struct dml_image *im) {
  if (im->map) munmap(im->map, im->map_len);
  else free(im->rgb);
  memset(im, 0, sizeof *im);
}
