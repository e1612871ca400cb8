/* quadruplet — the quadruplet loss (Chen et al. 2017) as the reference computes it (spec A9, with the
 * "checked by running the reference" correction). Euclidean (non-squared) distances, M mined triplets t = (a,p,n):
 *   L₁_t = relu(d(a_t,p_t) − d(a_t,n_t) + α₁);
 *   q_s = a batch position j < min(M, B) drawn uniformly among those whose triplet's negative differs from n_s
 *         (positions are used as batch indices, QUIRK; a uniform batch index if there is none);
 *   default (reference broadcasting):  L₂ = mean_{t,s} relu(d(a_t,p_t) − d(n_t, x_{q_s}) + α₂)   (M×M mean)
 *   --loss_quadruplet_per_triplet (paper):  L₂ = mean_t relu(d(a_t,p_t) − d(n_t, x_{q_t}) + α₂)
 *   L = mean L₁ + L₂,  α₁ = --loss_quadruplet_margin_alpha_1, α₂ = --loss_quadruplet_margin_alpha_2.
 * Randomness: the fourth samples come from the counter RNG keyed by (seed, a hash of the tuple list), so the
 * same batch and tuples give the same draw (resume-safe); dml-criterion's --seed sets the seed. Tuples that carry
 * their fourth samples (tu->fourth: dml-criterion's 4-column `tuples`, the reference fixtures) use those instead.
 * Gradient of a zero distance is 0 (torch.norm).
 * Gradients from the float64 tape. */
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct quadruplet_state {
  double alpha1, alpha2;
  int per_triplet;
  uint64_t seed;
};

static dml_status quadruplet_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                                  const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)labels;
  struct quadruplet_state *s = c->state;
  dml_status st = crit_check_triplets("quadruplet", tu, B);
  if (st) return st;
  memset(grad_emb, 0, (size_t)B * D * sizeof *grad_emb);
  *loss = 0;
  int M = tu->n;
  if (!M) return DML_OK;
  uint64_t hsh = 1469598103934665603ull;
  for (int i = 0; i < M; i++)
    for (int k = 0; k < 3; k++) hsh = (hsh ^ (uint32_t)tu->t[i][k]) * 1099511628211ull;
  struct dml_rng r = dml_rng_init(s->seed, DML_RNG_MINER, hsh, 0x9a4d);
  int lim = M < B ? M : B;
  int32_t *q = xmalloc((size_t)M * sizeof *q), *cand = xmalloc((size_t)lim * sizeof *cand);
  for (int i = 0; i < M; i++) {
    if (tu->fourth) {
      if (tu->fourth[i] < 0 || tu->fourth[i] >= B) {
        free(q), free(cand);
        return dml_error(DML_ERR_ARG, "quadruplet loss: fourth sample %d of tuple %d is outside the batch (B = %d)",
                         tu->fourth[i], i, B);
      }
      q[i] = tu->fourth[i];
      continue;
    }
    int nc = 0;
    for (int j = 0; j < lim; j++)
      if (tu->t[j][2] != tu->t[i][2]) cand[nc++] = j;
    q[i] = nc ? cand[dml_rng_below(&r, (uint32_t)nc)] : (int32_t)dml_rng_below(&r, (uint32_t)B);
  }
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int P = ad_pdist_matrix(&t, x, B, x, B, D, 0); /* (B, B) Euclidean distances */
  int *l1 = xmalloc((size_t)M * sizeof *l1), *dap = xmalloc((size_t)M * sizeof *dap);
  int n2 = s->per_triplet ? M : M * M;
  int *l2 = xmalloc((size_t)n2 * sizeof *l2);
  for (int i = 0; i < M; i++) {
    int a = tu->t[i][0], p = tu->t[i][1], n = tu->t[i][2];
    dap[i] = P + a * B + p;
    l1[i] = ad_relu(&t, ad_addc(&t, ad_sub(&t, dap[i], P + a * B + n), s->alpha1));
  }
  for (int i = 0; i < M; i++) {
    int n = tu->t[i][2];
    if (s->per_triplet) {
      l2[i] = ad_relu(&t, ad_addc(&t, ad_sub(&t, dap[i], P + n * B + q[i]), s->alpha2));
    } else {
      for (int j = 0; j < M; j++)
        l2[(size_t)i * M + j] =
            ad_relu(&t, ad_addc(&t, ad_sub(&t, dap[i], P + n * B + q[j]), s->alpha2));
    }
  }
  int L = ad_add(&t, ad_mean(&t, l1, M), ad_mean(&t, l2, n2));
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  free(q);
  free(cand);
  free(l1);
  free(l2);
  free(dap);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void quadruplet_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag quadruplet_flags[] = {
  DML_METHOD_FLAG(loss_quadruplet_margin_alpha_1, FLOAT, "0.2", "quadruplet: triplet margin"),
  DML_METHOD_FLAG(loss_quadruplet_margin_alpha_2, FLOAT, "0.2", "quadruplet: fourth-sample margin"),
  DML_METHOD_FLAG(loss_quadruplet_per_triplet, BOOL, "0", "(dml) quadruplet: paper form (one fourth sample per triplet) instead of the reference's all-pairs mean"),
};

static dml_status quadruplet_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                    struct dml_criterion *c) {
  (void)shape;
  struct quadruplet_state *s = xcalloc(1, sizeof *s);
  s->alpha1 = dml_opts_float(opt, "loss_quadruplet_margin_alpha_1");
  s->alpha2 = dml_opts_float(opt, "loss_quadruplet_margin_alpha_2");
  s->per_triplet = dml_opts_int(opt, "loss_quadruplet_per_triplet");
  s->seed = (uint64_t)dml_opts_int(opt, "seed");
  c->state = s;
  c->loss = quadruplet_loss;
  c->destroy = quadruplet_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_quadruplet = {
  .name = "quadruplet",
  .summary = "quadruplet loss",
  DML_METHOD_FLAGS(quadruplet_flags),
  .requires_miner = 1,
  .allowed_miners = "*",
  .create = quadruplet_create,
};
