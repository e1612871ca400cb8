/* test_cuda_layers — the CUDA backend's convolution, batch norm, pooling, global pooling, add, concat and mul
 * (forward and backward) against the CPU backend, the oracle (STYLE.md §16). Exits 77 (skipped) where no CUDA
 * device is present, as on CI.
 *
 * Tolerances, one line of reason each:
 *   conv (fwd, dx, dw, db)     1e-4 abs + 1e-3 rel: cuDNN sums the C·KH·KW (or B·OH·OW) products in another order
 *   batchnorm                  1e-5 abs + 1e-4 rel: same double sums, but a tree order instead of a sequential one
 *   pool, global pool, add,    exact (0, 0): the kernels do the CPU's arithmetic in the CPU's order
 *   concat, mul
 * Each op also runs twice on the GPU: the two results must be bitwise equal (deterministic algorithms only). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kernels/ops.h"
#include "tests/testutil.h"

/* a host array ↔ device array pair on one backend */
static float *up(struct dml_backend *be, const float *h, size_t n) {
  float *d = be->fn.alloc(be->ctx, n * sizeof *d);
  be->fn.to_device(be->ctx, d, h, n * sizeof *d);
  return d;
}
static void down(struct dml_backend *be, float *h, float *d, size_t n) {
  be->fn.to_host(be->ctx, h, d, n * sizeof *d);
  be->fn.release(be->ctx, d);
}
static float *randn(size_t n, uint64_t seed, float scale) {
  float *a = malloc(n * sizeof *a);
  struct dml_rng r = dml_rng_init(seed, DML_RNG_TEST, 0, 0);
  for (size_t i = 0; i < n; i++) a[i] = (float)dml_rng_normal(&r) * scale;
  return a;
}

/* ---- every op on one backend; outputs into out[k] (host), sizes fixed by the shapes below ---- */
enum { NOUT = 40 };
static const struct dml_conv_shape CONV = {.B = 3, .C = 5, .H = 11, .W = 9, .OC = 7, .KH = 3, .KW = 3, .SH = 2,
                                           .SW = 1, .PH = 1, .PW = 1, .OH = 6, .OW = 9};
/* max pool 3×3 stride 2 pad 1 in ceil mode (overlapping windows, a clipped last window) */
static const struct dml_conv_shape POOL = {.B = 2, .C = 3, .H = 10, .W = 7, .OC = 3, .KH = 3, .KW = 3, .SH = 2,
                                           .SW = 2, .PH = 1, .PW = 1, .OH = 6, .OW = 4};
enum { BN_B = 4, BN_C = 6, BN_HW = 35, GP_B = 3, GP_C = 4, GP_HW = 17, CAT_B = 2, CAT_C = 3, CAT_T = 8, CAT_HW = 5 };

struct outs { float *v[NOUT]; size_t n[NOUT]; const char *name[NOUT]; int k; };
static void keep(struct outs *o, const char *name, struct dml_backend *be, float *d, size_t n) {
  if (o->k == NOUT) {
    fprintf(stderr, "cuda_layers: more than %d outputs: raise NOUT\n", NOUT);
    exit(2);
  }
  o->v[o->k] = malloc(n * sizeof(float));
  o->n[o->k] = n;
  o->name[o->k] = name;
  down(be, o->v[o->k], d, n);
  o->k++;
}

