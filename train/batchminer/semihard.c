/* semihard — the reference's semihard miner (spec A8, B2): for every anchor i, the positive is a random other
 * same-label sample; the negative is drawn uniformly among negatives with d_ap < d_an < d_ap + margin, or
 * uniformly among all negatives when there is none. margin = --miner_semihard_margin when ≥ 0 (the NIR flag),
 * else the loss's own margin (--loss_triplet_margin / --loss_margin_margin / --loss_snr_margin, as Revisit;
 * other losses are an error here where Revisit crashes). Anchors without a positive or a negative are skipped
 * (the reference assumes they exist). Distances are the detached reference ones (dml_pairwise_distances). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/methods.h"

struct semihard {
  double margin;
};

static dml_status mine_semihard(const struct dml_miner *miner, const float *emb, const int32_t *labels, int B, int D,
                                struct dml_rng *r, struct dml_tuples *out) {
  const struct semihard *m = miner->state;
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

static const struct dml_flag semihard_flags[] = {
  DML_METHOD_FLAG(miner_semihard_margin, FLOAT, "-1", "semihard miner margin (NIR flag); < 0 = --loss_<loss>_margin as in Revisit"),
};

static dml_status semihard_create(const struct dml_opts *opt, struct dml_miner *m) {
  double margin = dml_opts_float(opt, "miner_semihard_margin");
  const char *loss = dml_opts_str(opt, "loss");
  if (margin < 0) {
    char name[96];
    snprintf(name, sizeof name, "loss_%s_margin", loss);
    int has = !strcmp(loss, "triplet") || !strcmp(loss, "margin") || !strcmp(loss, "snr");
    if (!has || !dml_opts_find(opt, name))
      return dml_error(DML_ERR_ARG,
                       "semihard miner: --loss %s has no margin; give --miner_semihard_margin (the reference crashes here)",
                       *loss ? loss : "(none)");
    margin = dml_opts_float(opt, name);
  }
  struct semihard *s = xmalloc(sizeof *s);
  s->margin = margin;
  m->state = s;
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_semihard = {
  .name = "semihard",
  .internal_name = "semihard",
  .summary = "a random negative with d_ap < d_an < d_ap + margin",
  DML_METHOD_FLAGS(semihard_flags),
  .create = semihard_create,
  .mine = mine_semihard,
};
