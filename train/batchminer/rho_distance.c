/* rho_distance — the spectral-regularising distance miner of the Revisit paper (spec A8). Distances are the
 * reference ones clamped at 0.01 (1e-4 before the square root) and at --miner_rho_distance_lower_cutoff. For
 * every position i a Bernoulli(--miner_rho_distance_cp) draw u is made (also when i is skipped); only anchors
 * whose label has ≥ 2 members are used. u = 1: the flipped triplet (i, i, p′), p′ a uniformly drawn other
 * same-label sample (the loss then pushes same-label samples apart); u = 0: the distance-weighted triplet of
 * the distance miner (positive uniform among the other same-label samples, negative ~ Wu et al.'s weights).
 * The upper cutoff is never applied, as in the reference. */
#include <math.h>
#include <stdlib.h>

#include "train/train.h"

static dml_status mine_rho_distance(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                                    struct dml_rng *r, struct dml_tuples *out) {
  double *dist = xmalloc((size_t)B * B * sizeof *dist);
  dml_pairwise_distances(emb, B, D, dist);
  for (size_t k = 0; k < (size_t)B * B; k++) dist[k] = fmax(dist[k], 0.01);
  for (int i = 0; i < B; i++) {
    int flip = dml_rng_uniform(r) < m->cp;
    int np = 0;
    for (int j = 0; j < B; j++) np += j != i && labels[j] == labels[i];
    if (!np) continue;
    if (flip) {
      dml_tuples_push(out, i, i, dml_miner_random_positive(labels, i, B, r));
      continue;
    }
    int neg = dml_miner_distance_negative(dist + (size_t)i * B, labels, i, B, D, m->lower_cutoff, r);
    if (neg < 0) continue;
    dml_tuples_push(out, i, dml_miner_random_positive(labels, i, B, r), neg);
  }
  free(dist);
  return DML_OK;
}

dml_status dml_miner_rho_distance(const struct dml_train_opts *o, struct dml_miner *m) {
  m->internal_name = "rho_distance";
  m->lower_cutoff = o->miner_rho_distance_lower_cutoff;
  m->upper_cutoff = o->miner_rho_distance_upper_cutoff;
  m->cp = o->miner_rho_distance_cp;
  m->mine = mine_rho_distance;
  return DML_OK;
}
