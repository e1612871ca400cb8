/* gen — synthetic benchmark-shaped image trees (see gen.h). */
#include "tests/datasets/gen.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "common/common.h"

int gen_mkdirs(const char *path) {
  char *p = xstrdup(path);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/') continue;
    *c = 0;
    if (mkdir(p, 0777) && errno != EEXIST) return free(p), -1;
    *c = '/';
  }
  int r = mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
  free(p);
  return r;
}

static void pattern(uint8_t *px, int w, int h, int ch, uint64_t seed, int cls) {
  struct dml_rng r = dml_rng_init(seed, DML_RNG_TEST, (uint64_t)cls, 0);
  double fx = 0.02 + 0.01 * (cls % 7), fy = 0.015 + 0.01 * (cls % 5), ph = cls * 0.7;
  int base[3] = {(cls * 53) % 200 + 28, (cls * 97) % 200 + 28, (cls * 151) % 200 + 28};
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < ch; c++) {
        double v = base[c % 3] + 40 * __builtin_sin(x * fx + ph + c) + 30 * __builtin_cos(y * fy - c) +
                   (double)(dml_rng_u32(&r) % 33) - 16;
        px[((size_t)y * w + x) * ch + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
}

int gen_jpeg(const char *path, int w, int h, uint64_t seed, int cls, int gray, int quality) {
  int ch = gray ? 1 : 3;
  uint8_t *px = xmalloc((size_t)w * h * ch);
  pattern(px, w, h, ch, seed, cls);
  tjhandle tj = tjInitCompress();
  unsigned char *jpg = NULL;
  unsigned long n = 0;
  int r = tjCompress2(tj, px, w, 0, h, gray ? TJPF_GRAY : TJPF_RGB, &jpg, &n, gray ? TJSAMP_GRAY : TJSAMP_420,
                      quality, 0);
  free(px);
  FILE *f = r ? NULL : fopen(path, "wb");
  if (f) {
    r = fwrite(jpg, 1, n, f) != n;
    r |= fclose(f) != 0;
  } else {
    r = -1;
  }
  tjFree(jpg);
  tjDestroy(tj);
  return r;
}

int gen_png(const char *path, int w, int h, uint64_t seed, int cls, int color_type, int depth) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(p);
  if (setjmp(png_jmpbuf(p))) {
    png_destroy_write_struct(&p, &info);
    fclose(f);
    return -1;
  }
  png_init_io(p, f);
  png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, depth, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  int ch = color_type == 0 ? 1 : color_type == 2 ? 3 : color_type == 3 ? 1 : color_type == 4 ? 2 : 4;
  if (color_type == 3) {
    png_color pal[256];
    for (int i = 0; i < 256; i++) pal[i] = (png_color){(png_byte)i, (png_byte)(255 - i), (png_byte)(i * 7)};
    png_set_PLTE(p, info, pal, 1 << (depth < 8 ? depth : 8));
  }
  png_write_info(p, info);
  uint8_t *px = xmalloc((size_t)w * h * ch);
  pattern(px, w, h, ch, seed, cls);
  size_t rowbytes = depth == 16 ? (size_t)w * ch * 2 : ((size_t)w * ch * depth + 7) / 8;
  uint8_t *row = xcalloc(rowbytes + 1, 1);
  for (int y = 0; y < h; y++) {
    memset(row, 0, rowbytes);
    for (int x = 0; x < w * ch; x++) {
      int v = px[(size_t)y * w * ch + x];
      if (depth == 16) { /* big-endian; spread so that high and low bytes both vary, some gray values below 256 */
        int v16 = color_type == 0 && (x % 3 == 0) ? v : v * 257 + (x & 0xff);
        row[2 * x] = (uint8_t)(v16 >> 8), row[2 * x + 1] = (uint8_t)v16;
      } else if (depth == 8) {
        row[x] = (uint8_t)v;
      } else {
        int q = v >> (8 - depth), per = 8 / depth;
        row[x / per] |= (uint8_t)(q << (8 - depth * (x % per + 1)));
      }
    }
    png_write_row(p, row);
  }
  png_write_end(p, NULL);
  png_destroy_write_struct(&p, &info);
  free(px);
  free(row);
  return fclose(f) ? -1 : 0;
}

static void vary_size(int *w, int *h, int i, int c, int vary) {
  if (!vary) return;
  int dw = (int)((unsigned)(i * 7919 + c * 104729) % 51) - 25, dh = (int)((unsigned)(i * 6271 + c * 7877) % 51) - 25;
  *w += *w * dw / 100;
  *h += *h * dh / 100;
}

