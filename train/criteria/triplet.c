/* triplet — the triplet loss as the reference computes it (spec A9): over the mined triplets (a, p, n),
 *   L = mean_t relu(‖x_a − x_p‖² − ‖x_a − x_n‖² + m),  m = --loss_triplet_margin (squared distances).
 * Any miner; no parameters. L = 0 (zero gradient) without triplets (the reference's miners always return some).
 * Gradients from the float64 tape (ad.h). */
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

static dml_status triplet_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                               const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)labels;
  double m = *(double *)c->state;
  dml_status st = crit_check_triplets("triplet", tu, B);
  if (st) return st;
  memset(grad_emb, 0, (size_t)B * D * sizeof *grad_emb);
  *loss = 0;
  if (!tu->n) return DML_OK;
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int *h = xmalloc((size_t)tu->n * sizeof *h);
  for (int i = 0; i < tu->n; i++) {
    int a = x + tu->t[i][0] * D, p = x + tu->t[i][1] * D, n = x + tu->t[i][2] * D;
    h[i] = ad_relu(&t, ad_addc(&t, ad_sub(&t, ad_sqdist(&t, a, p, D), ad_sqdist(&t, a, n, D)), m));
  }
  crit_finish(&t, ad_mean(&t, h, tu->n), x, (long)B * D, loss, grad_emb);
  free(h);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void triplet_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag triplet_flags[] = {
  DML_METHOD_FLAG(loss_triplet_margin, FLOAT, "0.2", "triplet (and semihard miner): margin on squared distances"),
};

static dml_status triplet_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                 struct dml_criterion *c) {
  (void)shape;
  double *m = xmalloc(sizeof *m);
  *m = dml_opts_float(opt, "loss_triplet_margin");
  c->state = m;
  c->loss = triplet_loss;
  c->destroy = triplet_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_triplet = {
  .name = "triplet",
  .summary = "triplet loss on squared distances of mined triplets",
  DML_METHOD_FLAGS(triplet_flags),
  .requires_miner = 1,
  .allowed_miners = "*",
  .create = triplet_create,
};
