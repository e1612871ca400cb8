/* softmax — the normalised softmax loss (Zhai & Wu 2018) as the reference computes it (spec A9).
 * Class weights W (C, D), init U(−1/√D, 1/√D), lr --loss_softmax_lr, no decay, no miner.
 *   logits_ic = x_i·ŵ_c / T (ŵ = row-normalised W, T = --loss_softmax_temperature), L = mean CE(logits, y).
 * The embedding is not normalised inside the loss (the arch must). Gradients from the float64 tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct softmax_state {
  double temperature;
  int n_classes;
  int32_t *classes;
  struct dml_backend *host;
};

static dml_status softmax_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                               const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)tu;
  struct softmax_state *s = c->state;
  int C = s->n_classes;
  int *y = xmalloc((size_t)B * sizeof *y);
  dml_status st = crit_label_pos("softmax", s->classes, C, labels, B, y);
  if (st) {
    free(y);
    return st;
  }
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int w = ad_leaves_f32(&t, c->params.p[0].t.data, (long)C * D);
  int S = ad_matmul_nt(&t, x, B, ad_normalize_rows(&t, w, C, D), C, D);
  int lse = ad_row_lse(&t, S, B, C, 1 / s->temperature, 0, NULL); /* (B) */
  int *ell = xmalloc((size_t)B * sizeof *ell), *row = NULL;
  for (int i = 0; i < B; i++) ell[i] = ad_sub(&t, lse + i, ad_scale(&t, S + i * C + y[i], 1 / s->temperature));
  crit_finish(&t, ad_mean(&t, ell, B), x, (long)B * D, loss, grad_emb);
  crit_grad_acc(&t, w, (long)C * D, c->params.p[0].t.grad);
  free(ell);
  free(row);
  free(y);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void softmax_destroy(struct dml_criterion *c) {
  struct softmax_state *s = c->state;
  crit_release(c, s->host, s->classes, s);
}

static const struct dml_flag softmax_flags[] = {
  DML_METHOD_FLAG(loss_softmax_lr, FLOAT, "1e-5", "softmax: lr of the class weights"),
  DML_METHOD_FLAG(loss_softmax_temperature, FLOAT, "0.05", "softmax: temperature"),
};

static dml_status softmax_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                 struct dml_criterion *c) {
  struct softmax_state *s = xcalloc(1, sizeof *s);
  s->temperature = dml_opts_float(opt, "loss_softmax_temperature");
  s->n_classes = shape->n_classes;
  s->classes = xmalloc((size_t)shape->n_classes * sizeof *s->classes);
  memcpy(s->classes, shape->classes, (size_t)shape->n_classes * sizeof *shape->classes);
  s->host = crit_params_one(c, "class_map", shape->n_classes, shape->embed_dim);
  struct dml_rng r = dml_rng_init((uint64_t)dml_opts_int(opt, "seed"), DML_RNG_INIT, 0xc417, 2);
  double bound = 1 / sqrt((double)shape->embed_dim);
  for (size_t i = 0; i < c->params.total; i++)
    c->params.p[0].t.data[i] = (float)((2 * dml_rng_uniform(&r) - 1) * bound);
  c->state = s;
  c->params_lr = dml_opts_float(opt, "loss_softmax_lr");
  c->loss = softmax_loss;
  c->destroy = softmax_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_softmax = {
  .name = "softmax",
  .summary = "normalised softmax classification loss",
  DML_METHOD_FLAGS(softmax_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = softmax_create,
};
