/* random — the reference's random triplet miner (spec A8): enumerate every valid triplet (a, p, n) with
 * y_a = y_p, a ≠ p, y_n ≠ y_a, and return B of them drawn uniformly without replacement (all of them when
 * there are fewer than B; the reference's random.sample raises there). Order of the result = draw order. */
#include <stdlib.h>

#include "train/methods.h"

static dml_status mine_random(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                              struct dml_rng *r, struct dml_tuples *out) {
  (void)m, (void)emb, (void)D;
  long total = 0;
  for (int a = 0; a < B; a++) {
    long np = 0, nn = 0;
    for (int j = 0; j < B; j++) {
      np += j != a && labels[j] == labels[a];
      nn += labels[j] != labels[a];
    }
    total += np * nn;
  }
  if (!total) return DML_OK;
  int32_t (*all)[3] = xmalloc((size_t)total * sizeof *all);
  long k = 0;
  for (int a = 0; a < B; a++)
    for (int p = 0; p < B; p++) {
      if (p == a || labels[p] != labels[a]) continue;
      for (int n = 0; n < B; n++)
        if (labels[n] != labels[a]) all[k][0] = a, all[k][1] = p, all[k][2] = n, k++;
    }
  long want = total < B ? total : B;
  for (long i = 0; i < want; i++) { /* partial Fisher–Yates */
    long j = i + (long)(dml_rng_uniform(r) * (double)(total - i));
    if (j >= total) j = total - 1;
    int32_t t0 = all[i][0], t1 = all[i][1], t2 = all[i][2];
    all[i][0] = all[j][0], all[i][1] = all[j][1], all[i][2] = all[j][2];
    all[j][0] = t0, all[j][1] = t1, all[j][2] = t2;
    dml_tuples_push(out, all[i][0], all[i][1], all[i][2]);
  }
  free(all);
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_random = {
  .name = "random",
  .internal_name = "random",
  .summary = "B valid triplets drawn uniformly",
  .mine = mine_random,
};
