/* margin — the margin loss of Wu et al. 2017 as the reference computes it (spec A9):
 * per mined triplet t = (a, p, n): d_ap = sqrt(‖x_a − x_p‖² + 1e-8), d_an likewise, β_t = β[class of y_a]
 * (learnable, one per training class, init --loss_margin_beta, lr --loss_margin_beta_lr, no weight decay)
 * or the constant with --loss_margin_beta_constant;
 *   pos_t = relu(d_ap − β_t + α), neg_t = relu(β_t − d_an + α), α = --loss_margin_margin,
 *   n = #{t : pos_t > 0 or neg_t > 0}  (the reference's `sum((pos>0)+(neg>0))`: bool + bool is a logical OR since
 *       PyTorch 1.2, so it counts triplets with an active term; --loss_margin_per_pair_count gives the per-pair
 *       count #(pos_t > 0) + #(neg_t > 0) of PyTorch < 1.2 and Wu et al.),
 *   L = Σ_t (pos_t + neg_t) / n  (the plain sum when n = 0; 0 without triplets),
 *   L += ν · Σ_t β_t when ν = --loss_margin_nu ≠ 0 (the reference crashes there, BUG C1; this is PR #14's fix).
 * Tuples must be (anchor, positive, negative) batch positions (an error otherwise).
 * Gradients are analytic (n is a count, not differentiated), checked against the reference code's fixtures and
 * finite differences in tests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct margin_state {
  double alpha, beta0, nu;
  int beta_constant;
  int per_pair_count;
  int n_classes;
  int32_t *classes;            /* (n_classes) ascending labels */
  struct dml_backend *host;    /* CPU backend that owns the parameter memory */
};

static int class_pos(const struct margin_state *s, int32_t y) {
  int lo = 0, hi = s->n_classes - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (s->classes[mid] == y) return mid;
    if (s->classes[mid] < y) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

static dml_status margin_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                              const struct dml_tuples *tu, double *loss, float *grad_emb) {
  struct margin_state *s = c->state;
  dml_status st = crit_check_triplets("margin", tu, B);
  if (st) return st;
  memset(grad_emb, 0, (size_t)B * D * sizeof *grad_emb);
  *loss = 0;
  if (!tu->n) return DML_OK;
  float *beta = s->beta_constant ? NULL : c->params.p[0].t.data;
  float *dbeta = s->beta_constant ? NULL : c->params.p[0].t.grad;
  double *dap = xmalloc((size_t)tu->n * 4 * sizeof *dap), *dan = dap + tu->n, *pos = dan + tu->n, *neg = pos + tu->n;
  int *bidx = xmalloc((size_t)tu->n * sizeof *bidx);
  double sum = 0, beta_sum = 0;
  long count = 0;
  for (int t = 0; t < tu->n; t++) {
    int a = tu->t[t][0], p = tu->t[t][1], n = tu->t[t][2];
    double sp = 0, sn = 0;
    for (int k = 0; k < D; k++) {
      double u = (double)emb[(size_t)a * D + k] - emb[(size_t)p * D + k];
      double v = (double)emb[(size_t)a * D + k] - emb[(size_t)n * D + k];
      sp += u * u;
      sn += v * v;
    }
    dap[t] = sqrt(sp + 1e-8);
    dan[t] = sqrt(sn + 1e-8);
    int ci = s->beta_constant ? -1 : class_pos(s, labels[a]);
    if (!s->beta_constant && ci < 0) {
      free(dap);
      free(bidx);
      return dml_error(DML_ERR_ARG, "margin loss: label %d is not a training class", labels[a]);
    }
    bidx[t] = ci;
    double b = s->beta_constant ? s->beta0 : beta[ci];
    beta_sum += b;
    pos[t] = fmax(dap[t] - b + s->alpha, 0);
    neg[t] = fmax(b - dan[t] + s->alpha, 0);
    count += s->per_pair_count ? (pos[t] > 0) + (neg[t] > 0) : (pos[t] > 0 || neg[t] > 0);
    sum += pos[t] + neg[t];
  }
  double scale = count ? 1.0 / count : 1.0;
  *loss = sum * scale + (s->nu != 0 ? s->nu * beta_sum : 0);
  for (int t = 0; t < tu->n; t++) {
    int a = tu->t[t][0], p = tu->t[t][1], n = tu->t[t][2];
    double gp = pos[t] > 0 ? scale : 0;   /* dL/dd_ap */
    double gn = neg[t] > 0 ? -scale : 0;  /* dL/dd_an */
    for (int k = 0; k < D; k++) {
      double u = ((double)emb[(size_t)a * D + k] - emb[(size_t)p * D + k]) / dap[t] * gp;
      double v = ((double)emb[(size_t)a * D + k] - emb[(size_t)n * D + k]) / dan[t] * gn;
      grad_emb[(size_t)a * D + k] += (float)(u + v);
      grad_emb[(size_t)p * D + k] -= (float)u;
      grad_emb[(size_t)n * D + k] -= (float)v;
    }
    if (dbeta) dbeta[bidx[t]] += (float)(-gp - gn + s->nu);
  }
  free(dap);
  free(bidx);
  return DML_OK;
}

