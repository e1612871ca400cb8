/* npair — the N-pair loss (Sohn 2016) as the reference computes it (spec A9). Miner: npair, whose tuples are
 * (a, p, −1): the negatives of a are every sample of another label. If --arch contains "bninception" the
 * embeddings are divided by 4 first (the norm term too).
 *   ℓ_a = ln(1 + Σ_{n∈N_a} exp(x_a·(x_n − x_p))),  L = mean_a ℓ_a + λ·mean_i ‖x_i‖,  λ = --loss_npair_l2.
 * ln(1 + Σ exp) is evaluated stably (the reference overflows to ∞ past exp(88) in float32; same value below).
 * Without anchors only the norm term remains. Gradients from the float64 tape. */
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct npair_state {
  double l2, scale;
};

static dml_status npair_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                             const struct dml_tuples *tu, double *loss, float *grad_emb) {
  struct npair_state *s = c->state;
  for (int i = 0; i < tu->n; i++)
    if (tu->t[i][0] < 0 || tu->t[i][0] >= B || tu->t[i][1] < 0 || tu->t[i][1] >= B)
      return dml_error(DML_ERR_ARG, "npair loss needs (anchor, positive) tuples from the npair miner (tuple %d)", i);
  struct ad_tape t = crit_tape_take(c);
  int x0 = ad_leaves_f32(&t, emb, (long)B * D), x = x0;
  if (s->scale != 1) {
    x = t.n;
    for (long k = 0; k < (long)B * D; k++) ad_scale(&t, x0 + (int)k, s->scale);
  }
  int G = ad_matmul_nt(&t, x, B, x, B, D); /* (B, B) inner products */
  int *terms = xmalloc((size_t)B * sizeof *terms), *ell = xmalloc(((size_t)tu->n + 1) * sizeof *ell);
  for (int i = 0; i < tu->n; i++) {
    int a = tu->t[i][0], p = tu->t[i][1], nn = 0;
    int ap = G + a * B + p;
    for (int j = 0; j < B; j++)
      if (labels[j] != labels[a]) terms[nn++] = ad_sub(&t, G + a * B + j, ap);
    ell[i] = ad_log1p_sum_exp(&t, terms, nn);
  }
  for (int i = 0; i < B; i++) terms[i] = ad_norm(&t, x + i * D, D);
  int reg = ad_scale(&t, ad_mean(&t, terms, B), s->l2);
  int L = tu->n ? ad_add(&t, ad_mean(&t, ell, tu->n), reg) : reg;
  crit_finish(&t, L, x0, (long)B * D, loss, grad_emb);
  free(terms);
  free(ell);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void npair_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag npair_flags[] = {
  DML_METHOD_FLAG(loss_npair_l2, FLOAT, "0.005", "npair: weight of the mean embedding norm"),
};

static dml_status npair_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                               struct dml_criterion *c) {
  (void)shape;
  struct npair_state *s = xmalloc(sizeof *s);
  s->l2 = dml_opts_float(opt, "loss_npair_l2");
  s->scale = strstr(dml_opts_str(opt, "arch"), "bninception") ? 0.25 : 1;
  c->state = s;
  c->loss = npair_loss;
  c->destroy = npair_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_npair = {
  .name = "npair",
  .summary = "N-pair loss",
  DML_METHOD_FLAGS(npair_flags),
  .requires_miner = 1,
  .allowed_miners = "npair",
  .create = npair_create,
};
