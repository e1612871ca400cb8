/* test_sgd — dml_sgd_step against torch.optim.SGD (fixture: tests/reference/optim_sgd.py, Debian python3-torch):
 * the reference's SGD(groups, momentum=0.9) over three groups (network lr + weight decay, last_linear with its own
 * lr + weight decay, a criterion group with no weight decay), MultiStepLR ×0.3 after step 3, and one parameter
 * without a gradient in the first two steps (skipped; its momentum buffer starts at its first real step). Six
 * steps; every value after every step within 1e-6 relative (torch's vectorised kernels may fuse multiply-adds,
 * ours do not). Plus a hand case of the first two steps (buffer = d at the first step, not (1 − dampening)·d). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "train/checkpoint.h"
#include "train/train.h"

#define FIX "tests/fixtures/train/optim_sgd.safetensors"
enum { NP = 5, STEPS = 6 };
static const char *names[NP] = {"a", "b", "e", "c", "d"};
static const int shapes[NP][2] = {{4, 3}, {5, 0}, {2, 2}, {2, 3}, {3, 0}};

static int hand_case(void) {
  struct dml_params ps;
  dml_params_init(&ps, dml_backend_select("cpu", NULL));
  dml_params_declare(&ps, "w", 1, (int[]){1}, 1, 0);
  dml_params_alloc(&ps);
  ps.values[0] = 1.0f;
  float buf[1] = {0};
  long steps[1] = {0};
  double lr[1] = {0.1};
  struct dml_sgd s = {.momentum = 0.9, .dampening = 0};
  ps.grads[0] = 0.5f;
  dml_sgd_step(&s, &ps, buf, 0.1, lr, NULL, steps); /* d = 0.5 + 0.1·1 = 0.6, buf = 0.6, w = 1 − 0.06 */
  int f = expect_scalar("sgd hand: step 1", ps.values[0], 0.94, 1e-6, 0);
  f += expect_scalar("sgd hand: buffer = d at the first step", buf[0], 0.6, 1e-6, 0);
  dml_sgd_step(&s, &ps, buf, 0.1, lr, NULL, steps); /* d = 0.5 + 0.094, buf = 0.54 + 0.594 = 1.134, w = 0.94 − 0.1134 */
  f += expect_scalar("sgd hand: step 2", ps.values[0], 0.8266, 1e-6, 0);
  unsigned char frozen[1] = {1};
  dml_sgd_step(&s, &ps, buf, 0.1, lr, frozen, steps);
  f += expect_true("sgd hand: a frozen parameter is not stepped", steps[0] == 2 && fabs(ps.values[0] - 0.8266) < 1e-6);
  struct dml_backend *be = ps.be;
  dml_params_free(&ps);
  dml_backend_free(be);
  return f;
}

int main(void) {
  int f = hand_case();
  struct dml_params ps;
  struct dml_backend *be = dml_backend_select("cpu", NULL);
  dml_params_init(&ps, be);
  for (int i = 0; i < NP; i++) /* "d" is the criterion's: no weight decay */
    dml_params_declare(&ps, names[i], shapes[i][1] ? 2 : 1, shapes[i], strcmp(names[i], "d") != 0, 0);
  dml_params_alloc(&ps);
  /* every fixture tensor by name: init.<p>, grad<s>.<p>, after<s>.<p> */
  enum { NT = NP * (1 + 2 * STEPS) };
  struct dml_ckpt_tensor t[NT];
  char tn[NT][32];
  float *store[NT];
  int k = 0;
  for (int i = 0; i < NP; i++)
    for (int j = 0; j < 1 + 2 * STEPS; j++) {
      if (j == 0) snprintf(tn[k], 32, "init.%s", names[i]);
      else snprintf(tn[k], 32, "%s%d.%s", j <= STEPS ? "grad" : "after", (j - 1) % STEPS, names[i]);
      store[k] = malloc(ps.p[i].n * sizeof(float));
      t[k] = (struct dml_ckpt_tensor){tn[k], store[k], ps.p[i].ndim, {ps.p[i].shape[0], ps.p[i].shape[1], 0, 0}};
      k++;
    }
  if (dml_checkpoint_read(FIX, t, NT, 0, NULL, NULL, 0)) {
    fprintf(stderr, "%s (regenerate with /usr/bin/python3 tests/reference/optim_sgd.py)\n", dml_error_message());
    return 1;
  }
#define T(i, j) store[(i) * (1 + 2 * STEPS) + (j)]
  for (int i = 0; i < NP; i++) memcpy(ps.p[i].t.data, T(i, 0), ps.p[i].n * sizeof(float));
  float *buf = calloc(ps.total, sizeof *buf);
  long steps[NP] = {0};
  struct dml_sgd s = {.momentum = 0.9, .dampening = 0};
  for (int st = 0; st < STEPS; st++) {
    double f_lr = st >= 3 ? 0.3 : 1.0, lr[NP];
    unsigned char frozen[NP];
    for (int i = 0; i < NP; i++) {
      double base = !strcmp(names[i], "c") ? 5e-2 : !strcmp(names[i], "d") ? 0.5 : 1e-2;
      lr[i] = base * f_lr;
      frozen[i] = !strcmp(names[i], "e") && st < 2;
      memcpy(ps.p[i].t.grad, T(i, 1 + st), ps.p[i].n * sizeof(float));
    }
    dml_sgd_step(&s, &ps, buf, 0.05, lr, frozen, steps);
    for (int i = 0; i < NP; i++) {
      char what[64];
      snprintf(what, sizeof what, "sgd vs torch: %s after step %d", names[i], st);
      f += expect_close_f32(what, ps.p[i].t.data, T(i, 1 + STEPS + st), ps.p[i].n, 1e-7, 1e-6);
    }
  }
  f += expect_true("sgd: the skipped parameter took 4 steps", steps[2] == 4 && steps[0] == 6);
  for (int i = 0; i < NT; i++) free(store[i]);
  free(buf);
  dml_params_free(&ps);
  dml_backend_free(be);
  return test_report("train_sgd", f);
}
