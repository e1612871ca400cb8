/* greedy_coreset — greedy k-center batch selection on the embedding storage (spec A7). Per batch: a random
 * subset of --data_batchmatch_bigbs storage rows; optional random Gaussian projection to
 * --data_sampler_lowproj_dim dimensions; squared Euclidean distances; greedy k-center selection of bs/spc centres
 * (first uniform, then the argmax of the min-distance to the chosen centres, or with --data_gc_softened a uniform
 * point whose min-distance is at or above the 97th percentile); then spc − 1 uniform same-class fillers per centre.
 * Differences from the reference, stated: the chosen positions are mapped back through the same subset they
 * were computed on (the reference maps them through a different random index array, BUG S1, which made its
 * selection effectively random); batches are computed when asked, from the current storage (the reference
 * precomputes an epoch's batches in 16 workers). Falls back to class_random until the storage is complete.
 * Randomness: the counter stream (seed, SAMPLER, epoch, step). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/methods.h"
#include "train/datasampler/coreset.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

struct greedy_coreset {
  struct coreset_opts c;
  int softened;                 /* --data_gc_softened */
};

static void greedy_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  const struct greedy_coreset *st = s->state;
  if (!s->storage || s->storage_filled < s->data.n) {
    dml_sampler_class_random_batch(s, epoch, step, idx);
    return;
  }
  struct dml_rng r = dml_rng_init(s->seed, DML_RNG_SAMPLER, (uint64_t)epoch, (uint64_t)step);
  int n, dim;
  int32_t *sub;
  double *x = coreset_subset(s, &st->c, &r, &n, &dim, &sub);
  int k = s->bs / s->samples_per_class;
  double *mind = xmalloc((size_t)n * sizeof *mind), *sorted = xmalloc((size_t)n * sizeof *sorted);
  for (int i = 0; i < n; i++) mind[i] = INFINITY;
  int c = (int)dml_rng_below(&r, (uint32_t)n);
  for (int g = 0; g < k; g++) {
    idx[g * s->samples_per_class] = sub[c];
    for (int i = 0; i < n; i++) mind[i] = fmin(mind[i], coreset_sqdist(x + (size_t)i * dim, x + (size_t)c * dim, dim));
    if (st->softened) {
      memcpy(sorted, mind, (size_t)n * sizeof *sorted);
      qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
      double thr = sorted[(int)floor(0.97 * (n - 1))];
      int cnt = 0;
      for (int i = 0; i < n; i++) cnt += mind[i] >= thr;
      int pick = (int)dml_rng_below(&r, (uint32_t)cnt);
      for (int i = 0; i < n; i++)
        if (mind[i] >= thr && pick-- == 0) {
          c = i;
          break;
        }
    } else {
      c = 0;
      for (int i = 1; i < n; i++)
        if (mind[i] > mind[c]) c = i;
    }
  }
  dml_sampler_fill_classes(s, &r, idx);
  free(mind);
  free(sorted);
  free(x);
  free(sub);
}

static const struct dml_flag greedy_coreset_flags[] = {
  CORESET_FLAGS,
  DML_METHOD_FLAG(data_gc_softened, BOOL, "0", "greedy coreset: random point above the 97th percentile instead of the argmax"),
  DML_METHOD_FLAG(data_gc_coreset_lim, FLOAT, "1e-9", "stored, unused (as the reference)"),
  DML_METHOD_FLAG(data_sim_measure, STR, "euclidean", "stored, unused (as the reference)"),
  DML_METHOD_FLAG(data_idx_full_prec, BOOL, "0", "deprecated in the reference; accepted"),
  DML_METHOD_FLAG(data_mb_lr, FLOAT, "1", "deprecated in the reference; accepted"),
};

static dml_status greedy_coreset_create(const struct dml_opts *opt, struct dml_sampler *s) {
  struct greedy_coreset g;
  dml_status st = coreset_opts_read(opt, &g.c);
  if (st) return st;
  g.softened = dml_opts_int(opt, "data_gc_softened");
  s->state = xmalloc(sizeof g);
  memcpy(s->state, &g, sizeof g);
  return DML_OK;
}

const struct dml_sampler_def dml_sampler_def_greedy_coreset = {
  .name = "greedy_coreset",
  .summary = "greedy k-center centres on the embedding storage",
  DML_METHOD_FLAGS(greedy_coreset_flags),
  .needs_storage = 1,
  .create = greedy_coreset_create,
  .batch = greedy_batch,
};