static void run_all(struct dml_backend *be, struct outs *o) {
  memset(o, 0, sizeof *o);
  const struct dml_conv_shape *s = &CONV;
  size_t nx = (size_t)s->B * s->C * s->H * s->W, nw = (size_t)s->OC * s->C * s->KH * s->KW,
         ny = (size_t)s->B * s->OC * s->OH * s->OW;
  float *hx = randn(nx, 1, 1), *hw = randn(nw, 2, 0.3f), *hb = randn(s->OC, 3, 1), *hdy = randn(ny, 4, 1);
  float *x = up(be, hx, nx), *w = up(be, hw, nw), *b = up(be, hb, s->OC), *dy = up(be, hdy, ny);
  float *y = be->fn.alloc(be->ctx, ny * 4), *dx = up(be, hx, nx) /* += onto x's values */, *dw = up(be, hw, nw),
        *db = up(be, hb, s->OC), *dx2 = be->fn.alloc(be->ctx, nx * 4);
  be->fn.conv2d_forward(be->ctx, y, x, w, b, s);
  be->fn.conv2d_backward(be->ctx, dx, dw, db, dy, x, w, s, 0);
  be->fn.conv2d_backward(be->ctx, dx2, dw, NULL, dy, x, w, s, 1);
  keep(o, "conv y", be, y, ny);
  keep(o, "conv dx (+=)", be, dx, nx);
  keep(o, "conv dx (=)", be, dx2, nx);
  keep(o, "conv dw (+= twice)", be, dw, nw);
  keep(o, "conv db", be, db, s->OC);
  be->fn.release(be->ctx, x);
  be->fn.release(be->ctx, w);
  be->fn.release(be->ctx, b);
  be->fn.release(be->ctx, dy);
  free(hx), free(hw), free(hb), free(hdy);

  /* batch norm: training with fused ReLU, then inference without */
  size_t nb = (size_t)BN_B * BN_C * BN_HW;
  float *bx_h = randn(nb, 5, 2), *g_h = randn(BN_C, 6, 1), *be_h = randn(BN_C, 7, 1), *bdy_h = randn(nb, 8, 1);
  float rv_h[BN_C], rm_h[BN_C];
  for (int c = 0; c < BN_C; c++) rv_h[c] = 1.0f + 0.1f * c, rm_h[c] = 0.05f * c;
  for (int pass = 0; pass < 2; pass++) {
    int training = pass == 0, relu = pass == 0;
    float *bx = up(be, bx_h, nb), *g = up(be, g_h, BN_C), *bt = up(be, be_h, BN_C), *bdy = up(be, bdy_h, nb);
    float *rm = up(be, rm_h, BN_C), *rv = up(be, rv_h, BN_C), *by = be->fn.alloc(be->ctx, nb * 4);
    float *mean = be->fn.alloc(be->ctx, BN_C * 4), *invstd = be->fn.alloc(be->ctx, BN_C * 4);
    float *bdx = up(be, bx_h, nb), *dg = up(be, g_h, BN_C), *dbt = up(be, be_h, BN_C);
    be->fn.batchnorm_forward(be->ctx, by, mean, invstd, rm, rv, bx, g, bt, BN_B, BN_C, BN_HW, 1e-5f, 0.1f, training,
                             relu, DML_FP32);
    be->fn.batchnorm_backward(be->ctx, bdx, dg, dbt, bdy, bx, by, mean, invstd, g, BN_B, BN_C, BN_HW, training, relu,
                              0, DML_FP32);
    keep(o, training ? "bn(train,relu) y" : "bn(eval) y", be, by, nb);
    keep(o, training ? "bn(train,relu) dx" : "bn(eval) dx", be, bdx, nb);
    keep(o, training ? "bn(train,relu) dgamma" : "bn(eval) dgamma", be, dg, BN_C);
    keep(o, training ? "bn(train,relu) dbeta" : "bn(eval) dbeta", be, dbt, BN_C);
    if (training) keep(o, "bn running_var", be, rv, BN_C);
    else be->fn.release(be->ctx, rv);
    float *all[] = {bx, g, bt, bdy, rm, mean, invstd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) be->fn.release(be->ctx, all[i]);
  }
  free(bx_h), free(g_h), free(be_h), free(bdy_h);

  /* pooling: max (with argmax) and average, the same shape */
  const struct dml_conv_shape *p = &POOL;
  size_t pi = (size_t)p->B * p->C * p->H * p->W, po = (size_t)p->B * p->C * p->OH * p->OW;
  float *px_h = randn(pi, 9, 1), *pdy_h = randn(po, 10, 1);
  for (int kind = DML_POOL_MAX; kind <= DML_POOL_AVG; kind++) {
    float *px = up(be, px_h, pi), *pdy = up(be, pdy_h, po), *py = be->fn.alloc(be->ctx, po * 4);
    float *pdx = up(be, px_h, pi);
    int32_t *idx = be->fn.alloc(be->ctx, po * 4);
    be->fn.pool2d_forward(be->ctx, py, kind == DML_POOL_MAX ? idx : NULL, px, p, kind);
    be->fn.pool2d_backward(be->ctx, pdx, pdy, idx, p, kind);
    keep(o, kind == DML_POOL_MAX ? "maxpool y" : "avgpool y", be, py, po);
    keep(o, kind == DML_POOL_MAX ? "maxpool dx" : "avgpool dx", be, pdx, pi);
    float *all[] = {px, pdy, (float *)idx};
    for (size_t i = 0; i < 3; i++) be->fn.release(be->ctx, all[i]);
  }
  free(px_h), free(pdy_h);

  /* global pooling max + average */
  size_t gi = (size_t)GP_B * GP_C * GP_HW, go = GP_B * GP_C;
  float *gx_h = randn(gi, 11, 1), *gdy_h = randn(go, 12, 1);
  for (int kind = DML_POOL_MAX; kind <= DML_POOL_AVG; kind++) {
    float *gx = up(be, gx_h, gi), *gdy = up(be, gdy_h, go), *gy = be->fn.alloc(be->ctx, go * 4),
          *gdx = up(be, gx_h, gi);
    int32_t *idx = be->fn.alloc(be->ctx, go * 4);
    be->fn.global_pool_forward(be->ctx, gy, idx, gx, GP_B, GP_C, GP_HW, kind, DML_FP32);
    be->fn.global_pool_backward(be->ctx, gdx, gdy, idx, GP_B, GP_C, GP_HW, kind, DML_FP32);
    keep(o, kind == DML_POOL_MAX ? "gmaxpool y" : "gavgpool y", be, gy, go);
    keep(o, kind == DML_POOL_MAX ? "gmaxpool dx" : "gavgpool dx", be, gdx, gi);
    be->fn.release(be->ctx, gx), be->fn.release(be->ctx, gdy), be->fn.release(be->ctx, idx);
  }
  free(gx_h), free(gdy_h);

  /* add + ReLU, concat, mul */
  size_t na = (size_t)CAT_B * CAT_T * CAT_HW, nc = (size_t)CAT_B * CAT_C * CAT_HW;
  float *a_h = randn(na, 13, 1), *b_h = randn(na, 14, 1), *m_h = randn(na, 15, 1);
  float *a = up(be, a_h, na), *bb = up(be, b_h, na), *m = up(be, m_h, na), *ay = be->fn.alloc(be->ctx, na * 4);
  float *da = up(be, a_h, na), *dbb = up(be, b_h, na);
  be->fn.add_forward(be->ctx, ay, a, bb, na, 1, DML_FP32);
  be->fn.add_backward(be->ctx, da, dbb, m, ay, na, 1, 2, DML_FP32); /* da += , db = */
  keep(o, "add+relu y", be, ay, na);
  keep(o, "add+relu da (+=)", be, da, na);
  keep(o, "add+relu db (=)", be, dbb, na);
  float *cx = up(be, m_h, nc), *cy = up(be, a_h, na), *cdx = up(be, b_h, nc), *my = be->fn.alloc(be->ctx, na * 4);
  be->fn.concat_forward(be->ctx, cy, cx, CAT_B, CAT_T, 4, CAT_C, CAT_HW, DML_FP32);
  be->fn.concat_backward(be->ctx, cdx, a, CAT_B, CAT_T, 4, CAT_C, CAT_HW, DML_FP32);
  be->fn.mul_forward(be->ctx, my, a, m, na);
  be->fn.mul_backward(be->ctx, bb, a, m, na);
  keep(o, "concat y", be, cy, na);
  keep(o, "concat dx", be, cdx, nc);
  keep(o, "mul y", be, my, na);
  keep(o, "mul dx", be, bb, na);
  be->fn.release(be->ctx, a), be->fn.release(be->ctx, m), be->fn.release(be->ctx, cx);
  free(a_h), free(b_h), free(m_h);
}

