/* registry (datasampler) — sampler name → constructor, and the per-class index the samplers share. */
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

static const struct {
  const char *name;
  dml_status (*create)(const struct dml_train_opts *, struct dml_sampler *);
} samplers[] = {
  {"class_random", dml_sampler_class_random},
};

dml_status dml_sampler_create(const struct dml_train_opts *o, const struct dml_dataset *d, struct dml_sampler *s) {
  memset(s, 0, sizeof *s);
  if (o->samples_per_class < 1) return dml_error(DML_ERR_ARG, "--samples_per_class must be >= 1");
  if (o->bs < 1 || o->bs % o->samples_per_class)
    return dml_error(DML_ERR_ARG, "--bs %d is not a positive multiple of --samples_per_class %d", o->bs,
                     o->samples_per_class);
  if (d->n < o->bs) return dml_error(DML_ERR_ARG, "--bs %d is larger than the training set (%d images)", o->bs, d->n);
  s->data = d;
  s->bs = o->bs;
  s->samples_per_class = o->samples_per_class;
  s->seed = (uint64_t)o->seed;
  s->n_batches = d->n / o->bs;
  s->by_class = xcalloc((size_t)d->n_classes, sizeof *s->by_class);
  s->class_count = xcalloc((size_t)d->n_classes, sizeof *s->class_count);
  for (int c = 0; c < d->n_classes; c++) s->by_class[c] = xmalloc((size_t)d->n * sizeof(int32_t));
  for (int i = 0; i < d->n; i++)
    for (int c = 0; c < d->n_classes; c++)
      if (d->classes[c] == d->labels[i]) {
        s->by_class[c][s->class_count[c]++] = i;
        break;
      }
  for (size_t i = 0; i < sizeof samplers / sizeof *samplers; i++)
    if (!strcmp(o->data_sampler, samplers[i].name)) {
      s->name = samplers[i].name;
      return samplers[i].create(o, s);
    }
  dml_sampler_free(s);
  return dml_error(DML_ERR_ARG, "unknown --data_sampler '%s' (known in this build: class_random)", o->data_sampler);
}

void dml_sampler_free(struct dml_sampler *s) {
  if (s->by_class)
    for (int c = 0; s->data && c < s->data->n_classes; c++) free(s->by_class[c]);
  free(s->by_class);
  free(s->class_count);
  memset(s, 0, sizeof *s);
}
