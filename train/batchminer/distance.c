/* distance — distance-weighted sampling (Wu et al. 2017) as the reference does it (spec A8):
 * distances of the detached batch, clamped below at lower_cutoff (0.5; the upper cutoff is never applied);
 * for every anchor i: log w_j = (2 − D)·ln d_ij − ((D − 3)/2)·ln(1 − d_ij²/4), same-class entries (i included)
 * get weight 0; w ← exp(log w − max log w), normalised; the negative is drawn from w. The positive is a
 * uniformly drawn other sample of i's class (i itself if it is alone).
 * Where the reference has NaN/∞ (d ≥ 2 makes 1 − d²/4 ≤ 0), we clamp 1 − d²/4 at 1e-8 and state it here.
 * An anchor without any negative in the batch emits nothing. */
#include <math.h>
#include <stdlib.h>

#include "train/methods.h"

int dml_miner_distance_negative(const double *dist, const int32_t *labels, int i, int B, int D, double lower_cutoff,
                                struct dml_rng *r) {
  double *logw = xmalloc((size_t)B * sizeof *logw);
  double mx = -INFINITY;
  int any_neg = 0;
  for (int j = 0; j < B; j++) {
    double d = dist[j];
    if (d < lower_cutoff) d = lower_cutoff;
    double q = 1.0 - d * d / 4.0;
    if (q < 1e-8) q = 1e-8;
    double lw = (2.0 - D) * log(d) - ((D - 3.0) / 2.0) * log(q);
    if (labels[j] == labels[i]) lw = 0; /* masked before the max, as the reference */
    else any_neg = 1;
    logw[j] = lw;
    if (lw > mx) mx = lw;
  }
  if (!any_neg) {
    free(logw);
    return -1;
  }
  double total = 0;
  for (int j = 0; j < B; j++) {
    logw[j] = labels[j] == labels[i] ? 0 : exp(logw[j] - mx);
    total += logw[j];
  }
  int neg = -1;
  if (total > 0 && isfinite(total)) {
    double u = dml_rng_uniform(r) * total, c = 0;
    for (int j = 0; j < B; j++) {
      if (logw[j] <= 0) continue;
      c += logw[j];
      neg = j;
      if (u < c) break;
    }
  } else { /* every weight underflowed: uniform over negatives */
    int cnt = 0;
    for (int j = 0; j < B; j++) cnt += labels[j] != labels[i];
    int k = (int)dml_rng_below(r, (uint32_t)cnt);
    for (int j = 0; j < B; j++)
      if (labels[j] != labels[i] && k-- == 0) {
        neg = j;
        break;
      }
  }
  free(logw);
  return neg;
}

int dml_miner_random_positive(const int32_t *labels, int i, int B, struct dml_rng *r) {
  int np = 0;
  for (int j = 0; j < B; j++) np += j != i && labels[j] == labels[i];
  if (!np) return i;
  int k = (int)dml_rng_below(r, (uint32_t)np);
  for (int j = 0; j < B; j++)
    if (j != i && labels[j] == labels[i] && k-- == 0) return j;
  return i;
}

struct distance {
  double lower_cutoff;
};

static dml_status mine_distance(const struct dml_miner *miner, const float *emb, const int32_t *labels, int B, int D,
                                struct dml_rng *r, struct dml_tuples *out) {
  const struct distance *m = miner->state;
  double *dist = xmalloc((size_t)B * B * sizeof *dist);
  dml_pairwise_distances(emb, B, D, dist);
  for (int i = 0; i < B; i++) {
    int neg = dml_miner_distance_negative(dist + (size_t)i * B, labels, i, B, D, m->lower_cutoff, r);
    if (neg < 0) continue;
    dml_tuples_push(out, i, dml_miner_random_positive(labels, i, B, r), neg);
  }
  free(dist);
  return DML_OK;
}

static const struct dml_flag distance_flags[] = {
  DML_METHOD_FLAG(miner_distance_lower_cutoff, FLOAT, "0.5", "distance miner: lower distance cutoff"),
  DML_METHOD_FLAG(miner_distance_upper_cutoff, FLOAT, "1.4", "distance miner: upper cutoff (never applied, as in the reference)"),
};

static dml_status distance_create(const struct dml_opts *opt, struct dml_miner *m) {
  struct distance *s = xmalloc(sizeof *s);
  s->lower_cutoff = dml_opts_float(opt, "miner_distance_lower_cutoff");
  m->state = s;
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_distance = {
  .name = "distance",
  .internal_name = "distance",
  .summary = "distance-weighted negatives (Wu et al. 2017)",
  DML_METHOD_FLAGS(distance_flags),
  .create = distance_create,
  .mine = mine_distance,
};
