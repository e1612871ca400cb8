/* registry (datasets) — dataset name → loader, plus the helpers every dataset shares. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/datasets/datasets-impl.h"

static const struct {
  const char *name;
  dml_status (*load)(const struct dml_train_opts *, struct dml_dataset *, struct dml_dataset *);
} datasets[] = {
  {"fashion_mnist", dml_dataset_fashion_mnist},
  {"cub200", dml_dataset_cub200},
  {"cars196", dml_dataset_cars196},
  {"online_products", dml_dataset_online_products},
  {"in_shop", dml_dataset_in_shop},
  {"folder", dml_dataset_folder},
};

const char *dml_dataset_name(int i) {
  return i >= 0 && (size_t)i < sizeof datasets / sizeof *datasets ? datasets[i].name : NULL;
}

dml_status dml_dataset_load(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test) {
  size_t n = sizeof datasets / sizeof *datasets;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(o->dataset, datasets[i].name)) {
      memset(train, 0, sizeof *train);
      memset(test, 0, sizeof *test);
      dml_status st = datasets[i].load(o, train, test);
      if (st) {
        dml_dataset_free(train);
        dml_dataset_free(test);
        return strncmp(dml_error_message(), "dataset ", 8) ? dml_error_prefix(st, "dataset %s", o->dataset) : st;
      }
      if (train->n_classes < 2) return dml_error(DML_ERR_FORMAT, "dataset %s: fewer than 2 training classes", o->dataset);
      return DML_OK;
    }
  return dml_error(DML_ERR_ARG, "unknown --dataset '%s' (known: cub200, cars196, online_products, in_shop, folder, "
                   "fashion_mnist)", o->dataset);
}

void dml_dataset_free(struct dml_dataset *d) {
  if (d->val_split) {
    dml_dataset_free(d->val_split);
    free(d->val_split);
  }
  if (d->paths)
    for (int i = 0; i < d->n; i++) free(d->paths[i]);
  free(d->paths);
  if (d->src && --d->src->refs == 0) {
    dml_loader_free(d->src->loader);
    dml_image_cache_close(d->src->cache);
    free(d->src);
  }
  free(d->name);
  free(d->pixels);
  free(d->labels);
  free(d->classes);
  memset(d, 0, sizeof *d);
}

/* An image dataset's batch through the decode workers (train: the training transform of `epoch`). */
static dml_status image_batch(const struct dml_dataset *d, const int32_t *idx, int count, int train, long epoch,
                              long pos0, float *out) {
  const char **paths = xmalloc(((size_t)count + 1) * sizeof *paths);
  for (int i = 0; i < count; i++) paths[i] = d->paths[idx[i]];
  struct dml_batch_req q = {.paths = paths, .count = count, .tf = train ? &d->src->train_tf : &d->src->eval_tf,
                            .seed = d->src->seed, .epoch = (uint64_t)epoch, .pos0 = (uint64_t)pos0, .out = out,
                            .skip_bad = d->src->skip_bad};
  dml_status st = dml_loader_wait(d->src->loader, dml_loader_submit(d->src->loader, &q));
  free(paths);
  return st;
}

dml_status dml_dataset_batch_train(const struct dml_dataset *d, const int32_t *idx, int count, long epoch, long pos0,
                                   float *out) {
  if (d->paths) return image_batch(d, idx, count, 1, epoch, pos0, out);
  return dml_dataset_batch(d, idx, count, out);
}

dml_status dml_dataset_batch(const struct dml_dataset *d, const int32_t *idx, int count, float *out) {
  if (d->paths) return image_batch(d, idx, count, 0, 0, 0, out);
  size_t px = (size_t)d->height * d->width;
  for (int b = 0; b < count; b++) {
    const uint8_t *src = d->pixels + (size_t)idx[b] * d->channels * px;
    int out_ch = d->expand_rgb ? 3 : d->channels, ow = d->width + 2 * d->pad, oh = d->height + 2 * d->pad;
    size_t opx = (size_t)ow * oh;
    float *dst = out + (size_t)b * out_ch * opx;
    for (int c = 0; c < out_ch; c++) {
      int sc = d->expand_rgb ? 0 : c;
      float black = (0.0f - d->mean[sc]) / d->std[sc];
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
          int iy = y - d->pad, ix = x - d->pad;
          int in = iy >= 0 && iy < d->height && ix >= 0 && ix < d->width;
          dst[c * opx + (size_t)y * ow + x] =
              in ? (src[sc * px + (size_t)iy * d->width + ix] / 255.0f - d->mean[sc]) / d->std[sc] : black;
        }
    }
  }
  return DML_OK;
}

