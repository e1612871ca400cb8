/* random_distance — distance-weighted sampling on randomly permuted labels (spec A8): the batch labels are
 * shuffled (pseudo labels), then for every anchor whose pseudo label has ≥ 2 members, a negative ~ Wu et al.'s
 * weights (lower cutoff --miner_distance_lower_cutoff) among other pseudo labels and a uniform other member of
 * its pseudo label as positive. Reports the internal name "distance", as the reference. */
#include <stdlib.h>
#include <string.h>

#include "train/methods.h"

struct random_distance {
  double lower_cutoff;
};

static dml_status mine_random_distance(const struct dml_miner *miner, const float *emb, const int32_t *labels, int B,
                                       int D, struct dml_rng *r, struct dml_tuples *out) {
  const struct random_distance *m = miner->state;
  int32_t *pl = xmalloc((size_t)B * sizeof *pl);
  memcpy(pl, labels, (size_t)B * sizeof *pl);
  dml_rng_shuffle_i32(r, pl, (uint32_t)B);
  double *dist = xmalloc((size_t)B * B * sizeof *dist);
  dml_pairwise_distances(emb, B, D, dist);
  for (int i = 0; i < B; i++) {
    int np = 0;
    for (int j = 0; j < B; j++) np += j != i && pl[j] == pl[i];
    if (!np) continue;
    int neg = dml_miner_distance_negative(dist + (size_t)i * B, pl, i, B, D, m->lower_cutoff, r);
    if (neg < 0) continue;
    dml_tuples_push(out, i, dml_miner_random_positive(pl, i, B, r), neg);
  }
  free(dist);
  free(pl);
  return DML_OK;
}

/* the distance miner's flags (one flag each in the table) */
static const struct dml_flag random_distance_flags[] = {
  DML_METHOD_FLAG(miner_distance_lower_cutoff, FLOAT, "0.5", "distance miner: lower distance cutoff"),
  DML_METHOD_FLAG(miner_distance_upper_cutoff, FLOAT, "1.4", "distance miner: upper cutoff (never applied, as in the reference)"),
};

static dml_status random_distance_create(const struct dml_opts *opt, struct dml_miner *m) {
  struct random_distance *s = xmalloc(sizeof *s);
  s->lower_cutoff = dml_opts_float(opt, "miner_distance_lower_cutoff");
  m->state = s;
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_random_distance = {
  .name = "random_distance",
  .internal_name = "distance",
  .summary = "distance-weighted negatives on randomly permuted labels",
  DML_METHOD_FLAGS(random_distance_flags),
  .create = random_distance_create,
  .mine = mine_random_distance,
};
