/* test_zoo_threads — the criteria's large block ops run on OpenMP threads (past 2e7 multiply-adds); each output
 * row is owned by one thread and summed in a fixed order, so loss and gradients must be bitwise identical for 1
 * and 2 threads. Checked at the SOP scale (proxynca and softmax with 11,318 classes, B = 112, D = 128). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "train/train.h"

enum { B = 112, D = 128, C = 11318 };

static int check(const char *loss, const float *emb, const int32_t *labels, const int32_t *classes) {
  struct dml_train_opts o;
  struct dml_train_cli tc;
  dml_train_cli_parse_string(&tc, &o, "--lr 1e-5 --loss_proxynca_lrmulti 50 --loss_softmax_lr 1e-5 "
                                      "--loss_softmax_temperature 0.05 --seed 3");
  struct dml_opts opt = dml_train_cli_opts(&tc);
  struct dml_criterion_shape shape = {D, C, classes};
  float *g[2], *pg[2];
  double L[2];
  struct dml_tuples tu = {0};
  for (int r = 0; r < 2; r++) {
    omp_set_num_threads(r + 1);
    struct dml_criterion c;
    if (dml_criterion_create(loss, &opt, &shape, &c)) return 1;
    dml_params_zero_grad(&c.params);
    g[r] = malloc(B * D * sizeof(float));
    pg[r] = malloc(c.params.total * sizeof(float));
    c.loss(&c, emb, labels, B, D, &tu, &L[r], g[r]);
    memcpy(pg[r], c.params.p[0].t.grad, c.params.total * sizeof(float));
    dml_criterion_free(&c);
  }
  dml_train_cli_free(&tc);
  char tag[128];
  int f = 0;
  snprintf(tag, sizeof tag, "%s: loss, dL/demb and dL/dparam bitwise equal for 1 and 2 threads", loss);
  f += expect_true(tag, L[0] == L[1] && !memcmp(g[0], g[1], B * D * sizeof(float)) &&
                            !memcmp(pg[0], pg[1], (size_t)C * D * sizeof(float)));
  f += expect_true("loss finite", isfinite(L[0]));
  for (int r = 0; r < 2; r++) free(g[r]), free(pg[r]);
  return f;
}

int main(void) {
  float *emb = malloc(B * D * sizeof *emb);
  int32_t labels[B], *classes = malloc(C * sizeof *classes);
  struct dml_rng r = dml_rng_init(2, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < B * D; i++) emb[i] = (float)dml_rng_normal(&r);
  for (int i = 0; i < B; i++) labels[i] = (int32_t)((i / 2) * 97 % C);
  for (int c = 0; c < C; c++) classes[c] = c;
  int f = check("proxynca", emb, labels, classes) + check("softmax", emb, labels, classes);
  free(emb);
  free(classes);
  return test_report("test_zoo_threads", f);
}
