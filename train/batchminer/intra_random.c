/* intra_random — the reference's intra-class random miner (spec A8): B tuples, each three positions drawn
 * uniformly with replacement from one uniformly chosen label of the batch (so a, p and n share a label; with a
 * contrastive-style loss this pulls a class together). Reports the internal name "random", as the reference. */
#include <stdlib.h>

#include "train/methods.h"

static dml_status mine_intra_random(const struct dml_miner *m, const float *emb, const int32_t *labels, int B,
                                    int D, struct dml_rng *r, struct dml_tuples *out) {
  (void)m, (void)emb, (void)D;
  int32_t *uniq = xmalloc((size_t)B * sizeof *uniq), *mem = xmalloc((size_t)B * sizeof *mem);
  int nu = 0;
  for (int i = 0; i < B; i++) {
    int seen = 0;
    for (int k = 0; k < nu && !seen; k++) seen = uniq[k] == labels[i];
    if (!seen) uniq[nu++] = labels[i];
  }
  for (int t = 0; t < B; t++) {
    int32_t y = uniq[dml_rng_below(r, (uint32_t)nu)];
    int nm = 0;
    for (int j = 0; j < B; j++)
      if (labels[j] == y) mem[nm++] = j;
    int32_t a = mem[dml_rng_below(r, (uint32_t)nm)], p = mem[dml_rng_below(r, (uint32_t)nm)];
    dml_tuples_push(out, a, p, mem[dml_rng_below(r, (uint32_t)nm)]);
  }
  free(uniq);
  free(mem);
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_intra_random = {
  .name = "intra_random",
  .internal_name = "random",
  .summary = "B tuples drawn within one label each",
  .mine = mine_intra_random,
};
