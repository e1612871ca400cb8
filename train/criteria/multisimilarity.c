/* multisimilarity — the multi-similarity loss (Wang et al. 2019) in the Revisit reference's per-anchor form
 * (spec A9). S = X·Xᵀ. For each anchor i: P = same label except i, N = other labels; mining on the values:
 * keep n with S_in + ε > min_{p∈P} S_ip, keep p with S_ip − ε < max_{n∈N} S_in; an anchor with an empty kept
 * set is skipped;
 *   ℓ_i = (1/α)·ln(1 + Σ_p exp(−α(S_ip − λ))) + (1/β)·ln(1 + Σ_n exp(β(S_in − λ))),
 *   L = mean over kept anchors.  α, β, ε, λ = --loss_multisimilarity_pos_weight, _neg_weight, _margin, _thresh.
 * The reference crashes when no anchor is kept; L = 0 here. No miner, no parameters.
 * --loss_multisimilarity_variant nir: the NIR repository's vectorised form (spec B4): per column j, positives
 * (i ≠ j, same label) kept if S_ij − ε < max_{k neg of j} S_kj, negatives kept if S_ij + ε > min_{k pos of j} S_kj;
 *   pos_j = ln(1 + Σ exp(−α(S_ij − λ⁺))), neg_j = ln(1 + Σ exp(β(S_ij − λ⁻))) (0 when nothing is kept),
 *   L = (1/α)·softplus(mean_j pos_j) + (1/β)·softplus(mean_j neg_j)   (QUIRK kept: softplus of a softplus mean),
 * λ⁺, λ⁻ = --loss_multisimilarity_pos_thresh, _neg_thresh.
 * Gradients from the float64 tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct ms_state {
  double alpha, beta, eps, lambda, lpos, lneg;
  int nir;
};

static dml_status ms_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                          const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)tu;
  struct ms_state *s = c->state;
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int S = ad_matmul_nt(&t, x, B, x, B, D);
  int *pos = xmalloc(2 * (size_t)B * sizeof *pos), *neg = pos + B, *ell = xmalloc((size_t)B * sizeof *ell);
  int kept = 0;
  if (s->nir) {
    int *pc = xmalloc(2 * (size_t)B * sizeof *pc), *nc = pc + B;
    for (int j = 0; j < B; j++) {
      double minp = INFINITY, maxn = -INFINITY;
      for (int i = 0; i < B; i++) {
        double v = t.v[S + i * B + j];
        if (i != j && labels[i] == labels[j]) minp = fmin(minp, v);
        if (labels[i] != labels[j]) maxn = fmax(maxn, v);
      }
      int np = 0, nn = 0;
      for (int i = 0; i < B; i++) {
        int sn = S + i * B + j;
        double v = t.v[sn];
        if (i != j && labels[i] == labels[j] && v - s->eps < maxn)
          pos[np++] = ad_scale(&t, ad_addc(&t, sn, -s->lpos), -s->alpha);
        if (labels[i] != labels[j] && v + s->eps > minp) neg[nn++] = ad_scale(&t, ad_addc(&t, sn, -s->lneg), s->beta);
      }
      pc[j] = ad_log1p_sum_exp(&t, pos, np);
      nc[j] = ad_log1p_sum_exp(&t, neg, nn);
    }
    int L = ad_add(&t, ad_scale(&t, ad_softplus(&t, ad_mean(&t, pc, B)), 1 / s->alpha),
                   ad_scale(&t, ad_softplus(&t, ad_mean(&t, nc, B)), 1 / s->beta));
    crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
    free(pc);
    free(pos);
    free(ell);
    crit_tape_give(c, &t);
    return DML_OK;
  }
  for (int i = 0; i < B; i++) {
    double minp = INFINITY, maxn = -INFINITY;
    for (int j = 0; j < B; j++) {
      double v = t.v[S + i * B + j];
      if (j != i && labels[j] == labels[i]) minp = fmin(minp, v);
      if (labels[j] != labels[i]) maxn = fmax(maxn, v);
    }
    int np = 0, nn = 0;
    for (int j = 0; j < B; j++) {
      int sn = S + i * B + j;
      double v = t.v[sn];
      if (j != i && labels[j] == labels[i] && v - s->eps < maxn)
        pos[np++] = ad_scale(&t, ad_addc(&t, sn, -s->lambda), -s->alpha);
      if (labels[j] != labels[i] && v + s->eps > minp) neg[nn++] = ad_scale(&t, ad_addc(&t, sn, -s->lambda), s->beta);
    }
    if (!np || !nn) continue;
    ell[kept++] = ad_add(&t, ad_scale(&t, ad_log1p_sum_exp(&t, pos, np), 1 / s->alpha),
                         ad_scale(&t, ad_log1p_sum_exp(&t, neg, nn), 1 / s->beta));
  }
  int L = kept ? ad_mean(&t, ell, kept) : ad_const(&t, 0);
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  free(pos);
  free(ell);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void ms_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag multisimilarity_flags[] = {
  DML_METHOD_FLAG(loss_multisimilarity_pos_weight, FLOAT, "2", "multisimilarity: alpha"),
  DML_METHOD_FLAG(loss_multisimilarity_neg_weight, FLOAT, "40", "multisimilarity: beta"),
  DML_METHOD_FLAG(loss_multisimilarity_margin, FLOAT, "0.1", "multisimilarity: mining epsilon"),
  DML_METHOD_FLAG(loss_multisimilarity_thresh, FLOAT, "0.5", "multisimilarity: lambda"),
  DML_METHOD_FLAG(loss_multisimilarity_variant, STR, "revisit", "(dml) multisimilarity: revisit (per-anchor) or nir (the NIR repository's vectorised form)"),
  DML_METHOD_FLAG(loss_multisimilarity_pos_thresh, FLOAT, "0.5", "multisimilarity, variant nir: lambda+"),
  DML_METHOD_FLAG(loss_multisimilarity_neg_thresh, FLOAT, "0.5", "multisimilarity, variant nir: lambda-"),
};

static dml_status multisimilarity_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                         struct dml_criterion *c) {
  (void)shape;
  struct ms_state *s = xmalloc(sizeof *s);
  s->alpha = dml_opts_float(opt, "loss_multisimilarity_pos_weight");
  s->beta = dml_opts_float(opt, "loss_multisimilarity_neg_weight");
  s->eps = dml_opts_float(opt, "loss_multisimilarity_margin");
  s->lambda = dml_opts_float(opt, "loss_multisimilarity_thresh");
  s->lpos = dml_opts_float(opt, "loss_multisimilarity_pos_thresh");
  s->lneg = dml_opts_float(opt, "loss_multisimilarity_neg_thresh");
  const char *v = dml_opts_str(opt, "loss_multisimilarity_variant");
  if (strcmp(v, "revisit") && strcmp(v, "nir")) {
    free(s);
    return dml_error(DML_ERR_ARG, "--loss_multisimilarity_variant '%s': expected revisit or nir", v);
  }
  s->nir = !strcmp(v, "nir");
  c->state = s;
  c->loss = ms_loss;
  c->destroy = ms_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_multisimilarity = {
  .name = "multisimilarity",
  .summary = "multi-similarity loss",
  DML_METHOD_FLAGS(multisimilarity_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = multisimilarity_create,
};
