/* rho_distance — the spectral-regularising distance miner of the Revisit paper (spec A8). Distances are the
 * reference ones clamped at 0.01 (1e-4 before the square root) and at --miner_rho_distance_lower_cutoff. For
 * every position i a Bernoulli(--miner_rho_distance_cp) draw u is made (also when i is skipped); only anchors
 * whose label has ≥ 2 members are used. u = 1: the flipped triplet (i, i, p′), p′ a uniformly drawn other
 * same-label sample (the loss then pushes same-label samples apart); u = 0: the distance-weighted triplet of
 * the distance miner (positive uniform among the other same-label samples, negative ~ Wu et al.'s weights).
 * The upper cutoff is never applied, as in the reference. */
#include <math.h>
#include <stdlib.h>

#include "train/methods.h"

struct rho_distance {
  double lower_cutoff, cp;
};

static dml_status mine_rho_distance(const struct dml_miner *miner, const float *emb, const int32_t *labels, int B,
                                    int D, struct dml_rng *r, struct dml_tuples *out) {
  const struct rho_distance *m = miner->state;
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

static const struct dml_flag rho_distance_flags[] = {
  DML_METHOD_FLAG(miner_rho_distance_lower_cutoff, FLOAT, "0.5", "rho_distance miner: lower distance cutoff"),
  DML_METHOD_FLAG(miner_rho_distance_upper_cutoff, FLOAT, "1.4", "rho_distance miner: upper cutoff (never applied, as in the reference)"),
  DML_METHOD_FLAG(miner_rho_distance_cp, FLOAT, "0.2", "rho_distance miner: probability of a flipped (push-apart) triplet"),
};

static dml_status rho_distance_create(const struct dml_opts *opt, struct dml_miner *m) {
  struct rho_distance *s = xmalloc(sizeof *s);
  s->lower_cutoff = dml_opts_float(opt, "miner_rho_distance_lower_cutoff");
  s->cp = dml_opts_float(opt, "miner_rho_distance_cp");
  m->state = s;
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_rho_distance = {
  .name = "rho_distance",
  .internal_name = "rho_distance",
  .summary = "distance miner with push-apart triplets at rate cp (Revisit's rho regularisation)",
  DML_METHOD_FLAGS(rho_distance_flags),
  .create = rho_distance_create,
  .mine = mine_rho_distance,
};
