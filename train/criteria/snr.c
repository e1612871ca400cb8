/* snr — the signal-to-noise-ratio triplet loss (Yuan et al. 2019) as the reference computes it (spec A9).
 * Over mined triplets, Var = unbiased variance over the D coordinates:
 *   s⁺ = Var(x_a − x_p)/Var(x_a),  s⁻ = Var(x_a − x_n)/Var(x_a),  h_t = relu(s⁺ − s⁻ + m),  m = --loss_snr_margin,
 *   L = Σ_t h_t / #(h_t > 0) + λ·mean_t |Σ_d x_{a,d}|,  λ = --loss_snr_reg_lambda,
 * with λ forced to 0 when --batch_mining is distance or random_distance (the reference checks the miner's name).
 * When no h_t is active the reference returns NaN (0/0); here that term is 0 (documented choice, a NaN loss
 * would end the run). Gradients from the float64 tape. */
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct snr_state {
  double margin, lambda;
};

/* unbiased variance of the row r0 (K entries) */
static int ad_var(struct ad_tape *t, int r0, int K) {
  int mean = ad_scale(t, ad_sum_range(t, r0, K), 1.0 / K);
  int *sq = xmalloc((size_t)K * sizeof *sq);
  for (int k = 0; k < K; k++) sq[k] = ad_square(t, ad_sub(t, r0 + k, mean));
  int v = ad_scale(t, ad_sum(t, sq, K), 1.0 / (K - 1));
  free(sq);
  return v;
}

static int ad_diff_row(struct ad_tape *t, int a0, int b0, int K) {
  int first = t->n;
  for (int k = 0; k < K; k++) ad_sub(t, a0 + k, b0 + k);
  return first;
}

static dml_status snr_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                           const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)labels;
  struct snr_state *s = c->state;
  dml_status st = crit_check_triplets("snr", tu, B);
  if (st) return st;
  if (D < 2) return dml_error(DML_ERR_ARG, "snr loss needs an embedding dimension >= 2");
  memset(grad_emb, 0, (size_t)B * D * sizeof *grad_emb);
  *loss = 0;
  if (!tu->n) return DML_OK;
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int *h = xmalloc(2 * (size_t)tu->n * sizeof *h), *reg = h + tu->n, active = 0;
  for (int i = 0; i < tu->n; i++) {
    int a = x + tu->t[i][0] * D, p = x + tu->t[i][1] * D, n = x + tu->t[i][2] * D;
    int va = ad_var(&t, a, D);
    int vp = ad_var(&t, ad_diff_row(&t, a, p, D), D), vn = ad_var(&t, ad_diff_row(&t, a, n, D), D);
    h[i] = ad_relu(&t, ad_addc(&t, ad_sub(&t, ad_div(&t, vp, va), ad_div(&t, vn, va)), s->margin));
    active += t.v[h[i]] > 0;
    reg[i] = ad_abs(&t, ad_sum_range(&t, a, D));
  }
  int L = active ? ad_scale(&t, ad_sum(&t, h, tu->n), 1.0 / active) : ad_const(&t, 0);
  if (s->lambda != 0) L = ad_add(&t, L, ad_scale(&t, ad_mean(&t, reg, tu->n), s->lambda));
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  free(h);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void snr_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag snr_flags[] = {
  DML_METHOD_FLAG(loss_snr_margin, FLOAT, "0.2", "snr (and semihard miner): margin"),
  DML_METHOD_FLAG(loss_snr_reg_lambda, FLOAT, "0.005", "snr: regulariser weight (0 with the distance miners, as the reference)"),
};

static dml_status snr_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                             struct dml_criterion *c) {
  (void)shape;
  struct snr_state *s = xmalloc(sizeof *s);
  s->margin = dml_opts_float(opt, "loss_snr_margin");
  const char *miner = dml_opts_str(opt, "batch_mining");
  int distance = !strcmp(miner, "distance") || !strcmp(miner, "random_distance");
  s->lambda = distance ? 0 : dml_opts_float(opt, "loss_snr_reg_lambda");
  c->state = s;
  c->loss = snr_loss;
  c->destroy = snr_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_snr = {
  .name = "snr",
  .summary = "signal-to-noise ratio loss",
  DML_METHOD_FLAGS(snr_flags),
  .requires_miner = 1,
  .allowed_miners = "*",
  .create = snr_create,
};
