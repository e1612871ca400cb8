/* oproxy — the NIR repository's proxy criterion (spec B3): ProxyAnchor (--loss_oproxy_mode anchor, default) or
 * its "softplus-separated" ProxyNCA variant (mode nca). Proxies P (C, D), init N(0,1)/8,
 * lr = --lr · --loss_oproxy_lrmulti, no decay, no miner. s_ic = x̂_i·p̂_c (both L2-normalised),
 * α⁺, α⁻, δ⁺, δ⁻ = --loss_oproxy_pos_alpha, _neg_alpha, _pos_delta, _neg_delta.
 *   anchor: pos_j = ln(1 + Σ_{i: y_i = y_j} exp(−α⁺(s_{i,y_j} − δ⁺))) for every batch position j,
 *           neg_c = ln(1 + Σ_{i: y_i ≠ c} exp(α⁻(s_ic − δ⁻))) for every proxy c;  L = mean_j pos_j + mean_c neg_c
 *           (mean over all C proxies, as ProxyAnchor).
 *   nca:    pos_i = ln(1 + n_{y_i}·exp(−α⁺(s_{i,y_i} − δ⁺))) (n = count of the class in the batch, QUIRK),
 *           neg_i = ln(1 + Σ_{c ≠ y_i} exp(α⁻(s_ic − δ⁻)));  L = mean pos + mean neg.
 * Gradients from the float64 tape. */
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct oproxy_state {
  int nca;
  double pa, na, pd, nd;
  int n_classes;
  int32_t *classes;
  struct dml_backend *host;
};

static dml_status oproxy_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                              const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)tu;
  struct oproxy_state *s = c->state;
  int C = s->n_classes;
  int *y = xmalloc((size_t)B * sizeof *y);
  dml_status st = crit_label_pos("oproxy", s->classes, C, labels, B, y);
  if (st) {
    free(y);
    return st;
  }
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int p = ad_leaves_f32(&t, c->params.p[0].t.data, (long)C * D);
  int S = s->nca ? ad_matmul_nt(&t, ad_normalize_rows(&t, x, B, D), B, ad_normalize_rows(&t, p, C, D), C, D) : 0;
  int n = B > C ? B : C;
  int *terms = xmalloc((size_t)n * sizeof *terms), *pos = xmalloc((size_t)B * sizeof *pos);
  int *neg = xmalloc((size_t)n * sizeof *neg);
  int *ppos = xmalloc((size_t)B * sizeof *ppos); /* −α⁺(s_{i,y_i} − δ⁺) */
  if (s->nca)
    for (int i = 0; i < B; i++) ppos[i] = ad_scale(&t, ad_addc(&t, S + i * C + y[i], -s->pd), -s->pa);
  int nneg, L = -1;
  if (!s->nca) {
    L = crit_proxyanchor(&t, x, p, y, B, C, D, s->pa, s->na, s->pd, s->nd);
    nneg = 0;
  } else {
    for (int i = 0; i < B; i++) {
      int m = 0;
      for (int j = 0; j < B; j++)
        if (y[j] == y[i]) terms[m++] = ppos[i];
      pos[i] = ad_log1p_sum_exp(&t, terms, m);
      m = 0;
      for (int cl = 0; cl < C; cl++)
        if (cl != y[i]) terms[m++] = ad_scale(&t, ad_addc(&t, S + i * C + cl, -s->nd), s->na);
      neg[i] = ad_log1p_sum_exp(&t, terms, m);
    }
    nneg = B;
  }
  if (nneg) L = ad_add(&t, ad_mean(&t, pos, B), ad_mean(&t, neg, nneg));
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  crit_grad_acc(&t, p, (long)C * D, c->params.p[0].t.grad);
  free(terms);
  free(pos);
  free(neg);
  free(ppos);
  free(y);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void oproxy_destroy(struct dml_criterion *c) {
  struct oproxy_state *s = c->state;
  crit_release(c, s->host, s->classes, s);
}

