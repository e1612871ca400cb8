/* dists — embedding-space distance statistics (spec A10), on row-normalised embeddings, cosine distance 1 − cos:
 *   dists@intra: per class, the mean over ordered off-diagonal pairs; a class of one sample gives NaN, which the
 *   reference replaces by the maximum of the per-class values at positions 0 and 1 of its array (QUIRK: an
 *   integer array used as an index) — we do the same; the result is the mean over classes.
 *   dists@inter: class centres = L2-normalised class means; the mean over distinct pairs of centres.
 *   dists@intra_over_inter = intra / max(inter, 1e-8) (computed by the caller). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval-impl.h"

static double intra(const struct dml_eval_ctx *c) {
  size_t d = c->d;
  int K = c->n_classes;
  double *sum = xcalloc((size_t)K * d, sizeof *sum), *sq = xcalloc((size_t)K, sizeof *sq), *v = xmalloc((size_t)K * sizeof *v);
  /* Σ_{i≠j in class} (1 − x_i·x_j) = n² − n − (‖Σx‖² − Σ‖x‖²) for unit rows */
  for (size_t i = 0; i < c->n; i++) {
    const float *x = c->emb_cos + i * d;
    double s = 0;
    for (size_t k = 0; k < d; k++) {
      sum[(size_t)c->cls[i] * d + k] += x[k];
      s += (double)x[k] * x[k];
    }
    sq[c->cls[i]] += s;
  }
  for (int k = 0; k < K; k++) {
    double n = c->class_size[k], s2 = 0;
    for (size_t j = 0; j < d; j++) s2 += sum[(size_t)k * d + j] * sum[(size_t)k * d + j];
    v[k] = n > 1 ? (n * n - n - (s2 - sq[k])) / (n * n - n) : NAN;
  }
  double fill = NAN;
  for (int k = 0; k < 2 && k < K; k++)
    if (!isnan(v[k]) && (isnan(fill) || v[k] > fill)) fill = v[k];
  double total = 0;
  int cnt = 0;
  for (int k = 0; k < K; k++) {
    double x = isnan(v[k]) ? fill : v[k];
    if (!isnan(x)) { total += x; cnt++; }
  }
  free(sum); free(sq); free(v);
  return cnt ? total / cnt : NAN;
}

static double inter(const struct dml_eval_ctx *c) {
  size_t d = c->d;
  int K = c->n_classes;
  double *ctr = xcalloc((size_t)K * d, sizeof *ctr);
  for (size_t i = 0; i < c->n; i++)
    for (size_t k = 0; k < d; k++) ctr[(size_t)c->cls[i] * d + k] += c->emb_cos[i * d + k];
  for (int k = 0; k < K; k++) {
    double s = 0;
    for (size_t j = 0; j < d; j++) s += ctr[(size_t)k * d + j] * ctr[(size_t)k * d + j];
    s = sqrt(s) > 1e-12 ? sqrt(s) : 1e-12;
    for (size_t j = 0; j < d; j++) ctr[(size_t)k * d + j] /= s;
  }
  /* mean over distinct pairs of 1 − cos = 1 − (‖Σc‖² − Σ‖c‖²) / (K² − K) */
  double *tot = xcalloc(d, sizeof *tot), self = 0;
  for (int k = 0; k < K; k++)
    for (size_t j = 0; j < d; j++) {
      tot[j] += ctr[(size_t)k * d + j];
      self += ctr[(size_t)k * d + j] * ctr[(size_t)k * d + j];
    }
  double s2 = 0;
  for (size_t j = 0; j < d; j++) s2 += tot[j] * tot[j];
  free(tot);
  free(ctr);
  return K > 1 ? 1.0 - (s2 - self) / ((double)K * K - K) : NAN;
}

double dml_metric_dists(const struct dml_eval_ctx *c, int which) { return which == 0 ? intra(c) : inter(c); }
