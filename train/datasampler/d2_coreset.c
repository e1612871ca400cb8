/* d2_coreset — D²-style sequential coreset batch selection on the embedding storage (spec A7). Per batch: the
 * random big subset (and optional projection) of greedy_coreset; a Gaussian with the subset's mean and per-
 * dimension variance (diagonal: the reference fits a full covariance; documented simplification); the first centre
 * is the subset point nearest to one draw from that Gaussian; each next centre is drawn among the unchosen points
 * with probability ∝ density(x) · (Σ_{chosen c} ‖x − c‖)^λ, λ = --data_d2_coreset_lambda; then spc − 1 uniform
 * same-class fillers per centre. Positions are mapped back correctly (the reference's BUG S1 is not copied).
 * Falls back to class_random until the storage is complete. Randomness: (seed, SAMPLER, epoch, step). */
#include <math.h>
#include <stdlib.h>

#include "train/methods.h"
#include "train/datasampler/coreset.h"

struct d2_coreset {
  struct coreset_opts c;
  double lambda;                /* --data_d2_coreset_lambda */
};

static void d2_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  const struct d2_coreset *st = s->state;
  if (!s->storage || s->storage_filled < s->data.n) {
    dml_sampler_class_random_batch(s, epoch, step, idx);
    return;
  }
  struct dml_rng r = dml_rng_init(s->seed, DML_RNG_SAMPLER, (uint64_t)epoch, (uint64_t)step);
  int n, dim;
  int32_t *sub;
  double *x = coreset_subset(s, &st->c, &r, &n, &dim, &sub);
  double *mu = xcalloc((size_t)dim, sizeof *mu), *var = xcalloc((size_t)dim, sizeof *var);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < dim; k++) mu[k] += x[(size_t)i * dim + k] / n;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < dim; k++) var[k] += (x[(size_t)i * dim + k] - mu[k]) * (x[(size_t)i * dim + k] - mu[k]) / n;
  double *logdens = xmalloc((size_t)n * sizeof *logdens), *sumd = xcalloc((size_t)n, sizeof *sumd);
  double *lw = xmalloc((size_t)n * sizeof *lw);
  unsigned char *chosen = xcalloc((size_t)n, 1);
  for (int i = 0; i < n; i++) {
    double a = 0;
    for (int k = 0; k < dim; k++) {
      double v = var[k] > 1e-12 ? var[k] : 1e-12, u = x[(size_t)i * dim + k] - mu[k];
      a += u * u / v;
    }
    logdens[i] = -0.5 * a;
  }
  double *z = xmalloc((size_t)dim * sizeof *z);
  for (int k = 0; k < dim; k++) z[k] = mu[k] + sqrt(var[k]) * dml_rng_normal(&r);
  int c = 0;
  double best = INFINITY;
  for (int i = 0; i < n; i++) {
    double d = coreset_sqdist(x + (size_t)i * dim, z, dim);
    if (d < best) best = d, c = i;
  }
  int k = s->bs / s->samples_per_class;
  for (int g = 0; g < k; g++) {
    idx[g * s->samples_per_class] = sub[c];
    chosen[c] = 1;
    if (g == k - 1) break;
    for (int i = 0; i < n; i++) sumd[i] += sqrt(coreset_sqdist(x + (size_t)i * dim, x + (size_t)c * dim, dim));
    double mx = -INFINITY;
    for (int i = 0; i < n; i++) {
      lw[i] = chosen[i] || sumd[i] <= 0 ? -INFINITY : logdens[i] + st->lambda * log(sumd[i]);
      if (lw[i] > mx) mx = lw[i];
    }
    if (!isfinite(mx)) { /* every point chosen or coincident: uniform */
      c = (int)dml_rng_below(&r, (uint32_t)n);
      continue;
    }
    double tot = 0;
    for (int i = 0; i < n; i++) tot += lw[i] > -INFINITY ? exp(lw[i] - mx) : 0;
    double u = dml_rng_uniform(&r) * tot, acc = 0;
    for (int i = 0; i < n; i++) {
      if (lw[i] == -INFINITY) continue;
      acc += exp(lw[i] - mx);
      c = i;
      if (u < acc) break;
    }
  }
  dml_sampler_fill_classes(s, &r, idx);
  free(mu);
  free(var);
  free(logdens);
  free(sumd);
  free(lw);
  free(chosen);
  free(z);
  free(x);
  free(sub);
}

static const struct dml_flag d2_coreset_flags[] = {
  CORESET_FLAGS,
  DML_METHOD_FLAG(data_d2_coreset_lambda, FLOAT, "1", "exponent on the distance weights of d2_coreset"),
};

static dml_status d2_coreset_create(const struct dml_opts *opt, struct dml_sampler *s) {
  struct d2_coreset d;
  dml_status st = coreset_opts_read(opt, &d.c);
  if (st) return st;
  d.lambda = dml_opts_float(opt, "data_d2_coreset_lambda");
  struct d2_coreset *p = xmalloc(sizeof *p);
  *p = d;
  s->state = p;
  return DML_OK;
}

const struct dml_sampler_def dml_sampler_def_d2_coreset = {
  .name = "d2_coreset",
  .summary = "D2-weighted sequential centres on the embedding storage",
  DML_METHOD_FLAGS(d2_coreset_flags),
  .needs_storage = 1,
  .create = d2_coreset_create,
  .batch = d2_batch,
};
