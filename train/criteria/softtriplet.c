/* softtriplet — SoftTriple (Qian et al. 2019) as the reference codes it (spec A9, QUIRK + BUG C3).
 * Centroids W (D, C·K), K = --loss_softtriplet_n_centroids, init U(−1/√(CK), 1/√(CK)),
 * lr = --lr · --loss_softtriplet_lrmulti (the reference reads a missing flag and crashes, BUG C3), no decay.
 * Default (as coded): Ŵ = W with each of its D rows normalised across all C·K centroids; S = x·Ŵ (B, C, K);
 *   weights = softmax over the class axis of γ·S; s_ic = Σ_k weight_ick·S_ick.
 * --loss_softtriplet_paper: Ŵ = each centroid column normalised; weights = softmax over the K centroids of a
 *   class of S/γ (the paper and its official code).
 * L_cls = CE(λ·(s − δ·onehot(y))); Reg = Σ_c Σ_{k<k′} sqrt(2.00001 − 2·ŵ_k·ŵ_k′) / (C·K·(K−1)) over the centroid
 * columns ŵ of a class (0 when K = 1, where the reference divides 0 by 0); L = L_cls + τ·Reg.
 * γ, λ, δ, τ = --loss_softtriplet_gamma, _lambda, _margin_delta, _reg_weight. As coded, row normalisation does
 * not bound ŵ_k·ŵ_k′ by 1, so the square root can see a negative argument (NaN, as the reference).
 * Gradients from the float64 tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct softtriplet_state {
  int K, paper;
  double delta, gamma, lambda, tau;
  int n_classes;
  int32_t *classes;
  struct dml_backend *host;
};

static dml_status softtriplet_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                                   const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)tu;
  struct softtriplet_state *s = c->state;
  int C = s->n_classes, K = s->K, CK = C * K;
  int *y = xmalloc((size_t)B * sizeof *y);
  dml_status st = crit_label_pos("softtriplet", s->classes, C, labels, B, y);
  if (st) {
    free(y);
    return st;
  }
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int w = ad_leaves_f32(&t, c->params.p[0].t.data, (long)D * CK); /* (D, CK) */
  int wt;                                                           /* (CK, D) normalised centroids */
  if (s->paper) wt = ad_normalize_rows(&t, ad_transpose(&t, w, D, CK), CK, D);
  else wt = ad_transpose(&t, ad_normalize_rows(&t, w, D, CK), D, CK);
  int S = ad_matmul_nt(&t, x, B, wt, CK, D); /* (B, C, K) */
  int *logit = xmalloc((size_t)C * sizeof *logit), *ell = xmalloc((size_t)B * sizeof *ell);
  int *grp = xmalloc((size_t)(C > K ? C : K) * sizeof *grp), *prod = xmalloc((size_t)K * sizeof *prod);
  int *wts = xmalloc((size_t)CK * sizeof *wts);
  for (int i = 0; i < B; i++) {
    int r0 = S + i * CK;
    if (s->paper) {
      for (int cl = 0; cl < C; cl++) {
        for (int k = 0; k < K; k++) grp[k] = ad_scale(&t, r0 + cl * K + k, 1 / s->gamma);
        int lse = ad_lse(&t, grp, K);
        for (int k = 0; k < K; k++) wts[cl * K + k] = ad_exp(&t, ad_sub(&t, grp[k], lse));
      }
    } else {
      for (int k = 0; k < K; k++) {
        for (int cl = 0; cl < C; cl++) grp[cl] = ad_scale(&t, r0 + cl * K + k, s->gamma);
        int lse = ad_lse(&t, grp, C);
        for (int cl = 0; cl < C; cl++) wts[cl * K + k] = ad_exp(&t, ad_sub(&t, grp[cl], lse));
      }
    }
    for (int cl = 0; cl < C; cl++) {
      for (int k = 0; k < K; k++) prod[k] = ad_mul(&t, wts[cl * K + k], r0 + cl * K + k);
      int sc = ad_sum(&t, prod, K);
      if (cl == y[i]) sc = ad_addc(&t, sc, -s->delta);
      logit[cl] = ad_scale(&t, sc, s->lambda);
    }
    ell[i] = ad_sub(&t, ad_lse(&t, logit, C), logit[y[i]]);
  }
  int L = ad_mean(&t, ell, B);
  if (K > 1) {
    int npair = C * K * (K - 1) / 2, m = 0;
    int *terms = xmalloc((size_t)npair * sizeof *terms);
    for (int cl = 0; cl < C; cl++)
      for (int k = 0; k < K; k++)
        for (int k2 = k + 1; k2 < K; k2++) {
          int dot = ad_dot(&t, wt + (cl * K + k) * D, wt + (cl * K + k2) * D, D);
          terms[m++] = ad_sqrt(&t, ad_addc(&t, ad_scale(&t, dot, -2), 2.00001));
        }
    int reg = ad_scale(&t, ad_sum(&t, terms, m), 1.0 / ((double)C * K * (K - 1)));
    L = ad_add(&t, L, ad_scale(&t, reg, s->tau));
    free(terms);
  }
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  crit_grad_acc(&t, w, (long)D * CK, c->params.p[0].t.grad);
  free(logit);
  free(ell);
  free(grp);
  free(prod);
  free(wts);
  free(y);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void softtriplet_destroy(struct dml_criterion *c) {
  struct softtriplet_state *s = c->state;
  crit_release(c, s->host, s->classes, s);
}