int gen_cub(const char *root, int n_classes, int per_class, int w, int h, int vary) {
  int r = 0;
  for (int c = 0; c < n_classes && !r; c++) {
    char *dir = dml_strfmt("%s/cub200/images/%03d.Class_%03d", root, c + 1, c + 1);
    r = gen_mkdirs(dir);
    for (int i = 0; i < per_class && !r; i++) {
      char *p = dml_strfmt("%s/Class_%03d_%04d.jpg", dir, c + 1, i);
      int ww = w, hh = h;
      vary_size(&ww, &hh, i, c, vary);
      r = gen_jpeg(p, ww, hh, (uint64_t)(c * 1000 + i), c, 0, 90);
      free(p);
    }
    free(dir);
  }
  return r;
}

int gen_cars(const char *root, int n_classes, int per_class, int w, int h) {
  int r = 0;
  for (int c = 0; c < n_classes && !r; c++) { /* names whose string order differs from numeric order */
    char *dir = dml_strfmt("%s/cars196/images/Make %d Model", root, c + 1);
    r = gen_mkdirs(dir);
    for (int i = 0; i < per_class && !r; i++) {
      char *p = dml_strfmt("%s/%05d.jpg", dir, c * 100 + i);
      int ww = w, hh = h;
      vary_size(&ww, &hh, i, c, 1);
      r = gen_jpeg(p, ww, hh, (uint64_t)(c * 1000 + i), c, 0, 90);
      free(p);
    }
    free(dir);
  }
  return r;
}

int gen_sop(const char *root, int n_super, int classes_per_super, int per_class, int w, int h) {
  char *info = dml_strfmt("%s/online_products/Info_Files", root);
  int r = gen_mkdirs(info);
  char *ft = dml_strfmt("%s/Ebay_train.txt", info), *fe = dml_strfmt("%s/Ebay_test.txt", info);
  FILE *tr = fopen(ft, "w"), *te = fopen(fe, "w");
  if (!tr || !te) r = -1;
  if (!r) fprintf(tr, "image_id class_id super_class_id path\n"), fprintf(te, "image_id class_id super_class_id path\n");
  int id = 1, n_classes = n_super * classes_per_super;
  /* train = the first half of the class ids, test = the rest; rows interleave super-classes so that first
   * appearance order differs from id order */
  for (int k = 0; k < n_classes && !r; k++) {
    int sc = (k * 2 + 1) % n_super, cls = k + 1;
    char *sdir = dml_strfmt("%s/online_products/images/super%d_final", root, sc + 1);
    r = gen_mkdirs(sdir);
    for (int i = 0; i < per_class && !r; i++) {
      char *rel = dml_strfmt("super%d_final/%d_%d.JPG", sc + 1, cls, i), *p = dml_strfmt("%s/online_products/images/%s", root, rel);
      r = gen_jpeg(p, w, h, (uint64_t)(cls * 1000 + i), cls, 0, 90);
      fprintf(k < n_classes / 2 ? tr : te, "%d %d %d %s\n", id++, cls, sc + 1, rel);
      free(rel);
      free(p);
    }
    free(sdir);
  }
  if (tr) r |= fclose(tr) != 0;
  if (te) r |= fclose(te) != 0;
  free(ft), free(fe), free(info);
  return r;
}

int gen_inshop(const char *root, int n_items, int per_item, int w, int h) {
  char *base = dml_strfmt("%s/in_shop", root), *list = dml_strfmt("%s/list_eval_partition.txt", base);
  int r = gen_mkdirs(base);
  FILE *f = r ? NULL : fopen(list, "w");
  if (!f) r = -1;
  if (!r) fprintf(f, "%d\nimage_name item_id evaluation_status\n", n_items * per_item);
  for (int it = 0; it < n_items && !r; it++) {
    char *dir = dml_strfmt("%s/img/WOMEN/Dresses/id_%08d", base, it * 3 + 1);
    r = gen_mkdirs(dir);
    for (int i = 0; i < per_item && !r; i++) {
      char *p = dml_strfmt("%s/%02d_%d_front.jpg", dir, i + 1, i);
      r = gen_jpeg(p, w, h, (uint64_t)(it * 1000 + i), it, 0, 90);
      const char *status = it < n_items / 2 ? "train" : i == 0 ? "query" : "gallery";
      fprintf(f, "img/WOMEN/Dresses/id_%08d/%02d_%d_front.jpg  id_%08d  %s\n", it * 3 + 1, i + 1, i, it * 3 + 1, status);
      free(p);
    }
    free(dir);
  }
  if (f) r |= fclose(f) != 0;
  free(base), free(list);
  return r;
}
