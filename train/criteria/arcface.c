/* arcface — ArcFace (Deng et al. 2019) as the reference computes it at HEAD (spec A9, R1).
 * Class weights W (C, D), init U(−1/√D, 1/√D), lr --loss_arcface_lr, no decay, no miner.
 *   c_ic = clamp(x_i·ŵ_c, 1e-10, 1 − 1e-10) for all classes (QUIRK: negative cosines become ≈0; the embedding
 *   is not normalised inside the loss), θ_i = arccos(c_{i,y_i}),
 *   logits_ic = s·c_ic (c ≠ y_i), s·cos(θ_i + m) (c = y_i);  s = --loss_arcface_feature_scale, m = ..._angular_margin;
 *   L = mean CE. No easy-margin / threshold handling.
 * --loss_arcface_all_logits: the ICML-era version (before reference commit 703d189): the margin correction
 * cos(θ_i + m) − c_{i,y_i} is added to every logit of row i, which cancels in the softmax, so
 * L = mean CE(s·c). Gradients from the float64 tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct arcface_state {
  double margin, scale;
  int all_logits;
  int n_classes;
  int32_t *classes;
  struct dml_backend *host;
};

static dml_status arcface_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                               const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)tu;
  struct arcface_state *s = c->state;
  int C = s->n_classes;
  int *y = xmalloc((size_t)B * sizeof *y);
  dml_status st = crit_label_pos("arcface", s->classes, C, labels, B, y);
  if (st) {
    free(y);
    return st;
  }
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int w = ad_leaves_f32(&t, c->params.p[0].t.data, (long)C * D);
  int S = ad_matmul_nt(&t, x, B, ad_normalize_rows(&t, w, C, D), C, D);
  int cl = t.n; /* (B, C) clamped cosines */
  for (long k = 0; k < (long)B * C; k++) ad_clamp(&t, S + (int)k, 1e-10, 1 - 1e-10);
  int *ell = xmalloc((size_t)B * sizeof *ell), *row = NULL;
  if (s->all_logits) {
    int lse = ad_row_lse(&t, cl, B, C, s->scale, 0, NULL);
    for (int i = 0; i < B; i++) ell[i] = ad_sub(&t, lse + i, ad_scale(&t, cl + i * C + y[i], s->scale));
  } else {
    int lse = C > 1 ? ad_row_lse(&t, cl, B, C, s->scale, 0, y) : -1; /* over the other classes */
    for (int i = 0; i < B; i++) {
      int target = ad_scale(&t, ad_cos(&t, ad_addc(&t, ad_acos(&t, cl + i * C + y[i]), s->margin)), s->scale);
      int both[2] = {target, lse + i};
      ell[i] = ad_sub(&t, lse >= 0 ? ad_lse(&t, both, 2) : target, target);
    }
  }
  crit_finish(&t, ad_mean(&t, ell, B), x, (long)B * D, loss, grad_emb);
  crit_grad_acc(&t, w, (long)C * D, c->params.p[0].t.grad);
  free(ell);
  free(row);
  free(y);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void arcface_destroy(struct dml_criterion *c) {
  struct arcface_state *s = c->state;
  crit_release(c, s->host, s->classes, s);
}

static const struct dml_flag arcface_flags[] = {
  DML_METHOD_FLAG(loss_arcface_lr, FLOAT, "5e-4", "arcface: lr of the class weights"),
  DML_METHOD_FLAG(loss_arcface_angular_margin, FLOAT, "0.5", "arcface: additive angular margin (rad)"),
  DML_METHOD_FLAG(loss_arcface_feature_scale, FLOAT, "16", "arcface: scale s"),
  DML_METHOD_FLAG(loss_arcface_all_logits, BOOL, "0", "(dml) arcface: ICML-era version (margin correction added to every logit of the row)"),
};

static dml_status arcface_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                 struct dml_criterion *c) {
  struct arcface_state *s = xcalloc(1, sizeof *s);
  s->margin = dml_opts_float(opt, "loss_arcface_angular_margin");
  s->scale = dml_opts_float(opt, "loss_arcface_feature_scale");
  s->all_logits = dml_opts_int(opt, "loss_arcface_all_logits");
  s->n_classes = shape->n_classes;
  s->classes = xmalloc((size_t)shape->n_classes * sizeof *s->classes);
  memcpy(s->classes, shape->classes, (size_t)shape->n_classes * sizeof *shape->classes);
  s->host = crit_params_one(c, "class_map", shape->n_classes, shape->embed_dim);
  struct dml_rng r = dml_rng_init((uint64_t)dml_opts_int(opt, "seed"), DML_RNG_INIT, 0xc417, 3);
  double bound = 1 / sqrt((double)shape->embed_dim);
  for (size_t i = 0; i < c->params.total; i++)
    c->params.p[0].t.data[i] = (float)((2 * dml_rng_uniform(&r) - 1) * bound);
  c->state = s;
  c->params_lr = dml_opts_float(opt, "loss_arcface_lr");
  c->loss = arcface_loss;
  c->destroy = arcface_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_arcface = {
  .name = "arcface",
  .summary = "ArcFace additive angular margin loss",
  DML_METHOD_FLAGS(arcface_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = arcface_create,
};
