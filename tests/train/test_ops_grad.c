/* test_ops_grad — gradient checks of linear, ReLU and L2 normalisation through the tape (CPU backend):
 * (1) float64 reference implementations whose analytic gradients match float64 central differences (1e-6 rel), and
 *     the float32 ops matching those references (1e-4 rel); (2) the float32 tape itself against float32
 *     finite differences:
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

// ---------------------------------------------------------------------------------------------- float64 references
/* Plain float64 forward of linear → relu → l2norm and the loss Σ c·y; the gradients below are checked against
 * float64 central differences, then the float32 CPU ops are compared with them. */
static double ref_forward(const double *x, const double *w, const double *b, const double *c, int depth, double *y) {
  double h[B * OC];
  for (int i = 0; i < B; i++)
    for (int o = 0; o < OC; o++) {
      double sum = b[o];
      for (int k = 0; k < C; k++) sum += x[i * C + k] * w[o * C + k];
      h[i * OC + o] = depth >= 2 && sum < 0 ? 0 : sum;
    }
  for (int i = 0; i < B; i++) {
    double nr = 0;
    for (int o = 0; o < OC; o++) nr += h[i * OC + o] * h[i * OC + o];
    nr = sqrt(nr);
    for (int o = 0; o < OC; o++) y[i * OC + o] = depth >= 3 ? h[i * OC + o] / nr : h[i * OC + o];
  }
  double l = 0;
  for (int i = 0; i < B * OC; i++) l += c[i] * y[i];
  return l;
}

/* Analytic float64 gradients of Σ c·y w.r.t. w, b and x (the formulas the ops implement). */
static void ref_backward(const double *x, const double *w, const double *b, const double *c, int depth, double *dw,
                         double *db, double *dx) {
  double pre[B * OC], h[B * OC], dh[B * OC];
  for (int i = 0; i < B; i++)
    for (int o = 0; o < OC; o++) {
      double sum = b[o];
      for (int k = 0; k < C; k++) sum += x[i * C + k] * w[o * C + k];
      pre[i * OC + o] = sum;
      h[i * OC + o] = depth >= 2 && sum < 0 ? 0 : sum;
    }
  for (int i = 0; i < B; i++) {
    double nr = 0, dot = 0;
    for (int o = 0; o < OC; o++) nr += h[i * OC + o] * h[i * OC + o];
    nr = sqrt(nr);
    for (int o = 0; o < OC; o++) dot += c[i * OC + o] * h[i * OC + o] / nr;
    for (int o = 0; o < OC; o++) {
      double g = depth >= 3 ? (c[i * OC + o] - h[i * OC + o] / nr * dot) / nr : c[i * OC + o];
      dh[i * OC + o] = depth >= 2 && pre[i * OC + o] < 0 ? 0 : g;
    }
  }
  memset(dw, 0, sizeof(double) * OC * C);
  memset(db, 0, sizeof(double) * OC);
  memset(dx, 0, sizeof(double) * B * C);
  for (int i = 0; i < B; i++)
    for (int o = 0; o < OC; o++) {
      db[o] += dh[i * OC + o];
      for (int k = 0; k < C; k++) {
        dw[o * C + k] += dh[i * OC + o] * x[i * C + k];
        dx[i * C + k] += dh[i * OC + o] * w[o * C + k];
      }
    }
}

/* float64 finite differences (central, h = 1e-6) of the reference, then the float32 ops against the reference. */
static int float64_checks(struct dml_params *ps, struct dml_tape *t, const float *xf, const float *cf, int depth) {
  double x[B * C], w[OC * C], b[OC], c[B * OC], y[B * OC];
  double dw[OC * C], db[OC], dx[B * C], num[OC * C + OC + B * C], an[OC * C + OC + B * C];
  for (int i = 0; i < B * C; i++) x[i] = xf[i];
  for (int i = 0; i < B * OC; i++) c[i] = cf[i];
  for (int i = 0; i < OC * C; i++) w[i] = ps->values[ps->p[0].offset + i];
  for (int i = 0; i < OC; i++) b[i] = ps->values[ps->p[1].offset + i];
  ref_backward(x, w, b, c, depth, dw, db, dx);
  double *vars[3] = {w, b, x}, *grads[3] = {dw, db, dx};
  int sizes[3] = {OC * C, OC, B * C}, k = 0;
  for (int v = 0; v < 3; v++)
    for (int i = 0; i < sizes[v]; i++, k++) {
      double keep = vars[v][i];
      vars[v][i] = keep + 1e-6;
      double fp = ref_forward(x, w, b, c, depth, y);
      vars[v][i] = keep - 1e-6;
      double fm = ref_forward(x, w, b, c, depth, y);
      vars[v][i] = keep;
      num[k] = (fp - fm) / 2e-6;
      an[k] = grads[v][i];
    }
  const char *names[] = {"", "float64 linear: analytic vs finite differences",
                         "float64 linear+relu: analytic vs finite differences",
                         "float64 linear+relu+l2norm: analytic vs finite differences"};
  int f = expect_close(names[depth], an, num, (size_t)k, 1e-7, 1e-6);
  /* the float32 ops: forward output and parameter gradients against the float64 reference */
  struct dml_tensor *yo;
  dml_params_zero_grad(ps);
  forward(t, ps, xf, cf, depth, &yo);
  double y64[B * OC], y32[B * OC], g32[OC * C + OC];
  ref_forward(x, w, b, c, depth, y64);
  for (int i = 0; i < B * OC; i++) y32[i] = yo->data[i];
  dml_tape_need_grad(t, yo);
  memcpy(yo->grad, cf, sizeof(float) * B * OC);
  dml_tape_backward(t);
  for (int i = 0; i < OC * C; i++) g32[i] = ps->grads[ps->p[0].offset + i];
  for (int i = 0; i < OC; i++) g32[OC * C + i] = ps->grads[ps->p[1].offset + i];
  const char *fw[] = {"", "float32 linear forward vs float64", "float32 linear+relu forward vs float64",
                      "float32 l2norm forward vs float64"};
  const char *bw[] = {"", "float32 linear dW,db vs float64", "float32 relu dW,db vs float64",
                      "float32 l2norm dW,db vs float64"};
  f += expect_close(fw[depth], y32, y64, B * OC, 1e-5, 1e-4);
  f += expect_close(bw[depth], g32, an, OC * C + OC, 1e-5, 1e-4);
  return f;
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
    fails += float64_checks(&ps, &t, x, c, depth);
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
