/* registry (datasets) — dataset name → loader, plus the helpers every dataset shares. */
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

static const struct {
  const char *name;
  dml_status (*load)(const struct dml_train_opts *, struct dml_dataset *, struct dml_dataset *);
} datasets[] = {
  {"fashion_mnist", dml_dataset_fashion_mnist},
};

dml_status dml_dataset_load(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test) {
  size_t n = sizeof datasets / sizeof *datasets;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(o->dataset, datasets[i].name)) {
      dml_status st = datasets[i].load(o, train, test);
      if (st) return dml_error_prefix(st, "dataset %s", o->dataset);
      if (train->n_classes < 2) return dml_error(DML_ERR_FORMAT, "dataset %s: fewer than 2 training classes", o->dataset);
      return DML_OK;
    }
  return dml_error(DML_ERR_ARG, "unknown --dataset '%s' (known in this build: fashion_mnist)", o->dataset);
}

void dml_dataset_free(struct dml_dataset *d) {
  free(d->name);
  free(d->pixels);
  free(d->labels);
  free(d->classes);
  memset(d, 0, sizeof *d);
}

void dml_dataset_batch(const struct dml_dataset *d, const int32_t *idx, int count, float *out) {
  size_t px = (size_t)d->height * d->width;
  for (int b = 0; b < count; b++) {
    const uint8_t *src = d->pixels + (size_t)idx[b] * d->channels * px;
    float *dst = out + (size_t)b * d->channels * px;
    for (int c = 0; c < d->channels; c++)
      for (size_t i = 0; i < px; i++)
        dst[c * px + i] = (src[c * px + i] / 255.0f - d->mean[c]) / d->std[c];
  }
}