static void margin_destroy(struct dml_criterion *c) {
  struct margin_state *s = c->state;
  dml_params_free(&c->params);
  dml_backend_free(s->host);
  free(s->classes);
  free(s);
}

static const struct dml_flag margin_flags[] = {
  DML_METHOD_FLAG(loss_margin_margin, FLOAT, "0.2", "margin loss: alpha"),
  DML_METHOD_FLAG(loss_margin_beta_lr, FLOAT, "5e-4", "margin loss: learning rate of beta"),
  DML_METHOD_FLAG(loss_margin_beta, FLOAT, "1.2", "margin loss: initial beta"),
  DML_METHOD_FLAG(loss_margin_nu, FLOAT, "0", "margin loss: beta regulariser weight (reference crashes when != 0; fixed)"),
  DML_METHOD_FLAG(loss_margin_beta_constant, BOOL, "0", "margin loss: beta is a constant"),
  DML_METHOD_FLAG(loss_margin_per_pair_count, BOOL, "0", "(dml) margin loss: normalise by #active pos + #active neg terms (PyTorch < 1.2, Wu et al.) instead of the reference's #triplets with an active term"),
};

static dml_status margin_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                struct dml_criterion *c) {
  struct margin_state *s = xcalloc(1, sizeof *s);
  s->alpha = dml_opts_float(opt, "loss_margin_margin");
  s->beta0 = dml_opts_float(opt, "loss_margin_beta");
  s->nu = dml_opts_float(opt, "loss_margin_nu");
  s->beta_constant = dml_opts_int(opt, "loss_margin_beta_constant");
  s->per_pair_count = dml_opts_int(opt, "loss_margin_per_pair_count");
  s->n_classes = shape->n_classes;
  s->classes = xmalloc((size_t)shape->n_classes * sizeof *s->classes);
  memcpy(s->classes, shape->classes, (size_t)shape->n_classes * sizeof *shape->classes);
  s->host = dml_backend_cpu_new();
  c->state = s;
  c->params_lr = dml_opts_float(opt, "loss_margin_beta_lr");
  c->loss = margin_loss;
  c->destroy = margin_destroy;
  dml_params_init(&c->params, s->host);
  if (!s->beta_constant) {
    dml_params_declare(&c->params, "beta", 1, (int[]){shape->n_classes}, 0, 1);
    dml_params_alloc(&c->params);
    for (int i = 0; i < shape->n_classes; i++) c->params.p[0].t.data[i] = (float)s->beta0;
  } else {
    dml_params_alloc(&c->params);
  }
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_margin = {
  .name = "margin",
  .summary = "margin loss (Wu et al. 2017) with a learnable beta per class",
  DML_METHOD_FLAGS(margin_flags),
  .requires_miner = 1,
  .allowed_miners = "*",
  .create = margin_create,
};
