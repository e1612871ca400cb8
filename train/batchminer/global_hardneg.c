/* global_hardneg — (dml) the course lab's hard-negative miner: for every anchor with a positive and a negative in
 * the batch, the positive is a uniform other same-label sample and the negative is drawn uniformly from the
 * anchor's k nearest other-label samples of the batch (k = --miner_global_hardneg_k, 30; all of them when fewer).
 * With --data_sampler global_hardneg each anchor's nearest neighbours of other classes over the whole training
 * set (refreshed as the storage is) are in the batch, which makes the negatives global hard negatives. */
#include <stdlib.h>

#include "train/methods.h"

struct global_hardneg {
  int k;
};

static dml_status mine_global_hardneg(const struct dml_miner *miner, const float *emb, const int32_t *labels, int B,
                                      int D, struct dml_rng *r, struct dml_tuples *out) {
  const struct global_hardneg *m = miner->state;
  double *dist = xmalloc((size_t)B * B * sizeof *dist), *bd = xmalloc((size_t)B * sizeof *bd);
  int32_t *bi = xmalloc((size_t)B * sizeof *bi);
  dml_pairwise_distances(emb, B, D, dist);
  int k = m->k < B ? m->k : B;
  for (int i = 0; i < B; i++) {
    int np = 0, nb = 0;
    for (int j = 0; j < B; j++) np += j != i && labels[j] == labels[i];
    if (!np) continue;
    for (int j = 0; j < B; j++) {
      if (labels[j] == labels[i]) continue;
      double d = dist[(size_t)i * B + j];
      if (nb == k && d >= bd[k - 1]) continue;
      int pos = nb < k ? nb++ : k - 1;
      while (pos > 0 && bd[pos - 1] > d) bd[pos] = bd[pos - 1], bi[pos] = bi[pos - 1], pos--;
      bd[pos] = d, bi[pos] = j;
    }
    if (!nb) continue;
    int p = dml_miner_random_positive(labels, i, B, r);
    dml_tuples_push(out, i, p, bi[dml_rng_below(r, (uint32_t)nb)]);
  }
  free(dist);
  free(bd);
  free(bi);
  return DML_OK;
}

static const struct dml_flag global_hardneg_flags[] = {
  DML_METHOD_FLAG(miner_global_hardneg_k, INT, "30", "(dml) global_hardneg miner: negative drawn from the anchor's k nearest negatives in the batch"),
};

static dml_status global_hardneg_create(const struct dml_opts *opt, struct dml_miner *m) {
  int k = dml_opts_int(opt, "miner_global_hardneg_k");
  if (k < 1) return dml_error(DML_ERR_ARG, "--miner_global_hardneg_k must be >= 1");
  struct global_hardneg *s = xmalloc(sizeof *s);
  s->k = k;
  m->state = s;
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_global_hardneg = {
  .name = "global_hardneg",
  .internal_name = "global_hardneg",
  .summary = "(dml) a negative among each anchor's k nearest in the batch",
  DML_METHOD_FLAGS(global_hardneg_flags),
  .create = global_hardneg_create,
  .mine = mine_global_hardneg,
};
