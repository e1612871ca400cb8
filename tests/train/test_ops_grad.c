/* test_ops_grad — finite-difference checks of every op of the slice through the tape (CPU backend):
 * loss = Σ c ⊙ f(x) for a fixed random c, analytic gradients from dml_tape_backward vs central differences.
 * float32 ops, so the step is 1e-2 and the tolerance 2e-3 absolute + 2e-2 relative (the float64 engine is the
 * engine issue's). Inputs are kept away from ReLU's kink (|pre-activation| > 0.05). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "tests/testutil.h"
#include "train/nn/nn.h"

enum { B = 4, C = 6, OC = 5 };

static struct dml_backend *be;

/* Forward: y = l2norm(relu(linear(x, w, b))) or its prefixes, by `depth`. Returns Σ c·y. */
static double forward(struct dml_tape *t, struct dml_params *ps, const float *x, const float *c, int depth,
                      struct dml_tensor **out) {
  dml_tape_reset(t);
  struct dml_tensor *xin = dml_tape_input(t, x, B, C);
  struct dml_tensor *y = dml_linear(t, xin, &ps->p[0].t, &ps->p[1].t);
  if (depth >= 2) y = dml_relu(t, y);
  if (depth >= 3) y = dml_l2norm(t, y);
  double s = 0;
  for (size_t i = 0; i < y->n; i++) s += (double)c[i] * y->data[i];
  *out = y;
  return s;
}

int main(void) {
  int fails = 0;
  be = dml_backend_cpu_new();
  struct dml_params ps;
  dml_params_init(&ps, be);
  dml_params_declare(&ps, "w", 2, (int[]){OC, C}, 1, 0);
  dml_params_declare(&ps, "b", 1, (int[]){OC}, 1, 0);
  dml_params_alloc(&ps);
  struct dml_tape t;
  dml_tape_init(&t, be, 1 << 20);
  float x[B * C], c[B * OC];
  for (int depth = 1; depth <= 3; depth++) {
    /* draw parameters until every pre-activation is at least 0.05 away from the ReLU kink */
    for (uint64_t trial = 0;; trial++) {
      struct dml_rng r = dml_rng_init(42, DML_RNG_TEST, (uint64_t)depth, trial);
      for (size_t i = 0; i < ps.total; i++) ps.values[i] = 2 * dml_rng_uniformf(&r) - 1;
      for (int i = 0; i < B * C; i++) x[i] = 2 * dml_rng_uniformf(&r) - 1;
      for (int i = 0; i < B * OC; i++) c[i] = 2 * dml_rng_uniformf(&r) - 1;
      struct dml_tensor *y;
      forward(&t, &ps, x, c, 1, &y);
      int ok = 1;
      for (size_t i = 0; i < y->n; i++) ok &= fabsf(y->data[i]) > 0.05f;
      if (ok) break;
    }
    struct dml_tensor *y;
    dml_params_zero_grad(&ps);
    forward(&t, &ps, x, c, depth, &y);
    dml_tape_need_grad(&t, y);
    memcpy(y->grad, c, sizeof c);
    dml_tape_backward(&t);
    size_t np = ps.p[0].n + ps.p[1].n;
    double *an = malloc(np * sizeof *an), *num = malloc(np * sizeof *num);
    for (size_t k = 0; k < np; k++) {
      size_t off = k < ps.p[0].n ? ps.p[0].offset + k : ps.p[1].offset + (k - ps.p[0].n);
      an[k] = ps.grads[off];
      float keep = ps.values[off];
      const float h = 1e-2f;
      ps.values[off] = keep + h;
      double fp = forward(&t, &ps, x, c, depth, &y);
      ps.values[off] = keep - h;
      double fm = forward(&t, &ps, x, c, depth, &y);
      ps.values[off] = keep;
      num[k] = (fp - fm) / (2.0 * h);
    }
    const char *names[] = {"", "linear dW,db", "linear+relu dW,db", "linear+relu+l2norm dW,db"};
    fails += expect_close(names[depth], an, num, np, 2e-3, 2e-2);
    free(an);
    free(num);
  }
  /* a hand case for l2norm: x = (3, 4) → y = (0.6, 0.8); dy = (1, 0) → dx = (1 − 0.36, −0.48)/5 */
  {
    struct dml_tape t2;
    dml_tape_init(&t2, be, 1 << 16);
    float xin[2] = {3, 4};
    struct dml_tensor *xi = dml_tape_input(&t2, xin, 1, 2);
    t2.e[0].backward = NULL;
    struct dml_tensor *yo = dml_l2norm(&t2, xi);
    dml_tape_need_grad(&t2, yo);
    yo->grad[0] = 1;
    yo->grad[1] = 0;
    dml_tape_backward(&t2);
    double got[4] = {yo->data[0], yo->data[1], xi->grad[0], xi->grad[1]};
    double ref[4] = {0.6, 0.8, 0.64 / 5, -0.48 / 5};
    fails += expect_close("l2norm hand case", got, ref, 4, 1e-7, 1e-6);
    dml_tape_free(&t2);
  }
  dml_tape_free(&t);
  dml_params_free(&ps);
  dml_backend_free(be);
  return test_report("train_ops_grad", fails);
}
