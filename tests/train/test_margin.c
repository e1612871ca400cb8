/* test_margin — the margin loss: a case computed by hand with both pair counts, bad tuples, and finite
 * differences for the embedding and β gradients. The comparison with the reference's own criteria/margin.py is in
 * tests/zoo/test_zoo_criteria.c (fixtures from tests/reference/reference_criteria.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "tests/testutil.h"
#include "train/train.h"

/* The margin criterion from dml-train flags (defaults: α = 0.2, β = 1.2, β lr 5e-4) for D and C classes. */
static void make_margin(const char *args, int D, int C, const int32_t *classes, struct dml_criterion *c) {
  struct dml_train_opts o;
  struct dml_train_cli tc;
  DML_ASSERT(dml_train_cli_parse_string(&tc, &o, args) == DML_OK);
  struct dml_opts opt = dml_train_cli_opts(&tc);
  struct dml_criterion_shape shape = {D, C, classes};
  DML_ASSERT(dml_criterion_create("margin", &opt, &shape, c) == DML_OK);
  dml_train_cli_free(&tc);
}

static int hand_case(int per_pair) {
  /* D = 2, points a = (0,0), p = (1.1,0), n = (0,0.5); labels 0,0,1; one triplet (0,1,2); α = 0.2 and
   * β = 1.2 (stored as float32: b = 1.2f). d_ap = sqrt(1.21 + 1e-8), d_an = sqrt(0.25 + 1e-8):
   * pos = d_ap − b + 0.2 ≈ 0.1 > 0, neg = b − d_an + 0.2 ≈ 0.9 > 0. The reference counts triplets with an active
   * term (bool OR): n = 1, L = pos + neg ≈ 1.0; with --loss_margin_per_pair_count n = 2 and L ≈ 0.5.
   * dL/dβ = (−1 + 1)/n = 0. dL/dd_an = −1/n and ∂d_an/∂x_n = (x_n − x_a)/d_an ≈ (0, 1), so dL/dx_n ≈ (0, −1/n). */
  double n = per_pair ? 2 : 1;
  int32_t classes[2] = {0, 1}, labels[3] = {0, 0, 1};
  struct dml_criterion c;
  make_margin(per_pair ? "--loss_margin_per_pair_count" : "", 2, 2, classes, &c);
  float emb[6] = {0, 0, 1.1f, 0, 0, 0.5f}, g[6];
  struct dml_tuples tu = {0};
  dml_tuples_push(&tu, 0, 1, 2);
  double loss, b = 1.2f, xp = 1.1f;
  c.loss(&c, emb, labels, 3, 2, &tu, &loss, g);
  double dap = sqrt(xp * xp + 1e-8), dan = sqrt(0.25 + 1e-8);
  int f = expect_scalar(per_pair ? "margin hand case loss (per-pair count)" : "margin hand case loss (OR count)", loss,
                        ((dap - b + 0.2) + (b - dan + 0.2)) / n, 1e-9, 0);
  f += expect_scalar("margin hand case loss ~ 1/n", loss, 1.0 / n, 1e-6, 0);
  f += expect_scalar("margin hand dL/dbeta", c.params.p[0].t.grad[0], 0.0, 1e-7, 0);
  double gn[2] = {g[4], g[5]}, rn[2] = {0, -0.5 / n / dan};
  f += expect_close("margin hand dL/dx_n", gn, rn, 2, 1e-6, 1e-6);
  /* a tuple outside the batch is an error, not an out-of-bounds read */
  struct dml_tuples bad = {0};
  dml_tuples_push(&bad, -1, -1, -1);
  f += expect_true("margin: (-1, -1, -1) is DML_ERR_ARG", c.loss(&c, emb, labels, 3, 2, &bad, &loss, g) == DML_ERR_ARG);
  dml_tuples_free(&bad);
  dml_tuples_push(&bad, 0, 1, 3);
  f += expect_true("margin: negative 3 of a 3-row batch is DML_ERR_ARG",
                   c.loss(&c, emb, labels, 3, 2, &bad, &loss, g) == DML_ERR_ARG);
  dml_tuples_free(&bad);
  dml_tuples_free(&tu);
  dml_criterion_free(&c);
  return f;
}

static int finite_differences(void) {
  enum { B = 8, D = 5 };
  int32_t classes[4] = {0, 1, 2, 3}, labels[B] = {0, 0, 1, 1, 2, 2, 3, 3};
  struct dml_criterion c;
  make_margin("--loss_margin_nu 0.01", D, 4, classes, &c);
  struct dml_rng r = dml_rng_init(3, DML_RNG_TEST, 0, 0);
  float emb[B * D], g[B * D];
  for (int i = 0; i < B * D; i++) emb[i] = (float)(dml_rng_normal(&r) * 0.4);
  for (int k = 0; k < 4; k++) c.params.p[0].t.data[k] = 0.9f + 0.1f * k;
  struct dml_tuples tu = {0};
  int32_t tr[][3] = {{0, 1, 2}, {1, 0, 5}, {2, 3, 7}, {4, 5, 0}, {6, 7, 3}, {3, 2, 4}};
  for (size_t t = 0; t < 6; t++) dml_tuples_push(&tu, tr[t][0], tr[t][1], tr[t][2]);
  double loss;
  c.loss(&c, emb, labels, B, D, &tu, &loss, g);
  double an[B * D + 4], num[B * D + 4];
  for (int i = 0; i < B * D; i++) an[i] = g[i];
  for (int k = 0; k < 4; k++) an[B * D + k] = c.params.p[0].t.grad[k];
  float gs[B * D];
  const float h = 1e-3f;
  for (int i = 0; i < B * D + 4; i++) {
    float *v = i < B * D ? &emb[i] : &c.params.p[0].t.data[i - B * D];
    float keep = *v;
    double lp, lm;
    *v = keep + h;
    c.loss(&c, emb, labels, B, D, &tu, &lp, gs);
    *v = keep - h;
    c.loss(&c, emb, labels, B, D, &tu, &lm, gs);
    *v = keep;
    num[i] = (lp - lm) / (2.0 * h);
  }
  int f = expect_close("margin dL/d(emb, beta) vs finite differences", an, num, B * D + 4, 2e-3, 1e-2);
  dml_tuples_free(&tu);
  dml_criterion_free(&c);
  return f;
}

int main(void) {
  int fails = hand_case(0) + hand_case(1) + finite_differences();
  return test_report("train_margin", fails);
}