/* Keep the items with keep[i] in d, move the others to out (same image geometry and normalisation). */
static void partition(struct dml_dataset *d, const unsigned char *keep, struct dml_dataset *out, const char *name) {
  size_t px = (size_t)d->channels * d->height * d->width;
  memset(out, 0, sizeof *out);
  out->name = xstrdup(name);
  out->channels = d->channels;
  out->height = d->height;
  out->width = d->width;
  memcpy(out->mean, d->mean, sizeof d->mean);
  memcpy(out->std, d->std, sizeof d->std);
  out->pixels = xmalloc((size_t)d->n * px + 1);
  out->labels = xmalloc((size_t)d->n * sizeof *out->labels + 1);
  int k = 0;
  for (int i = 0; i < d->n; i++) {
    if (keep[i]) {
      memmove(d->pixels + (size_t)k * px, d->pixels + (size_t)i * px, px);
      d->labels[k++] = d->labels[i];
    } else {
      memcpy(out->pixels + (size_t)out->n * px, d->pixels + (size_t)i * px, px);
      out->labels[out->n++] = d->labels[i];
    }
  }
  d->n = k;
  struct dml_dataset *sets[2] = {d, out};
  for (int s = 0; s < 2; s++) {
    struct dml_dataset *x = sets[s];
    int32_t *cls = xmalloc(((size_t)x->n + 1) * sizeof *cls);
    int nc = 0;
    for (int i = 0; i < x->n; i++) {
      int seen = 0;
      for (int c = 0; c < nc && !seen; c++) seen = cls[c] == x->labels[i];
      if (!seen) cls[nc++] = x->labels[i];
    }
    for (int a = 1; a < nc; a++) /* ascending */
      for (int b = a; b > 0 && cls[b - 1] > cls[b]; b--) { int32_t t = cls[b]; cls[b] = cls[b - 1]; cls[b - 1] = t; }
    free(x->classes);
    x->classes = cls;
    x->n_classes = nc;
  }
}

dml_status dml_dataset_split_val(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *val) {
  if (train->paths) { /* an image dataset built its validation split by its own rule */
    if (!train->val_split) return dml_error(DML_ERR_STATE, "dataset %s has no validation split", o->dataset);
    *val = *train->val_split;
    free(train->val_split);
    train->val_split = NULL;
    return DML_OK;
  }
  if (!(o->tv_split_perc > 0 && o->tv_split_perc < 1))
    return dml_error(DML_ERR_ARG, "--tv_split_perc must be in (0, 1), got %g", o->tv_split_perc);
  unsigned char *keep = xcalloc((size_t)train->n + 1, 1);
  if (!o->tv_split_by_samples) {
    int n_keep = (int)floor(train->n_classes * o->tv_split_perc);
    if (n_keep < 1 || n_keep >= train->n_classes) {
      free(keep);
      return dml_error(DML_ERR_ARG, "--tv_split_perc %g leaves no class for training or validation (%d classes)",
                       o->tv_split_perc, train->n_classes);
    }
    for (int i = 0; i < train->n; i++)
      for (int c = 0; c < n_keep; c++) keep[i] |= train->labels[i] == train->classes[c];
  } else {
    for (int c = 0; c < train->n_classes; c++) {
      int n = 0;
      for (int i = 0; i < train->n; i++) n += train->labels[i] == train->classes[c];
      int m = (int)floor(n * o->tv_split_perc);
      /* positions round(linspace(0, n−1, m)) within the class, in file order */
      unsigned char *pick = xcalloc((size_t)n + 1, 1);
      int *at = xmalloc(((size_t)m + 1) * sizeof *at), k = dml_linspace_pick(n, m, at); /* numpy: half to even */
      for (int j = 0; j < k; j++) pick[at[j]] = 1;
      free(at);
      int r = 0;
      for (int i = 0; i < train->n; i++)
        if (train->labels[i] == train->classes[c]) keep[i] = pick[r++];
      free(pick);
    }
  }
  char *name = dml_strfmt("%s/val", o->dataset);
  partition(train, keep, val, name);
  free(name);
  free(keep);
  if (train->n_classes < 2 || val->n_classes < 2)
    return dml_error(DML_ERR_ARG,
                     "the train/validation split leaves %d training and %d validation classes; both need at least 2 "
                     "(lower --tv_split_perc or use --tv_split_by_samples)", train->n_classes, val->n_classes);
  return DML_OK;
}
