/* angular — the angular loss (Wang et al. 2017) combined with N-pair as the reference computes it (spec A9).
 * Miner: npair ((a, p, −1) tuples; negatives = every sample of another label). With t = tan²(α),
 * α = --loss_angular_alpha degrees, x̂ the L2-normalised embeddings:
 *   f(a,p,n) = 4t·(x̂_a + x̂_p)·x̂_n − 2(1+t)·x̂_a·x̂_p,          L_ang = mean_a ln(1 + Σ_n exp f)
 *   L_np = mean_a ln(1 + Σ_n exp(clamp(x_a·(x_n − x_p), −50, 50)))  (raw embeddings)
 *   L = L_np + w·L_ang + λ·mean_i ‖x_i‖,  w = --loss_angular_npair_ang_weight, λ = --loss_angular_npair_l2.
 * The reference's vectorised form needs every anchor to have the same number of negatives (QUIRK); the per-anchor
 * form here equals it whenever the reference runs and also works for unequal counts.
 * Gradients from the float64 tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct angular_state {
  double tan2, ang_weight, l2;
};

static dml_status angular_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                               const struct dml_tuples *tu, double *loss, float *grad_emb) {
  struct angular_state *s = c->state;
  for (int i = 0; i < tu->n; i++)
    if (tu->t[i][0] < 0 || tu->t[i][0] >= B || tu->t[i][1] < 0 || tu->t[i][1] >= B)
      return dml_error(DML_ERR_ARG, "angular loss needs (anchor, positive) tuples from the npair miner (tuple %d)", i);
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int xn = ad_normalize_rows(&t, x, B, D);
  int G = ad_matmul_nt(&t, x, B, x, B, D), Gn = ad_matmul_nt(&t, xn, B, xn, B, D); /* (B, B) inner products */
  int *terms = xmalloc((size_t)B * sizeof *terms), *ang = xmalloc(2 * ((size_t)tu->n + 1) * sizeof *ang);
  int *np = ang + tu->n + 1;
  for (int i = 0; i < tu->n; i++) {
    int a = tu->t[i][0], p = tu->t[i][1], nn = 0;
    int ap = G + a * B + p;
    for (int j = 0; j < B; j++)
      if (labels[j] != labels[a]) terms[nn++] = ad_clamp(&t, ad_sub(&t, G + a * B + j, ap), -50, 50);
    np[i] = ad_log1p_sum_exp(&t, terms, nn);
    int hap = ad_scale(&t, Gn + a * B + p, -2 * (1 + s->tan2));
    nn = 0;
    for (int j = 0; j < B; j++)
      if (labels[j] != labels[a]) {
        int an = Gn + a * B + j, pn = Gn + p * B + j;
        terms[nn++] = ad_add(&t, ad_scale(&t, ad_add(&t, an, pn), 4 * s->tan2), hap);
      }
    ang[i] = ad_log1p_sum_exp(&t, terms, nn);
  }
  for (int i = 0; i < B; i++) terms[i] = ad_norm(&t, x + i * D, D);
  int L = ad_scale(&t, ad_mean(&t, terms, B), s->l2);
  if (tu->n) {
    L = ad_add(&t, L, ad_mean(&t, np, tu->n));
    L = ad_add(&t, L, ad_scale(&t, ad_mean(&t, ang, tu->n), s->ang_weight));
  }
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  free(terms);
  free(ang);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void angular_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag angular_flags[] = {
  DML_METHOD_FLAG(loss_angular_alpha, FLOAT, "45", "angular: angle in degrees"),
  DML_METHOD_FLAG(loss_angular_npair_ang_weight, FLOAT, "2", "angular: weight of the angular term"),
  DML_METHOD_FLAG(loss_angular_npair_l2, FLOAT, "0.005", "angular: weight of the mean embedding norm"),
};

static dml_status angular_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                 struct dml_criterion *c) {
  (void)shape;
  struct angular_state *s = xmalloc(sizeof *s);
  double tn = tan(dml_opts_float(opt, "loss_angular_alpha") / 180.0 * M_PI);
  s->tan2 = tn * tn;
  s->ang_weight = dml_opts_float(opt, "loss_angular_npair_ang_weight");
  s->l2 = dml_opts_float(opt, "loss_angular_npair_l2");
  c->state = s;
  c->loss = angular_loss;
  c->destroy = angular_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_angular = {
  .name = "angular",
  .summary = "angular loss with the N-pair term",
  DML_METHOD_FLAGS(angular_flags),
  .requires_miner = 1,
  .allowed_miners = "npair",
  .create = angular_create,
};
