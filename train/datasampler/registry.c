/* registry (datasampler) — a sampler by name from the list (train/datasampler/list.h, tabled in train/registry.c),
 * built for a shape, with the per-class index, the embedding storage and the helpers the samplers share. */
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

const struct dml_sampler_def *dml_sampler_def(int i) {
  for (int k = 0; dml_sampler_defs[k]; k++)
    if (k == i) return dml_sampler_defs[k];
  return NULL;
}

const char *dml_sampler_name(int i) {
  const struct dml_sampler_def *d = dml_sampler_def(i);
  return d ? d->name : NULL;
}

/* NIR's --data_ssl_set (datasampler/class_random_sampler.py): draws = (bs // spc) // 2 class groups, then the
 * list twice; batch_len = 2·draws·spc, which is below bs when bs/spc is odd (bs 90, spc 2: 88). The inner
 * sampler's first draws·spc entries are its first `draws` groups. */
static void ssl_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  int32_t *full = xmalloc((size_t)s->bs * sizeof *full);
  s->inner_batch(s, epoch, step, full);
  int half = s->batch_len / 2;
  for (int i = 0; i < half; i++) idx[i] = idx[half + i] = full[i];
  free(full);
}

dml_status dml_sampler_create(const char *name, const struct dml_opts *opt, const struct dml_sampler_shape *d,
                              struct dml_sampler *s) {
  memset(s, 0, sizeof *s);
  const struct dml_sampler_def *def = NULL;
  for (int i = 0; dml_sampler_defs[i] && !def; i++)
    if (!strcmp(name, dml_sampler_defs[i]->name) || (dml_sampler_defs[i]->alias && !strcmp(name, dml_sampler_defs[i]->alias)))
      def = dml_sampler_defs[i];
  if (!def) {
    if (strstr(name, "fid_batchmatch"))
      return dml_error(DML_ERR_ARG, "--data_sampler fid_batchmatch is broken in the reference (BUG S2) and not provided");
    char known[256] = "";
    for (int i = 0; dml_sampler_defs[i]; i++) {
      strncat(known, i ? " " : "", sizeof known - strlen(known) - 1);
      strncat(known, dml_sampler_defs[i]->name, sizeof known - strlen(known) - 1);
      if (dml_sampler_defs[i]->alias) {
        strncat(known, " ", sizeof known - strlen(known) - 1);
        strncat(known, dml_sampler_defs[i]->alias, sizeof known - strlen(known) - 1);
      }
    }
    return dml_error(DML_ERR_ARG, "unknown --data_sampler '%s' (known: %s)", name, known);
  }
  if (d->samples_per_class < 1) return dml_error(DML_ERR_ARG, "--samples_per_class must be >= 1");
  if (d->bs < 1 || d->bs % d->samples_per_class)
    return dml_error(DML_ERR_ARG, "--bs %d is not a positive multiple of --samples_per_class %d", d->bs,
                     d->samples_per_class);
  if (d->n < d->bs) return dml_error(DML_ERR_ARG, "--bs %d is larger than the training set (%d images)", d->bs, d->n);
  int ssl = dml_opts_int(opt, "data_ssl_set"), draws = (d->bs / d->samples_per_class) / 2;
  if (ssl && draws < 1)
    return dml_error(DML_ERR_ARG, "--data_ssl_set needs at least 2 class groups per batch (--bs %d, "
                                  "--samples_per_class %d)", d->bs, d->samples_per_class);
  s->name = def->name;
  s->def = def;
  s->data = *d;
  s->bs = d->bs;
  s->batch_len = ssl ? 2 * draws * d->samples_per_class : d->bs;
  s->samples_per_class = d->samples_per_class;
  s->seed = d->seed;
  s->n_batches = d->n / d->bs;
  s->storage_no_update = dml_opts_int(opt, "data_storage_no_update");
  s->mb_mom = dml_opts_float(opt, "data_mb_mom");
  s->needs_storage = def->needs_storage;
  s->batch = def->batch;
  s->by_class = xcalloc((size_t)d->n_classes, sizeof *s->by_class);
  s->class_count = xcalloc((size_t)d->n_classes, sizeof *s->class_count);
  for (int c = 0; c < d->n_classes; c++) s->by_class[c] = xmalloc((size_t)d->n * sizeof(int32_t));
  for (int i = 0; i < d->n; i++)
    for (int c = 0; c < d->n_classes; c++)
      if (d->classes[c] == d->labels[i]) {
        s->by_class[c][s->class_count[c]++] = i;
        break;
      }
  dml_status st = def->create ? def->create(opt, s) : DML_OK;
  if (st) {
    dml_sampler_free(s);
    return st;
  }
  if (ssl) {
    s->inner_batch = s->batch;
    s->batch = ssl_batch;
  }
  return DML_OK;
}

void dml_sampler_update(struct dml_sampler *s, const int32_t *idx, const float *emb, int count, int D) {
  if (!s->needs_storage || D < 1) return;
  if (!s->storage || s->storage_dim != D) {
    free(s->storage);
    free(s->storage_seen);
    s->storage = xcalloc((size_t)s->data.n * D, sizeof *s->storage);
    s->storage_seen = xcalloc((size_t)s->data.n, 1);
    s->storage_dim = D;
    s->storage_filled = 0;
  }
  int mom = s->mb_mom > 0 && s->mb_mom < 1;
  for (int i = 0; i < count; i++) {
    if (idx[i] < 0 || idx[i] >= s->data.n) continue;
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
  int n = s->data.n;
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
    for (int c = 0; c < s->data.n_classes; c++) free(s->by_class[c]);
  free(s->by_class);
  free(s->class_count);
  free(s->storage);
  free(s->storage_seen);
  free(s->state);
  memset(s, 0, sizeof *s);
}

int dml_sampler_class_of(const struct dml_sampler *s, int32_t idx) {
  const struct dml_sampler_shape *d = &s->data;
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
