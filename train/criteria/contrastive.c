/* contrastive — the contrastive loss over mined triplets as the reference computes it (spec A9):
 *   L = mean_t relu(‖x_a − x_p + ε‖ − m⁺) + mean_t relu(m⁻ − ‖x_a − x_n + ε‖),
 * ε = 1e-6 added to every coordinate (torch PairwiseDistance), m⁺ = --loss_contrastive_pos_margin (0),
 * m⁻ = --loss_contrastive_neg_margin (1). Any miner (rho_distance's flipped (a, a, p′) triplets push p′ away).
 * L = 0 without triplets. Gradients from the float64 tape. */
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct contrastive_state {
  double pos_margin, neg_margin;
};

static dml_status contrastive_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                                   const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)labels;
  struct contrastive_state *s = c->state;
  dml_status st = crit_check_triplets("contrastive", tu, B);
  if (st) return st;
  memset(grad_emb, 0, (size_t)B * D * sizeof *grad_emb);
  *loss = 0;
  if (!tu->n) return DML_OK;
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int *hp = xmalloc(2 * (size_t)tu->n * sizeof *hp), *hn = hp + tu->n;
  for (int i = 0; i < tu->n; i++) {
    int a = x + tu->t[i][0] * D, p = x + tu->t[i][1] * D, n = x + tu->t[i][2] * D;
    hp[i] = ad_relu(&t, ad_addc(&t, ad_pdist(&t, a, p, D, 1e-6), -s->pos_margin));
    hn[i] = ad_relu(&t, ad_addc(&t, ad_scale(&t, ad_pdist(&t, a, n, D, 1e-6), -1), s->neg_margin));
  }
  int L = ad_add(&t, ad_mean(&t, hp, tu->n), ad_mean(&t, hn, tu->n));
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  free(hp);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void contrastive_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag contrastive_flags[] = {
  DML_METHOD_FLAG(loss_contrastive_pos_margin, FLOAT, "0", "contrastive: positive margin"),
  DML_METHOD_FLAG(loss_contrastive_neg_margin, FLOAT, "1", "contrastive: negative margin"),
};

static dml_status contrastive_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                     struct dml_criterion *c) {
  (void)shape;
  struct contrastive_state *s = xmalloc(sizeof *s);
  s->pos_margin = dml_opts_float(opt, "loss_contrastive_pos_margin");
  s->neg_margin = dml_opts_float(opt, "loss_contrastive_neg_margin");
  c->state = s;
  c->loss = contrastive_loss;
  c->destroy = contrastive_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_contrastive = {
  .name = "contrastive",
  .summary = "contrastive loss on the pairs of mined triplets",
  DML_METHOD_FLAGS(contrastive_flags),
  .requires_miner = 1,
  .allowed_miners = "*",
  .create = contrastive_create,
};
