/* histogram — the histogram loss (Ustinova & Lempitsky 2016) as the reference computes it (spec A9).
 * S = X·Xᵀ (X expected L2-normalised), strict upper triangle pairs. Bins t_r = −1 + r·Δ, r = 0 … R−1,
 * R = --loss_histogram_nbins, Δ = 2/(R−1). A similarity s with r = ⌊(s+1)/Δ⌋ adds (t_{r+1} − s)/Δ to bin r and
 * (s − t_r)/Δ to bin r+1 (bins outside 0 … R−1 are dropped), i.e. a triangular kernel of half-width Δ around each
 * bin centre: a similarity a rounding error above 1 (the same image twice in a class_random batch) still lands in
 * the last bin, as in the reference.
 * h⁺, h⁻ = histograms of positive / negative pairs, each divided by its pair count; CDF⁺_r = Σ_{q≤r} h⁺_q;
 *   L = Σ_r h⁻_r · CDF⁺_r.
 * No miner, no parameters. A batch without positive or without negative pairs gives L = 0 (the reference
 * divides by zero there). The bin of s is computed in double here; the reference finds it in numpy and
 * compares floats for equality (differs only for s exactly on a bin edge). Gradients from the float64 tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

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
      if (!(sv >= -1 - delta && sv <= 1 + delta)) continue; /* NaN, or no bin within reach */
      int r = (int)floor((sv + 1) / delta);
      double tr = -1 + r * delta;
      char ispos = labels[i] == labels[j];
      if (r >= 0 && r < R) { /* (t_{r+1} − s)/Δ */
        cid[nc] = ad_scale(&t, ad_addc(&t, ad_scale(&t, sn, -1), tr + delta), 1 / delta);
        cbin[nc] = r, cpos[nc++] = ispos;
      }
      if (r + 1 >= 0 && r + 1 < R) { /* (s − t_r)/Δ */
        cid[nc] = ad_scale(&t, ad_addc(&t, sn, -tr), 1 / delta);
        cbin[nc] = r + 1, cpos[nc++] = ispos;
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
