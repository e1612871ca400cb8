/* softhard — the reference's soft-hard miner (spec A8): only anchors whose label has ≥ 2 members (and at least
 * one negative). Hard positives = positives farther than the closest negative; hard negatives = negatives closer
 * than the farthest positive. The positive (negative) is drawn uniformly from the hard set if non-empty, else
 * from all positives (negatives). */
#include <math.h>
#include <stdlib.h>

#include "train/methods.h"

static dml_status mine_softhard(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                                struct dml_rng *r, struct dml_tuples *out) {
  (void)m;
  double *dist = xmalloc((size_t)B * B * sizeof *dist);
  int32_t *cand = xmalloc((size_t)B * sizeof *cand);
  dml_pairwise_distances(emb, B, D, dist);
  for (int i = 0; i < B; i++) {
    const double *d = dist + (size_t)i * B;
    double min_neg = INFINITY, max_pos = -INFINITY;
    int np = 0, nn = 0;
    for (int j = 0; j < B; j++) {
      if (labels[j] != labels[i]) nn++, min_neg = fmin(min_neg, d[j]);
      else if (j != i) np++, max_pos = fmax(max_pos, d[j]);
    }
    if (!np || !nn) continue;
    int nc = 0;
    for (int j = 0; j < B; j++)
      if (j != i && labels[j] == labels[i] && d[j] > min_neg) cand[nc++] = j;
    if (!nc)
      for (int j = 0; j < B; j++)
        if (j != i && labels[j] == labels[i]) cand[nc++] = j;
    int p = cand[dml_rng_below(r, (uint32_t)nc)];
    nc = 0;
    for (int j = 0; j < B; j++)
      if (labels[j] != labels[i] && d[j] < max_pos) cand[nc++] = j;
    if (!nc)
      for (int j = 0; j < B; j++)
        if (labels[j] != labels[i]) cand[nc++] = j;
    dml_tuples_push(out, i, p, cand[dml_rng_below(r, (uint32_t)nc)]);
  }
  free(dist);
  free(cand);
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_softhard = {
  .name = "softhard",
  .internal_name = "softhard",
  .summary = "a positive and a negative drawn from the hard sets when non-empty",
  .mine = mine_softhard,
};
