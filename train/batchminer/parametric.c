/* parametric — PADS-style parametric negative sampling (Roth et al. 2020), the reference's intended behaviour
 * (spec A8, BUG M1: its flags are missing and its support mask is always false; both fixed here with explicit
 * (dml) flags). Support: n = --miner_parametric_n_support bin centres spread evenly over
 * [--miner_parametric_support_lim_lo, _hi]; a fixed distribution over the bins by --miner_parametric_mode:
 *   uniform: every bin 1;  hards: bins with centre ≤ 0.5;  semihards: centre in [0.3, 0.7];  veryhards: ≤ 0.3.
 * For every anchor with a positive and a negative: the positive is uniform among the other same-label samples;
 * each negative j falls in the bin nearest to d_ij (clipped to the support) and gets weight distr[bin] / (number of
 * the anchor's negatives in that bin), so bins are drawn by the fixed distribution and samples uniformly inside a
 * bin; when every weight is 0 the negative is uniform. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/methods.h"

struct parametric {
  int mode, n_support;           /* mode: 0 uniform, 1 hards, 2 semihards, 3 veryhards; bins */
  double support_lo, support_hi;
};

static double bin_centre(const struct parametric *m, int b) {
  return m->n_support > 1 ? m->support_lo + (m->support_hi - m->support_lo) * b / (m->n_support - 1) : m->support_lo;
}

static double bin_mass(const struct parametric *m, int b) {
  double c = bin_centre(m, b);
  switch (m->mode) {
  case 1: return c <= 0.5;
  case 2: return c >= 0.3 && c <= 0.7;
  case 3: return c <= 0.3;
  default: return 1;
  }
}

static dml_status mine_parametric(const struct dml_miner *miner, const float *emb, const int32_t *labels, int B,
                                  int D, struct dml_rng *r, struct dml_tuples *out) {
  const struct parametric *m = miner->state;
  double *dist = xmalloc((size_t)B * B * sizeof *dist), *w = xmalloc((size_t)B * sizeof *w);
  int *bin = xmalloc((size_t)B * sizeof *bin), *cnt = xcalloc((size_t)m->n_support, sizeof *cnt);
  dml_pairwise_distances(emb, B, D, dist);
  for (int i = 0; i < B; i++) {
    int np = 0, nn = 0;
    for (int j = 0; j < B; j++) {
      np += j != i && labels[j] == labels[i];
      nn += labels[j] != labels[i];
    }
    if (!np || !nn) continue;
    memset(cnt, 0, (size_t)m->n_support * sizeof *cnt);
    double step = m->n_support > 1 ? (m->support_hi - m->support_lo) / (m->n_support - 1) : 1;
    for (int j = 0; j < B; j++) {
      if (labels[j] == labels[i]) continue;
      long b = lround((dist[(size_t)i * B + j] - m->support_lo) / step);
      bin[j] = (int)(b < 0 ? 0 : b >= m->n_support ? m->n_support - 1 : b);
      cnt[bin[j]]++;
    }
    double tot = 0;
    for (int j = 0; j < B; j++) {
      w[j] = labels[j] == labels[i] ? 0 : bin_mass(m, bin[j]) / cnt[bin[j]];
      tot += w[j];
    }
    int neg = -1;
    if (tot > 0) {
      double u = dml_rng_uniform(r) * tot, c = 0;
      for (int j = 0; j < B; j++) {
        if (w[j] <= 0) continue;
        c += w[j];
        neg = j;
        if (u < c) break;
      }
    } else {
      int k = (int)dml_rng_below(r, (uint32_t)nn);
      for (int j = 0; j < B && neg < 0; j++)
        if (labels[j] != labels[i] && k-- == 0) neg = j;
    }
    dml_tuples_push(out, i, dml_miner_random_positive(labels, i, B, r), neg);
  }
  free(dist);
  free(w);
  free(bin);
  free(cnt);
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
  if (p.n_support < 1) return dml_error(DML_ERR_ARG, "--miner_parametric_n_support must be >= 1");
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
