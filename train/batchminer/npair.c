/* npair — the reference's N-pair miner (spec A8): anchors = positions whose label has ≥ 2 members, each with
 * one uniformly drawn other same-label positive. Tuples are (a, p, −1): the negative set is implicit (every
 * position of another label), which is how the npair and angular criteria read them. */
#include "train/methods.h"

static dml_status mine_npair(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                             struct dml_rng *r, struct dml_tuples *out) {
  (void)m, (void)emb, (void)D;
  for (int i = 0; i < B; i++) {
    int p = dml_miner_random_positive(labels, i, B, r);
    if (p != i) dml_tuples_push(out, i, p, -1);
  }
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_npair = {
  .name = "npair",
  .internal_name = "npair",
  .summary = "(a, p, -1): one positive per anchor, every other label negative",
  .mine = mine_npair,
};
