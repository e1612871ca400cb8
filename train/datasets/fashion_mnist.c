/* fashion_mnist — Fashion-MNIST from Debian's dataset-fashion-mnist package (gzip-compressed IDX files).
 *
 * DML protocol, as the reference's class-disjoint splits (spec A5): train on the first half of the classes
 * (0–4) of the 60,000-image training file (30,000 images), test on the unseen classes (5–9) of the
 * 10,000-image test file (5,000 images). Labels keep their original values (test labels 5–9).
 * Files: <source_path>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "train/train.h"

static dml_status read_gz(const char *path, uint8_t **out, size_t *len) {
  gzFile f = gzopen(path, "rb");
  if (!f) return dml_error(DML_ERR_IO, "cannot open %s", path);
  size_t cap = 1 << 20, n = 0;
  uint8_t *buf = xmalloc(cap);
  for (;;) {
    if (n == cap) buf = xrealloc(buf, cap *= 2);
    int r = gzread(f, buf + n, (unsigned)(cap - n));
    if (r < 0) {
      int e;
      const char *msg = gzerror(f, &e);
      dml_status st = dml_error(DML_ERR_FORMAT, "%s: corrupt gzip data (%s)", path, msg);
      gzclose(f);
      free(buf);
      return st;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  gzclose(f);
  *out = buf;
  *len = n;
  return DML_OK;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Read one images/labels pair; keep the classes in [lo, hi], at most max_per_class of each. */
static dml_status load_pair(const char *root, const char *prefix, int lo, int hi, int max_per_class,
                            const char *name, struct dml_dataset *d) {
  char ip[4096], lp[4096];
  snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", root, prefix);
  snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", root, prefix);
  uint8_t *img = NULL, *lab = NULL;
  size_t ni = 0, nl = 0;
  dml_status st = read_gz(ip, &img, &ni);
  if (st) {
    dml_error_hint("install Debian's dataset-fashion-mnist (scripts/install-deps) or pass --source_path DIR");
    return st;
  }
  if ((st = read_gz(lp, &lab, &nl))) {
    free(img);
    return st;
  }
  if (ni < 16 || be32(img) != 0x803 || nl < 8 || be32(lab) != 0x801) {
    free(img);
    free(lab);
    return dml_error(DML_ERR_FORMAT, "%s / %s: not IDX image/label files (bad magic number)", ip, lp);
  }
  uint32_t count = be32(img + 4), h = be32(img + 8), w = be32(img + 12);
  if (be32(lab + 4) != count || ni != 16 + (size_t)count * h * w || nl != 8 + (size_t)count) {
    free(img);
    free(lab);
    return dml_error(DML_ERR_FORMAT, "%s: truncated or mismatched IDX files (%u images)", ip, count);
  }
  memset(d, 0, sizeof *d);
  d->name = xstrdup(name);
  d->channels = 1;
  d->height = (int)h;
  d->width = (int)w;
  d->mean[0] = 0.2860f; /* Fashion-MNIST training-set pixel mean and std (of pixel/255) */
  d->std[0] = 0.3530f;
  int taken[256] = {0};
  size_t px = (size_t)h * w;
  d->pixels = xmalloc((size_t)count * px);
  d->labels = xmalloc((size_t)count * sizeof *d->labels);
  for (uint32_t i = 0; i < count; i++) {
    int y = lab[8 + i];
    if (y < lo || y > hi) continue;
    if (max_per_class > 0 && taken[y] >= max_per_class) continue;
    taken[y]++;
    memcpy(d->pixels + (size_t)d->n * px, img + 16 + (size_t)i * px, px);
    d->labels[d->n++] = y;
  }
  free(img);
  free(lab);
  d->classes = xmalloc(256 * sizeof *d->classes);
  for (int y = 0; y < 256; y++)
    if (taken[y]) d->classes[d->n_classes++] = y;
  return DML_OK;
}

dml_status dml_dataset_fashion_mnist(const struct dml_train_opts *o, struct dml_dataset *train,
                                     struct dml_dataset *test) {
  const char *root = *o->source_path ? o->source_path : "/usr/share/datasets/fashion-mnist";
  dml_status st = load_pair(root, "train", 0, 4, o->max_per_class, "fashion_mnist/train", train);
  if (st) return st;
  if ((st = load_pair(root, "t10k", 5, 9, o->max_per_class, "fashion_mnist/test", test))) {
    dml_dataset_free(train);
    return st;
  }
  return DML_OK;
}