static const struct dml_flag softtriplet_flags[] = {
  DML_METHOD_FLAG(loss_softtriplet_n_centroids, INT, "2", "softtriplet: centroids per class (K)"),
  DML_METHOD_FLAG(loss_softtriplet_margin_delta, FLOAT, "0.01", "softtriplet: delta"),
  DML_METHOD_FLAG(loss_softtriplet_gamma, FLOAT, "0.1", "softtriplet: gamma"),
  DML_METHOD_FLAG(loss_softtriplet_lambda, FLOAT, "8", "softtriplet: lambda"),
  DML_METHOD_FLAG(loss_softtriplet_reg_weight, FLOAT, "0.2", "softtriplet: tau (centroid regulariser weight)"),
  DML_METHOD_FLAG(loss_softtriplet_lrmulti, FLOAT, "1", "softtriplet: centroid lr = lr * lrmulti (BUG C3 fixed)"),
  DML_METHOD_FLAG(loss_softtriplet_paper, BOOL, "0", "(dml) softtriplet: paper form (normalised centroids, softmax over K with 1/gamma)"),
};

static dml_status softtriplet_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                     struct dml_criterion *c) {
  if (dml_opts_int(opt, "loss_softtriplet_n_centroids") < 1)
    return dml_error(DML_ERR_ARG, "--loss_softtriplet_n_centroids must be >= 1");
  struct softtriplet_state *s = xcalloc(1, sizeof *s);
  s->K = dml_opts_int(opt, "loss_softtriplet_n_centroids");
  s->paper = dml_opts_int(opt, "loss_softtriplet_paper");
  s->delta = dml_opts_float(opt, "loss_softtriplet_margin_delta");
  s->gamma = dml_opts_float(opt, "loss_softtriplet_gamma");
  s->lambda = dml_opts_float(opt, "loss_softtriplet_lambda");
  s->tau = dml_opts_float(opt, "loss_softtriplet_reg_weight");
  s->n_classes = shape->n_classes;
  s->classes = xmalloc((size_t)shape->n_classes * sizeof *s->classes);
  memcpy(s->classes, shape->classes, (size_t)shape->n_classes * sizeof *shape->classes);
  s->host = crit_params_one(c, "intra_class_weights", shape->embed_dim, shape->n_classes * s->K);
  struct dml_rng r = dml_rng_init((uint64_t)dml_opts_int(opt, "seed"), DML_RNG_INIT, 0xc417, 4);
  double bound = 1 / sqrt((double)shape->n_classes * s->K);
  for (size_t i = 0; i < c->params.total; i++)
    c->params.p[0].t.data[i] = (float)((2 * dml_rng_uniform(&r) - 1) * bound);
  c->state = s;
  c->params_lr = dml_opts_float(opt, "lr") * dml_opts_float(opt, "loss_softtriplet_lrmulti");
  c->loss = softtriplet_loss;
  c->destroy = softtriplet_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_softtriplet = {
  .name = "softtriplet",
  .summary = "SoftTriple loss with K centroids per class",
  DML_METHOD_FLAGS(softtriplet_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = softtriplet_create,
};
