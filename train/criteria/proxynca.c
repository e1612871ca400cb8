/* proxynca — ProxyNCA (Movshovitz-Attias et al. 2017) as the reference computes it (spec A9).
 * Proxies P (C, D), init N(0,1)/8 (counter RNG, INIT stream), lr = --lr · --loss_proxynca_lrmulti, no decay,
 * no miner. x̃ = 3·x/‖x‖, p̃_c = 3·P_c/‖P_c‖, d_ic = ‖x̃_i − p̃_c‖² (= 18 − 18·x̂_i·p̂_c, computed that way so
 * the SOP scale costs one B×C product):
 *   L = mean_i [ d_{i,y_i} + ln Σ_{c≠y_i} exp(−d_ic) ].
 * Labels index proxies through their class position. Gradients from the float64 tape. */
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct proxynca_state {
  int n_classes;
  int32_t *classes;
  struct dml_backend *host;
};

static dml_status proxynca_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                                const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)tu;
  struct proxynca_state *s = c->state;
  int C = s->n_classes;
  int *y = xmalloc((size_t)B * sizeof *y);
  dml_status st = crit_label_pos("proxynca", s->classes, C, labels, B, y);
  if (st) {
    free(y);
    return st;
  }
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int p = ad_leaves_f32(&t, c->params.p[0].t.data, (long)C * D);
  int S = ad_matmul_nt(&t, ad_normalize_rows(&t, x, B, D), B, ad_normalize_rows(&t, p, C, D), C, D);
  int *neg = NULL, *ell = xmalloc((size_t)B * sizeof *ell);
  int lse = C > 1 ? ad_row_lse(&t, S, B, C, 18, -18, y) : -1; /* ln Σ_{k≠y_i} exp(−d_ik) */
  for (int i = 0; i < B; i++) {
    int dpos = ad_addc(&t, ad_scale(&t, S + i * C + y[i], -18), 18);
    ell[i] = lse >= 0 ? ad_add(&t, dpos, lse + i) : dpos;
  }
  crit_finish(&t, ad_mean(&t, ell, B), x, (long)B * D, loss, grad_emb);
  crit_grad_acc(&t, p, (long)C * D, c->params.p[0].t.grad);
  free(neg);
  free(ell);
  free(y);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void proxynca_destroy(struct dml_criterion *c) {
  struct proxynca_state *s = c->state;
  crit_release(c, s->host, s->classes, s);
}

static const struct dml_flag proxynca_flags[] = {
  DML_METHOD_FLAG(loss_proxynca_lrmulti, FLOAT, "50", "proxynca: proxy lr = lr * lrmulti"),
};

static dml_status proxynca_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                  struct dml_criterion *c) {
  struct proxynca_state *s = xcalloc(1, sizeof *s);
  s->n_classes = shape->n_classes;
  s->classes = xmalloc((size_t)shape->n_classes * sizeof *s->classes);
  memcpy(s->classes, shape->classes, (size_t)shape->n_classes * sizeof *shape->classes);
  s->host = crit_params_one(c, "proxies", shape->n_classes, shape->embed_dim);
  struct dml_rng r = dml_rng_init((uint64_t)dml_opts_int(opt, "seed"), DML_RNG_INIT, 0xc417, 1);
  for (size_t i = 0; i < c->params.total; i++) c->params.p[0].t.data[i] = (float)(dml_rng_normal(&r) / 8);
  c->state = s;
  c->params_lr = dml_opts_float(opt, "lr") * dml_opts_float(opt, "loss_proxynca_lrmulti");
  c->loss = proxynca_loss;
  c->destroy = proxynca_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_proxynca = {
  .name = "proxynca",
  .summary = "ProxyNCA with one proxy per class",
  DML_METHOD_FLAGS(proxynca_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = proxynca_create,
};
