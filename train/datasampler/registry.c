/* registry (datasampler) — sampler name → constructor, and the per-class index the samplers share. */
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

static const struct {
  const char *name;
  dml_status (*create)(const struct dml_train_opts *, struct dml_sampler *);
} samplers[] = {
  {"class_random", dml_sampler_class_random},
  {"full_random", dml_sampler_full_random},
  {"random", dml_sampler_full_random}, /* (dml) alias; the reference's substring dispatch crashes on it */
  {"greedy_coreset", dml_sampler_greedy_coreset},
  {"d2_coreset", dml_sampler_d2_coreset},
  {"disthist_batchmatch", dml_sampler_disthist_batchmatch},
  {"global_hardneg", dml_sampler_global_hardneg}, /* (dml) the course lab's global hard negatives */
};

const char *dml_sampler_name(int i) {
  return i >= 0 && (size_t)i < sizeof samplers / sizeof *samplers ? samplers[i].name : NULL;
}

static void ssl_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  s->inner_batch(s, epoch, step, idx);
  for (int i = 0; i < s->bs / 2; i++) idx[s->bs - s->bs / 2 + i] = idx[i];
}

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
  s->storage_no_update = o->data_storage_no_update;
  s->mb_mom = o->data_mb_mom;
  s->bigbs = o->data_batchmatch_bigbs;
  s->ncomps = o->data_batchmatch_ncomps;
  s->lowproj_dim = o->data_sampler_lowproj_dim;
  s->gc_softened = o->data_gc_softened;
  s->d2_lambda = o->data_d2_coreset_lambda;
  s->hardneg_k = o->data_hardneg_k;
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
      dml_status st = samplers[i].create(o, s);
      if (!st && o->data_ssl_set) {
        if (o->bs % 2) {
          dml_sampler_free(s);
          return dml_error(DML_ERR_ARG, "--data_ssl_set needs an even --bs (got %d)", o->bs);
        }
        s->inner_batch = s->batch;
        s->batch = ssl_batch;
      }
      return st;
    }
  dml_sampler_free(s);
  if (strstr(o->data_sampler, "fid_batchmatch"))
    return dml_error(DML_ERR_ARG, "--data_sampler fid_batchmatch is broken in the reference (BUG S2) and not provided");
  char known[256] = "";
  for (size_t i = 0; i < sizeof samplers / sizeof *samplers; i++) {
    strncat(known, i ? " " : "", sizeof known - strlen(known) - 1);
    strncat(known, samplers[i].name, sizeof known - strlen(known) - 1);
  }
  return dml_error(DML_ERR_ARG, "unknown --data_sampler '%s' (known: %s)", o->data_sampler, known);
}

void dml_sampler_update(struct dml_sampler *s, const int32_t *idx, const float *emb, int count, int D) {
  if (!s->needs_storage || D < 1) return;
  if (!s->storage || s->storage_dim != D) {
    free(s->storage);
    free(s->storage_seen);
    s->storage = xcalloc((size_t)s->data->n * D, sizeof *s->storage);
    s->storage_seen = xcalloc((size_t)s->data->n, 1);
    s->storage_dim = D;
    s->storage_filled = 0;
  }
  int mom = s->mb_mom > 0 && s->mb_mom < 1;
  for (int i = 0; i < count; i++) {
    if (idx[i] < 0 || idx[i] >= s->data->n) continue;
    float *row = s->storage + (size_t)idx[i] * D;
    const float *e = emb + (size_t)i * D;
    if (mom && s->storage_seen[idx[i]])
      for (int k = 0; k < D; k++) row[k] = (float)(s->mb_mom * row[k] + (1 - s->mb_mom) * e[k]);
    else
      for (int k = 0; k < D; k++) row[k] = e[k];
    if (!s->storage_seen[idx[i]]) s->storage_seen[idx[i]] = 1, s->storage_filled++;
  }
}

void dml_sampler_subset(const struct dml_sampler *s, struct dml_rng *r, int count, int32_t *out) {
  int n = s->data->n;
  if (count > n) count = n;
  int32_t *perm = xmalloc((size_t)n * sizeof *perm);
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = 0; i < count; i++) {
    int j = i + (int)dml_rng_below(r, (uint32_t)(n - i));
    int32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
    out[i] = perm[i];
  }
  free(perm);
}

void dml_sampler_free(struct dml_sampler *s) {
  if (s->by_class)
    for (int c = 0; s->data && c < s->data->n_classes; c++) free(s->by_class[c]);
  free(s->by_class);
  free(s->class_count);
  free(s->storage);
  free(s->storage_seen);
  memset(s, 0, sizeof *s);
}

int dml_sampler_class_of(const struct dml_sampler *s, int32_t idx) {
  const struct dml_dataset *d = s->data;
  int lo = 0, hi = d->n_classes - 1;
  int32_t y = d->labels[idx];
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (d->classes[mid] == y) return mid;
    if (d->classes[mid] < y) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

void dml_sampler_fill_classes(const struct dml_sampler *s, struct dml_rng *r, int32_t *idx) {
  int spc = s->samples_per_class;
  for (int g = 0; g < s->bs / spc; g++) {
    int c = dml_sampler_class_of(s, idx[g * spc]);
    for (int j = 1; j < spc; j++) idx[g * spc + j] = s->by_class[c][dml_rng_below(r, (uint32_t)s->class_count[c])];
  }
}
