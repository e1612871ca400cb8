/* lifted — the reference's lifted-structure miner (spec A8): anchors = positions whose label has ≥ 2 members.
 * Tuples are (a, −1, −1): the positive set (every other same-label position) and the negative set (every
 * position not in {a} ∪ positives) are implicit, which is how the lifted criterion reads them. No randomness. */
#include "train/methods.h"

static dml_status mine_lifted(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                              struct dml_rng *r, struct dml_tuples *out) {
  (void)m, (void)emb, (void)D, (void)r;
  for (int i = 0; i < B; i++) {
    int np = 0;
    for (int j = 0; j < B; j++) np += j != i && labels[j] == labels[i];
    if (np) dml_tuples_push(out, i, -1, -1);
  }
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_lifted = {
  .name = "lifted",
  .internal_name = "lifted",
  .summary = "(a, -1, -1): every same / other label position",
  .mine = mine_lifted,
};
