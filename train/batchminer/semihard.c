/* semihard — the reference's semihard miner (spec A8, B2): for every anchor i, the positive is a random other
 * same-label sample; the negative is drawn uniformly among negatives with d_ap < d_an < d_ap + margin, or
 * uniformly among all negatives when there is none. margin = --miner_semihard_margin when ≥ 0 (the NIR flag),
 * else the loss's own margin (--loss_triplet_margin / --loss_margin_margin / --loss_snr_margin, as Revisit;
 * other losses are an error here where Revisit crashes). Anchors without a positive or a negative are skipped
 * (the reference assumes they exist). Distances are the detached reference ones (dml_pairwise_distances). */
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

static dml_status mine_semihard(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                                struct dml_rng *r, struct dml_tuples *out) {
  double *dist = xmalloc((size_t)B * B * sizeof *dist);
  int32_t *cand = xmalloc((size_t)B * sizeof *cand);
  dml_pairwise_distances(emb, B, D, dist);
  for (int i = 0; i < B; i++) {
    int np = 0, nn = 0;
    for (int j = 0; j < B; j++) {
      np += j != i && labels[j] == labels[i];
      nn += labels[j] != labels[i];
    }
    if (!np || !nn) continue;
    int p = dml_miner_random_positive(labels, i, B, r);
    const double *d = dist + (size_t)i * B;
    int nc = 0;
    for (int j = 0; j < B; j++)
      if (labels[j] != labels[i] && d[j] > d[p] && d[j] < d[p] + m->margin) cand[nc++] = j;
    if (!nc)
      for (int j = 0; j < B; j++)
        if (labels[j] != labels[i]) cand[nc++] = j;
    dml_tuples_push(out, i, p, cand[dml_rng_below(r, (uint32_t)nc)]);
  }
  free(dist);
  free(cand);
  return DML_OK;
}

dml_status dml_miner_semihard(const struct dml_train_opts *o, struct dml_miner *m) {
  m->internal_name = "semihard";
  m->mine = mine_semihard;
  if (o->miner_semihard_margin >= 0) m->margin = o->miner_semihard_margin;
  else if (o->loss && !strcmp(o->loss, "triplet")) m->margin = o->loss_triplet_margin;
  else if (o->loss && !strcmp(o->loss, "margin")) m->margin = o->loss_margin_margin;
  else if (o->loss && !strcmp(o->loss, "snr")) m->margin = o->loss_snr_margin;
  else
    return dml_error(DML_ERR_ARG,
                     "semihard miner: --loss %s has no margin; give --miner_semihard_margin (the reference crashes here)",
                     o->loss ? o->loss : "(none)");
  return DML_OK;
}
