/* global_hardneg — (dml) the course lab's global hard-negative batches, built on the embedding storage (the
 * whole training set's embeddings, refreshed by the trainer with every batch, so at every epoch). A batch is
 * bs/spc groups of spc same-class samples: groups are made in pairs; the first of a pair is a class_random group
 * (class uniform, spc samples uniform with replacement) whose first element is the anchor a; the second is the
 * hard-negative group: n drawn uniformly from a's k nearest storage neighbours of another class
 * (k = --data_hardneg_k, Euclidean), then spc − 1 uniform samples of n's class. With an odd number of groups the last
 * is a class_random group. Any miner then finds those negatives in the batch (global_hardneg, semihard, …).
 * Falls back to class_random until the storage is complete. Randomness: (seed, SAMPLER, epoch, step).
 * Cost: one pass over the storage per anchor group (bs/(2·spc) · N · D multiply-adds per batch). */
#include <math.h>
#include <stdlib.h>

#include "train/methods.h"

static void group_of(const struct dml_sampler *s, struct dml_rng *r, int c, int32_t first, int32_t *out) {
  out[0] = first;
  for (int j = 1; j < s->samples_per_class; j++) out[j] = s->by_class[c][dml_rng_below(r, (uint32_t)s->class_count[c])];
}

struct hardneg {
  int k;                        /* --data_hardneg_k */
};

static void hardneg_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  const struct hardneg *st = s->state;
  if (!s->storage || s->storage_filled < s->data.n) {
    dml_sampler_class_random_batch(s, epoch, step, idx);
    return;
  }
  struct dml_rng r = dml_rng_init(s->seed, DML_RNG_SAMPLER, (uint64_t)epoch, (uint64_t)step);
  int spc = s->samples_per_class, G = s->bs / spc, N = s->data.n, D = s->storage_dim;
  int k = st->k > 0 ? st->k : 1;
  double *bestd = xmalloc((size_t)k * sizeof *bestd);
  int32_t *besti = xmalloc((size_t)k * sizeof *besti);
  for (int g = 0; g < G; g++) {
    int c = (int)dml_rng_below(&r, (uint32_t)s->data.n_classes);
    int32_t a = s->by_class[c][dml_rng_below(&r, (uint32_t)s->class_count[c])];
    group_of(s, &r, c, a, idx + g * spc);
    if (g + 1 >= G) break;
    /* k nearest other-class neighbours of a (insertion into a sorted list; ties by index) */
    int nb = 0;
    const float *xa = s->storage + (size_t)a * D;
    for (int j = 0; j < N; j++) {
      if (s->data.labels[j] == s->data.labels[a]) continue;
      const float *xj = s->storage + (size_t)j * D;
      double d = 0;
      for (int q = 0; q < D; q++) d += ((double)xa[q] - xj[q]) * ((double)xa[q] - xj[q]);
      if (nb == k && d >= bestd[k - 1]) continue;
      int pos = nb < k ? nb++ : k - 1;
      while (pos > 0 && bestd[pos - 1] > d) bestd[pos] = bestd[pos - 1], besti[pos] = besti[pos - 1], pos--;
      bestd[pos] = d, besti[pos] = j;
    }
    g++;
    if (!nb) { /* a single class: a plain group */
      int c2 = (int)dml_rng_below(&r, (uint32_t)s->data.n_classes);
      group_of(s, &r, c2, s->by_class[c2][dml_rng_below(&r, (uint32_t)s->class_count[c2])], idx + g * spc);
      continue;
    }
    int32_t n = besti[dml_rng_below(&r, (uint32_t)nb)];
    group_of(s, &r, dml_sampler_class_of(s, n), n, idx + g * spc);
  }
  free(bestd);
  free(besti);
}

static const struct dml_flag hardneg_flags[] = {
  DML_METHOD_FLAG(data_hardneg_k, INT, "30", "(dml) global_hardneg sampler: each anchor's negative group comes from its k nearest other-class neighbours in the storage"),
};

static dml_status hardneg_create(const struct dml_opts *opt, struct dml_sampler *s) {
  int k = dml_opts_int(opt, "data_hardneg_k");
  if (k < 1) return dml_error(DML_ERR_ARG, "--data_hardneg_k must be >= 1");
  struct hardneg *p = xmalloc(sizeof *p);
  p->k = k;
  s->state = p;
  return DML_OK;
}

const struct dml_sampler_def dml_sampler_def_global_hardneg = {
  .name = "global_hardneg",
  .summary = "(dml) class_random groups paired with groups of their nearest other-class storage neighbours",
  DML_METHOD_FLAGS(hardneg_flags),
  .needs_storage = 1,
  .create = hardneg_create,
  .batch = hardneg_batch,
};
