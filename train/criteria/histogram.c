/* histogram — the histogram loss (Ustinova & Lempitsky 2016) as the reference computes it (spec A9).
 * S = X·Xᵀ (X expected L2-normalised), strict upper triangle pairs. Bins t_r = support[r], r = 0 … R−1,
 * R = --loss_histogram_nbins, Δ = 2/(R−1), support = np.linspace(−1, 1, R) (r·Δ + (−1), the last exactly 1).
 * A similarity s goes to k = int((s+1)/Δ) (truncated toward zero, numpy's astype(int)) and adds
 * (t_k + Δ − s)/Δ to bin k and (s − t_{k+1} + Δ)/Δ to bin k+1 (bins outside 0 … R−1 are dropped), i.e. a
 * triangular kernel of half-width Δ around each bin centre: a similarity a rounding error above 1 (the same image
 * twice in a class_random batch) still lands in the last bin, as in the reference.
 * QUIRK H1, reproduced bit for bit: histogram.py keeps a share only where the float64 equality tests
 * `k·Δ − 1 == support[k]` (own bin) and `k·Δ − 1 == support[k+1] − Δ` (the share to the bin above) hold, and
 * they fail for some k whenever Δ is not exact (R = 11, the SOP runs: the upper share of every s in
 * [−0.6, 0.6) is dropped). Those exact float64 expressions are evaluated here (h1_tests), so the same shares
 * are dropped. (k itself is computed in float64 from the float64 similarity; the reference computes it in the
 * batch's dtype — they differ only for s within rounding of a bin edge.)
 * h⁺, h⁻ = histograms of positive / negative pairs, each divided by its pair count; CDF⁺_r = Σ_{q≤r} h⁺_q;
 *   L = Σ_r h⁻_r · CDF⁺_r.
 * No miner, no parameters. A batch without positive or without negative pairs gives L = 0 (the reference
 * divides by zero there). Gradients from the float64 tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

/* numpy's float64 values, each rounded on its own (volatile: no fused multiply-add) */
static double h1_support(int R, int r, double bw) {
  if (r == R - 1) return 1.0; /* linspace sets the endpoint exactly */
  volatile double m = (double)r * bw;
  return m + -1.0;
}

static double h1_assigned(long k, double bw) {
  volatile double m = (double)k * bw;
  return m - 1.0;
}

void crit_histogram_h1(int R, long k, int *keep_own, int *keep_up) {
  double bw = 2.0 / (R - 1), a = h1_assigned(k, bw);
  *keep_own = k >= 0 && k < R && a == h1_support(R, (int)k, bw);
  volatile double lower = k + 1 >= 0 && k + 1 < R ? h1_support(R, (int)(k + 1), bw) - bw : NAN;
  *keep_up = k + 1 >= 0 && k + 1 < R && a == lower;
}

static dml_status histogram_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                                 const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)tu;
  int R = *(int *)c->state;
  double delta = 2.0 / (R - 1);
  long npos = 0, nneg = 0;
  for (int i = 0; i < B; i++)
    for (int j = i + 1; j < B; j++) {
      if (labels[i] == labels[j]) npos++;
      else nneg++;
    }
  memset(grad_emb, 0, (size_t)B * D * sizeof *grad_emb);
  *loss = 0;
  if (!npos || !nneg) return DML_OK;
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int S = ad_matmul_nt(&t, x, B, x, B, D);
  /* per bin: list of contributions (node ids) for positive and negative pairs */
  int cap = (int)(2 * (npos + nneg) + 2);
  int *cid = xmalloc((size_t)cap * sizeof *cid), *cbin = xmalloc((size_t)cap * sizeof *cbin);
  char *cpos = xmalloc((size_t)cap);
  int nc = 0;
  for (int i = 0; i < B; i++)
    for (int j = i + 1; j < B; j++) {
      int sn = S + i * B + j;
      double sv = t.v[sn];
      if (!(sv >= -1 - 2 * delta && sv <= 1 + 2 * delta)) continue; /* NaN, or no bin within reach */
      long k = (long)((sv + 1) / delta);                             /* truncation, as numpy's astype(int) */
      int keep_own, keep_up;
      crit_histogram_h1(R, k, &keep_own, &keep_up);
      char ispos = labels[i] == labels[j];
      if (keep_own) { /* (t_k + Δ − s)/Δ */
        cid[nc] = ad_scale(&t, ad_addc(&t, ad_scale(&t, sn, -1), h1_support(R, (int)k, delta) + delta), 1 / delta);
        cbin[nc] = (int)k, cpos[nc++] = ispos;
      }
      if (keep_up) { /* (s − t_{k+1} + Δ)/Δ */
        cid[nc] = ad_scale(&t, ad_addc(&t, sn, delta - h1_support(R, (int)(k + 1), delta)), 1 / delta);
        cbin[nc] = (int)(k + 1), cpos[nc++] = ispos;
      }
    }
  int *hp = xmalloc(2 * (size_t)R * sizeof *hp), *hn = hp + R, *list = xmalloc(((size_t)nc + 1) * sizeof *list);
  for (int r = 0; r < R; r++)
    for (int sgn = 0; sgn < 2; sgn++) {
      int m = 0;
      for (int k = 0; k < nc; k++)
        if (cbin[k] == r && cpos[k] == !sgn) list[m++] = cid[k];
      int h = ad_scale(&t, ad_sum(&t, list, m), 1.0 / (sgn ? nneg : npos));
      (sgn ? hn : hp)[r] = h;
    }
  int *terms = xmalloc((size_t)R * sizeof *terms);
  int cdf = hp[0];
  for (int r = 0; r < R; r++) {
    if (r) cdf = ad_add(&t, cdf, hp[r]);
    terms[r] = ad_mul(&t, hn[r], cdf);
  }
  crit_finish(&t, ad_sum(&t, terms, R), x, (long)B * D, loss, grad_emb);
  free(cid);
  free(cbin);
  free(cpos);
  free(hp);
  free(list);
  free(terms);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void histogram_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag histogram_flags[] = {
  DML_METHOD_FLAG(loss_histogram_nbins, INT, "65", "histogram: bins"),
};

static dml_status histogram_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                   struct dml_criterion *c) {
  (void)shape;
  if (dml_opts_int(opt, "loss_histogram_nbins") < 2) return dml_error(DML_ERR_ARG, "--loss_histogram_nbins must be >= 2");
  int *R = xmalloc(sizeof *R);
  *R = dml_opts_int(opt, "loss_histogram_nbins");
  c->state = R;
  c->loss = histogram_loss;
  c->destroy = histogram_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_histogram = {
  .name = "histogram",
  .summary = "histogram loss",
  DML_METHOD_FLAGS(histogram_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = histogram_create,
};
