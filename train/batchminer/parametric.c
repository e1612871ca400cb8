/* parametric — PADS-style parametric negative sampling (Roth et al. 2020) as the reference's batchminer/parametric.py
 * computes it (spec A8; BUG M1: its flags are missing there, added here as (dml) flags with the names it reads).
 * Support: support = linspace(lo, hi, n) with lo, hi = --miner_parametric_support_lim_lo/_hi and n =
 * --miner_parametric_n_support (≥ 2); n − 1 interval bins. Per-bin distribution distr by
 * --miner_parametric_mode, built on the n support values and then clipped to [1e-15, 1] (so "0" is 1e-15):
 *   uniform: 1 for each of the n − 1 bins;  hards: 1 where support ≤ 0.5, else 0;  veryhards: 1 where ≤ 0.3,
 *   else 0;  semihards: 1 where 0.3 ≤ support ≤ 0.7 and the support value itself elsewhere (the reference's
 *   zeroing line `support < 0.3 and support > 0.7` never fires; its leftover debugger call is not reproduced).
 * Distances: d = sqrt(max(‖a‖² + ‖b‖² − 2a·b, 1e-4)) (its pdist with eps). The bin of d is the number of inner
 * support points support[1 … n−2] strictly below d (so d below lo is bin 0 and above hi the last bin; the
 * reference's "outside the support" mask `d < lo and d > hi` never fires either).
 * Anchors: positions whose label has ≥ 2 members and at least one negative; positive uniform among the other
 * same-label positions; negative j drawn with probability distr[bin(d_ij)] / Σ over the anchor's negatives.
 * (Before this matched the reference, the weight was distr/(count in the bin) over nearest-centre bins.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/methods.h"

struct parametric {
  int mode, n_support;           /* mode: 0 uniform, 1 hards, 2 semihards, 3 veryhards; support points */
  double support_lo, support_hi;
};

/* numpy linspace(lo, hi, n)[b]: b·step + lo, the endpoint exactly hi */
static double support_at(const struct parametric *m, int b) {
  if (b == m->n_support - 1) return m->support_hi;
  volatile double v = (double)b * ((m->support_hi - m->support_lo) / (m->n_support - 1));
  return v + m->support_lo;
}

static double bin_mass(const struct parametric *m, int b) {
  double c = support_at(m, b), v;
  switch (m->mode) {
  case 1: v = c <= 0.5; break;
  case 2: v = c >= 0.3 && c <= 0.7 ? 1 : c; break;
  case 3: v = c <= 0.3; break;
  default: v = 1;
  }
  return v < 1e-15 ? 1e-15 : v > 1 ? 1 : v;
}

void dml_miner_parametric_probs(const struct dml_miner *miner, const double *dist, const int32_t *labels, int i,
                                int B, double *p) {
  const struct parametric *m = miner->state;
  double tot = 0;
  for (int j = 0; j < B; j++) {
    p[j] = 0;
    if (labels[j] == labels[i]) continue;
    double d = dist[j] > 0.01 ? dist[j] : 0.01; /* sqrt(max(d², 1e-4)) */
    int b = 0;
    for (int k = 1; k < m->n_support - 1; k++) b += d > support_at(m, k);
    p[j] = bin_mass(m, b);
    tot += p[j];
  }
  for (int j = 0; j < B; j++) p[j] = tot > 0 ? p[j] / tot : 0;
}

static dml_status mine_parametric(const struct dml_miner *miner, const float *emb, const int32_t *labels, int B,
                                  int D, struct dml_rng *r, struct dml_tuples *out) {
  double *dist = xmalloc((size_t)B * B * sizeof *dist), *w = xmalloc((size_t)B * sizeof *w);
  dml_pairwise_distances(emb, B, D, dist);
  for (int i = 0; i < B; i++) {
    int np = 0, nn = 0;
    for (int j = 0; j < B; j++) {
      np += j != i && labels[j] == labels[i];
      nn += labels[j] != labels[i];
    }
    if (!np || !nn) continue;
    dml_miner_parametric_probs(miner, dist + (size_t)i * B, labels, i, B, w);
    int pos = dml_miner_random_positive(labels, i, B, r), neg = -1;
    double u = dml_rng_uniform(r), c = 0;
    for (int j = 0; j < B; j++) {
      if (w[j] <= 0) continue;
      c += w[j];
      neg = j;
      if (u < c) break;
    }
    dml_tuples_push(out, i, pos, neg);
  }
  free(dist);
  free(w);
  return DML_OK;
}

static const struct dml_flag parametric_flags[] = {
  DML_METHOD_FLAG(miner_parametric_mode, STR, "uniform", "(dml) parametric miner: uniform, hards, semihards, veryhards (flags missing in the reference, BUG M1)"),
  DML_METHOD_FLAG(miner_parametric_n_support, INT, "100", "(dml) parametric miner: distance bins"),
  DML_METHOD_FLAG(miner_parametric_support_lim_lo, FLOAT, "0.1", "(dml) parametric miner: lowest binned distance"),
  DML_METHOD_FLAG(miner_parametric_support_lim_hi, FLOAT, "1.9", "(dml) parametric miner: highest binned distance"),
};

static dml_status parametric_create(const struct dml_opts *opt, struct dml_miner *miner) {
  static const char *modes[] = {"uniform", "hards", "semihards", "veryhards"};
  const char *mode = dml_opts_str(opt, "miner_parametric_mode");
  struct parametric p = {.mode = -1};
  for (int k = 0; k < 4; k++)
    if (!strcmp(mode, modes[k])) p.mode = k;
  if (p.mode < 0)
    return dml_error(DML_ERR_ARG, "--miner_parametric_mode '%s': expected uniform, hards, semihards or veryhards", mode);
  p.n_support = dml_opts_int(opt, "miner_parametric_n_support");
  p.support_lo = dml_opts_float(opt, "miner_parametric_support_lim_lo");
  p.support_hi = dml_opts_float(opt, "miner_parametric_support_lim_hi");
  if (p.n_support < 2) return dml_error(DML_ERR_ARG, "--miner_parametric_n_support must be >= 2");
  if (!(p.support_hi > p.support_lo))
    return dml_error(DML_ERR_ARG, "--miner_parametric_support_lim_hi must exceed --miner_parametric_support_lim_lo");
  struct parametric *s = xmalloc(sizeof *s);
  *s = p;
  miner->state = s;
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_parametric = {
  .name = "parametric",
  .internal_name = "parametric",
  .summary = "(dml) PADS-style negatives from a fixed distance distribution",
  DML_METHOD_FLAGS(parametric_flags),
  .create = parametric_create,
  .mine = mine_parametric,
};