static const struct dml_flag oproxy_flags[] = {
  DML_METHOD_FLAG(loss_oproxy_mode, STR, "anchor", "oproxy: anchor (ProxyAnchor) or nca"),
  DML_METHOD_FLAG(loss_oproxy_lrmulti, FLOAT, "2000", "oproxy: proxy lr = lr * lrmulti"),
  DML_METHOD_FLAG(loss_oproxy_pos_alpha, FLOAT, "32", "oproxy: positive scale"),
  DML_METHOD_FLAG(loss_oproxy_neg_alpha, FLOAT, "32", "oproxy: negative scale"),
  DML_METHOD_FLAG(loss_oproxy_pos_delta, FLOAT, "0.1", "oproxy: positive margin"),
  DML_METHOD_FLAG(loss_oproxy_neg_delta, FLOAT, "-0.1", "oproxy: negative margin"),
};

static dml_status oproxy_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                struct dml_criterion *c) {
  const char *mode = dml_opts_str(opt, "loss_oproxy_mode");
  if (strcmp(mode, "anchor") && strcmp(mode, "nca"))
    return dml_error(DML_ERR_ARG, "--loss_oproxy_mode '%s': expected anchor or nca", mode);
  struct oproxy_state *s = xcalloc(1, sizeof *s);
  s->nca = !strcmp(mode, "nca");
  s->pa = dml_opts_float(opt, "loss_oproxy_pos_alpha");
  s->na = dml_opts_float(opt, "loss_oproxy_neg_alpha");
  s->pd = dml_opts_float(opt, "loss_oproxy_pos_delta");
  s->nd = dml_opts_float(opt, "loss_oproxy_neg_delta");
  s->n_classes = shape->n_classes;
  s->classes = xmalloc((size_t)shape->n_classes * sizeof *s->classes);
  memcpy(s->classes, shape->classes, (size_t)shape->n_classes * sizeof *shape->classes);
  s->host = crit_params_one(c, "proxies", shape->n_classes, shape->embed_dim);
  struct dml_rng r = dml_rng_init((uint64_t)dml_opts_int(opt, "seed"), DML_RNG_INIT, 0xc417, 5);
  for (size_t i = 0; i < c->params.total; i++) c->params.p[0].t.data[i] = (float)(dml_rng_normal(&r) / 8);
  c->state = s;
  c->params_lr = dml_opts_float(opt, "lr") * dml_opts_float(opt, "loss_oproxy_lrmulti");
  c->loss = oproxy_loss;
  c->destroy = oproxy_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_oproxy = {
  .name = "oproxy",
  .summary = "ProxyAnchor / ProxyNCA variant of the NIR repository",
  DML_METHOD_FLAGS(oproxy_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = oproxy_create,
};

int crit_proxyanchor(struct ad_tape *t, int x, int p, const int *y, int B, int C, int D, double pa, double na,
                     double pd, double nd) {
  int S = ad_matmul_nt(t, ad_normalize_rows(t, x, B, D), B, ad_normalize_rows(t, p, C, D), C, D);
  int n = B > C ? B : C;
  int *terms = xmalloc((size_t)n * sizeof *terms), *pos = xmalloc((size_t)B * sizeof *pos);
  int *neg = xmalloc((size_t)C * sizeof *neg), *ppos = xmalloc((size_t)B * sizeof *ppos);
  int *arg = xmalloc((size_t)B * C * sizeof *arg);
  for (int i = 0; i < B; i++) ppos[i] = ad_scale(t, ad_addc(t, S + i * C + y[i], -pd), -pa);
  for (int j = 0; j < B; j++) {
    int m = 0;
    for (int i = 0; i < B; i++)
      if (y[i] == y[j]) terms[m++] = ppos[i];
    pos[j] = ad_log1p_sum_exp(t, terms, m);
  }
  for (long k = 0; k < (long)B * C; k++) arg[k] = ad_scale(t, ad_addc(t, S + (int)k, -nd), na);
  for (int cl = 0; cl < C; cl++) {
    int m = 0;
    for (int i = 0; i < B; i++)
      if (y[i] != cl) terms[m++] = arg[(size_t)i * C + cl];
    neg[cl] = ad_log1p_sum_exp(t, terms, m);
  }
  int L = ad_add(t, ad_mean(t, pos, B), ad_mean(t, neg, C));
  free(terms), free(pos), free(neg), free(ppos), free(arg);
  return L;
}
