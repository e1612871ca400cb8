/* toy_criterion — a throwaway criterion that exists to prove the one-file-one-line rule (test_methods.c): this
 * file and the line DML_CRITERION(toy) in tests/methods/criteria_list.h are all it takes. Over mined triplets
 * (a, p, n) it pulls positives together: L = s · mean_t ‖x_a − x_p‖², s = --loss_toy_scale; dL/dx_a = 2s(x_a − x_p)/T,
 * dL/dx_p = −2s(x_a − x_p)/T. L = 0 without triplets. */
#include <stdlib.h>
#include <string.h>

#include "train/methods.h"

static dml_status toy_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                           const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)labels;
  double s = *(const double *)c->state, sum = 0;
  memset(grad_emb, 0, (size_t)B * D * sizeof *grad_emb);
  for (int t = 0; t < tu->n; t++) {
    int a = tu->t[t][0], p = tu->t[t][1];
    if (a < 0 || a >= B || p < 0 || p >= B) return dml_error(DML_ERR_ARG, "toy: tuple %d is outside the batch", t);
    for (int k = 0; k < D; k++) {
      double u = (double)emb[(size_t)a * D + k] - emb[(size_t)p * D + k];
      sum += u * u;
      grad_emb[(size_t)a * D + k] += (float)(2 * s * u / tu->n);
      grad_emb[(size_t)p * D + k] -= (float)(2 * s * u / tu->n);
    }
  }
  *loss = tu->n ? s * sum / tu->n : 0;
  return DML_OK;
}

static void toy_destroy(struct dml_criterion *c) {
  free(c->state);
}

static const struct dml_flag toy_flags[] = {
  DML_METHOD_FLAG(loss_toy_scale, FLOAT, "1", "toy: scale of the pull term"),
};

static dml_status toy_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                             struct dml_criterion *c) {
  (void)shape;
  double *s = xmalloc(sizeof *s);
  *s = dml_opts_float(opt, "loss_toy_scale");
  c->state = s;
  c->loss = toy_loss;
  c->destroy = toy_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_toy = {
  .name = "toy",
  .summary = "(test) pulls mined positives together",
  DML_METHOD_FLAGS(toy_flags),
  .requires_miner = 1,
  .allowed_miners = "*",
  .create = toy_create,
};