int main(void) {
  if (dml_cuda_device_count() == 0) {
    printf("no CUDA device: skipped\n");
    return 77;
  }
  struct dml_backend *cpu = dml_backend_cpu_new(), *gpu = dml_backend_cuda_new();
  static struct outs oc, og, og2;
  run_all(cpu, &oc);
  run_all(gpu, &og);
  run_all(gpu, &og2);
  int f = expect_true("same outputs on both backends", oc.k == og.k && og.k == og2.k);
  for (int i = 0; i < oc.k && !f; i++) {
    double atol = 0, rtol = 0;
    if (!strncmp(oc.name[i], "conv", 4)) atol = 1e-4, rtol = 1e-3;
    else if (!strncmp(oc.name[i], "bn", 2)) atol = 1e-5, rtol = 1e-4;
    f += expect_close_f32(oc.name[i], og.v[i], oc.v[i], oc.n[i], atol, rtol);
    char rep[96];
    snprintf(rep, sizeof rep, "%s: GPU run twice bitwise", oc.name[i]);
    f += expect_true(rep, memcmp(og.v[i], og2.v[i], og.n[i] * sizeof(float)) == 0);
  }
  for (int i = 0; i < oc.k; i++) free(oc.v[i]), free(og.v[i]), free(og2.v[i]);
  dml_backend_free(cpu);
  dml_backend_free(gpu);
  return test_report("cuda_layers", f);
}
