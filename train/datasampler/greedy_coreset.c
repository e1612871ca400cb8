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

#include "train/train.h"
#include "train/datasampler/coreset.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void greedy_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  if (!s->storage || s->storage_filled < s->data->n) {
    dml_sampler_class_random_batch(s, epoch, step, idx);
    return;
  }
  struct dml_rng r = dml_rng_init(s->seed, DML_RNG_SAMPLER, (uint64_t)epoch, (uint64_t)step);
  int n, dim;
  int32_t *sub;
  double *x = coreset_subset(s, &r, &n, &dim, &sub);
  int k = s->bs / s->samples_per_class;
  double *mind = xmalloc((size_t)n * sizeof *mind), *sorted = xmalloc((size_t)n * sizeof *sorted);
  for (int i = 0; i < n; i++) mind[i] = INFINITY;
  int c = (int)dml_rng_below(&r, (uint32_t)n);
  for (int g = 0; g < k; g++) {
    idx[g * s->samples_per_class] = sub[c];
    for (int i = 0; i < n; i++) mind[i] = fmin(mind[i], coreset_sqdist(x + (size_t)i * dim, x + (size_t)c * dim, dim));
    if (s->gc_softened) {
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

dml_status dml_sampler_greedy_coreset(const struct dml_train_opts *o, struct dml_sampler *s) {
  (void)o;
  if (s->bigbs < 1) return dml_error(DML_ERR_ARG, "--data_batchmatch_bigbs must be >= 1");
  s->needs_storage = 1;
  s->batch = greedy_batch;
  return DML_OK;
}
