/* lifted — the generalised lifted structure loss (Hermans et al.) as the reference intends it (spec A9,
 * QUIRK P1: per-pair distances, the old-PyTorch behaviour that produced the ICML runs). Miner: lifted, whose
 * tuples are (a, −1, −1): the positive set of a is every other same-label sample, the negative set every
 * sample of another label. With d(a, b) = ‖x_a − x_b + 1e-6‖ (torch PairwiseDistance),
 *   ℓ_a = relu( LSE_{p∈P} d(a,p) + LSE_{n∈N} (m − d(a,n)) ),  m = --loss_lifted_neg_margin (1),
 *   L = mean_a ℓ_a + λ·mean_i ‖x_i‖,  λ = --loss_lifted_l2 (0.005).
 * An anchor with an empty positive or negative set contributes 0 (the reference's LSE of nothing is −∞ and
 * relu(−∞) = 0). Without anchors only the norm term remains. Gradients from the float64 tape. */
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct lifted_state {
  double margin, l2;
};

static dml_status lifted_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                              const struct dml_tuples *tu, double *loss, float *grad_emb) {
  struct lifted_state *s = c->state;
  for (int i = 0; i < tu->n; i++)
    if (tu->t[i][0] < 0 || tu->t[i][0] >= B)
      return dml_error(DML_ERR_ARG, "lifted loss: tuple %d has anchor %d outside the batch", i, tu->t[i][0]);
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int P = ad_pdist_matrix(&t, x, B, x, B, D, 1e-6); /* (B, B) ‖x_i − x_j + ε‖ */
  int *pos = xmalloc(2 * (size_t)B * sizeof *pos), *neg = pos + B;
  int *ell = xmalloc(((size_t)tu->n + 1) * sizeof *ell), *norms = xmalloc((size_t)B * sizeof *norms);
  for (int i = 0; i < tu->n; i++) {
    int a = tu->t[i][0], np = 0, nn = 0;
    for (int j = 0; j < B; j++) {
      if (j == a) continue;
      int d = P + a * B + j;
      if (labels[j] == labels[a]) pos[np++] = d;
      else neg[nn++] = ad_addc(&t, ad_scale(&t, d, -1), s->margin);
    }
    ell[i] = np && nn ? ad_relu(&t, ad_add(&t, ad_lse(&t, pos, np), ad_lse(&t, neg, nn))) : ad_const(&t, 0);
  }
  for (int i = 0; i < B; i++) norms[i] = ad_norm(&t, x + i * D, D);
  int reg = ad_scale(&t, ad_mean(&t, norms, B), s->l2);
  int L = tu->n ? ad_add(&t, ad_mean(&t, ell, tu->n), reg) : reg;
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  free(pos);
  free(ell);
  free(norms);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void lifted_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag lifted_flags[] = {
  DML_METHOD_FLAG(loss_lifted_neg_margin, FLOAT, "1", "lifted: negative margin"),
  DML_METHOD_FLAG(loss_lifted_l2, FLOAT, "0.005", "lifted: weight of the mean embedding norm"),
};

static dml_status lifted_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                struct dml_criterion *c) {
  (void)shape;
  struct lifted_state *s = xmalloc(sizeof *s);
  s->margin = dml_opts_float(opt, "loss_lifted_neg_margin");
  s->l2 = dml_opts_float(opt, "loss_lifted_l2");
  c->state = s;
  c->loss = lifted_loss;
  c->destroy = lifted_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_lifted = {
  .name = "lifted",
  .summary = "generalised lifted structure loss",
  DML_METHOD_FLAGS(lifted_flags),
  .requires_miner = 1,
  .allowed_miners = "lifted",
  .create = lifted_create,
};
