/* test_bf16_ops — every conv-family op of the CPU backend in bf16 (bfloat16 NHWC activations, kernels/ops.h)
 * against the same op in fp32 (float32 NCHW) on the same values: inputs are drawn as bf16-representable floats,
 * so the two runs see identical operands and differ only by the bf16 rounding of each output (and float32
 * accumulation order).
 *
 * Tolerances (stated per output, |got − ref| ≤ atol + rtol·|ref|):
 *  - a bf16 output rounded once (round to nearest even, half an ulp of 8 significant bits):
 *    rtol 2^-8, atol 1e-5·max|ref| (float32 accumulation order);
 *  - a bf16 gradient accumulated into an existing bf16 gradient (the addend rounded, then the sum):
 *    rtol 2^-8, atol 2^-8·max|ref|;
 *  - float32 outputs computed from bf16 operands (weight / bias / γ / β gradients, pooled features):
 *    rtol 1e-4, atol 1e-5·max|ref|.
 * Also: the bf16 conversion rounds to nearest even (hand cases) and act_convert round-trips exactly; bf16 conv
 * forward and backward give bitwise equal results with 1 and 2 threads. A CPU whose oneDNN has no bf16
 * convolution at all reports the op unsupported and the test skips (exit 77); AMX is never assumed. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kernels/ops.h"
#include "tests/testutil.h"

static struct dml_backend *be;
static uint64_t draw = 1;

/* n bf16-representable floats in [lo, hi) */
static float *rnd(size_t n, float lo, float hi) {
  float *v = malloc(n * sizeof *v);
  struct dml_rng r = dml_rng_init(42, DML_RNG_TEST, draw++, 0);
  for (size_t i = 0; i < n; i++) v[i] = dml_bf16_round(lo + (hi - lo) * dml_rng_uniformf(&r));
  return v;
}

static uint16_t *to_bf(const float *x, int B, int C, int HW) {
  uint16_t *y = malloc((size_t)B * C * HW * sizeof *y);
  be->fn.act_convert(be->ctx, y, DML_BF16, x, DML_FP32, B, C, HW);
  return y;
}

static float *from_bf(const uint16_t *x, int B, int C, int HW) {
  float *y = malloc((size_t)B * C * HW * sizeof *y);
  be->fn.act_convert(be->ctx, y, DML_FP32, x, DML_BF16, B, C, HW);
  return y;
}

static double maxabs(const float *v, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
  return m;
}

enum { ONCE, TWICE, F32 };
static int cmp(const char *what, const float *got, const float *ref, size_t n, int kind) {
  /* TWICE: the rounding of the addend is relative to the addend, not to the (possibly cancelling) sum */
  double rtol = kind == F32 ? 1e-4 : 1.0 / 256, atol = (kind == TWICE ? 1.0 / 256 : 1e-5) * maxabs(ref, n) + 1e-30;
  return expect_close_f32(what, got, ref, n, atol, rtol);
}

/* bf16 gradient (NHWC) vs fp32 (NCHW) */
static int cmp_bf(const char *what, const uint16_t *got, const float *ref, int B, int C, int HW, int kind) {
  float *g = from_bf(got, B, C, HW);
  int f = cmp(what, g, ref, (size_t)B * C * HW, kind);
  free(g);
  return f;
}

static int test_rounding(void) {
  int fails = 0;
  /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even → 1; 1 + 3·2^-8 → 1 + 2^-6 (even); just above the
   * halfway point rounds up */
  fails += expect_true("bf16(1 + 2^-8) = 1 (tie to even)", dml_bf16_round(1.0f + 1.0f / 256) == 1.0f);
  fails += expect_true("bf16(1 + 3·2^-8) = 1 + 2^-6 (tie to even)", dml_bf16_round(1.0f + 3.0f / 256) == 1.0f + 1.0f / 64);
  fails += expect_true("bf16(1 + 2^-8 + 2^-20) = 1 + 2^-7", dml_bf16_round(1.0f + 1.0f / 256 + 1.0f / 1048576) == 1.0f + 1.0f / 128);
  fails += expect_true("bf16(-3.0) exact", dml_bf16_round(-3.0f) == -3.0f);
  fails += expect_true("bf16(inf) = inf", isinf(dml_bf16_round(INFINITY)));
  fails += expect_true("bf16(NaN) is NaN", isnan(dml_bf16_round(NAN)));
  float x = 0.1f, y;
  be->fn.round_bf16(be->ctx, &y, &x, 1);
  fails += expect_true("round_bf16 op = dml_bf16_round", y == dml_bf16_round(0.1f) && fabsf(y - 0.1f) < 0.1f / 256);
  /* act_convert: NCHW float32 → NHWC bf16 puts channel c of pixel hw at hw·C + c, and back exactly */
  enum { B = 2, C = 3, HW = 5 };
  float *v = rnd(B * C * HW, -4, 4);
  uint16_t *h = to_bf(v, B, C, HW);
  fails += expect_true("act_convert NHWC placement",
                       dml_bf16_to_f32(h[(1 * HW + 4) * C + 2]) == v[(1 * C + 2) * HW + 4]);
  float *back = from_bf(h, B, C, HW);
  fails += expect_true("act_convert round trip exact", !memcmp(back, v, sizeof(float) * B * C * HW));
  free(v), free(h), free(back);
  return fails;
}

/* conv forward, backward (overwrite and accumulate), with and without bias, stride 2 / padding */
static int test_conv(int B, int C, int H, int OC, int K, int S, int P, int bias) {
  struct dml_conv_shape s = {.B = B, .C = C, .H = H, .W = H, .OC = OC, .KH = K, .KW = K, .SH = S, .SW = S, .PH = P,
                             .PW = P};
  s.OH = s.OW = (H + 2 * P - K) / S + 1;
  const int HW = H * H, OHW = s.OH * s.OW;
  size_t nx = (size_t)B * C * HW, ny = (size_t)B * OC * OHW, nw = (size_t)OC * C * K * K;
  float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.5f, 0.5f), *b = bias ? rnd(OC, -1, 1) : NULL, *dy = rnd(ny, -1, 1);
  char what[200];
  int fails = 0;
  /* fp32 */
  float *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = calloc(nw, 4), *db = calloc(OC, 4);
  be->fn.conv2d_forward(be->ctx, y, x, w, b, &s);
  be->fn.conv2d_backward(be->ctx, dx, dw, bias ? db : NULL, dy, x, w, &s, 1);
  /* bf16 */
  struct dml_conv_shape sb = s;
  sb.prec = DML_BF16;
  uint16_t *xb = to_bf(x, B, C, HW), *dyb = to_bf(dy, B, OC, OHW), *yb = malloc(ny * 2), *dxb = malloc(nx * 2);
  float *dwb = calloc(nw, 4), *dbb = calloc(OC, 4);
  be->fn.conv2d_forward(be->ctx, yb, xb, w, b, &sb);
  be->fn.conv2d_backward(be->ctx, dxb, dwb, bias ? dbb : NULL, dyb, xb, w, &sb, 1);
  /* the bf16 run rounds the weights to bf16: the fp32 reference gets the same rounded weights */
  float *wr = malloc(nw * 4), *yr = malloc(ny * 4), *dxr = malloc(nx * 4), *dwr = calloc(nw, 4), *dbr = calloc(OC, 4);
  be->fn.round_bf16(be->ctx, wr, w, nw);
  be->fn.conv2d_forward(be->ctx, yr, x, wr, b, &s);
  be->fn.conv2d_backward(be->ctx, dxr, dwr, bias ? dbr : NULL, dy, x, wr, &s, 1);
  snprintf(what, sizeof what, "conv %dx%d/%d pad %d %d→%d @%d bf16", K, K, S, P, C, OC, H);
  char w2[260];
  snprintf(w2, sizeof w2, "%s forward", what);
  fails += cmp_bf(w2, yb, yr, B, OC, OHW, ONCE);
  snprintf(w2, sizeof w2, "%s backward data", what);
  fails += cmp_bf(w2, dxb, dxr, B, C, HW, ONCE);
  snprintf(w2, sizeof w2, "%s backward weights (float32, exact weights ref)", what);
  fails += cmp(w2, dwb, dw, nw, F32); /* dw does not depend on w */
  if (bias) {
    snprintf(w2, sizeof w2, "%s backward bias", what);
    fails += cmp(w2, dbb, db, OC, F32);
  }
  /* accumulate: dx += (two roundings), dw += */
  float *acc = rnd(nx, -1, 1), *accr = malloc(nx * 4);
  uint16_t *accb = to_bf(acc, B, C, HW);
  for (size_t i = 0; i < nx; i++) accr[i] = acc[i] + dxr[i];
  be->fn.conv2d_backward(be->ctx, accb, dwb, NULL, dyb, xb, w, &sb, 0);
  for (size_t i = 0; i < nw; i++) dw[i] *= 2;
  snprintf(w2, sizeof w2, "%s backward data accumulates", what);
  fails += cmp_bf(w2, accb, accr, B, C, HW, TWICE);
  snprintf(w2, sizeof w2, "%s backward weights accumulate", what);
  fails += cmp(w2, dwb, dw, nw, F32);
  free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db), free(xb), free(dyb), free(yb), free(dxb);
  free(dwb), free(dbb), free(wr), free(yr), free(dxr), free(dwr), free(dbr), free(acc), free(accr), free(accb);
  return fails;
}

static int test_bn(int training, int relu) {
  enum { B = 3, C = 20, H = 7, HW = H * H };
  size_t n = (size_t)B * C * HW;
  float *x = rnd(n, -2, 3), *g = rnd(C, 0.5f, 1.5f), *bt = rnd(C, -0.5f, 0.5f), *dy = rnd(n, -1, 1);
  float *rm = rnd(C, -0.2f, 0.2f), *rv = rnd(C, 0.5f, 2), *rm2 = malloc(C * 4), *rv2 = malloc(C * 4);
  memcpy(rm2, rm, C * 4), memcpy(rv2, rv, C * 4);
  float *y = malloc(n * 4), *dx = malloc(n * 4), *st = malloc(2 * C * 4), *dg = calloc(C, 4), *db = calloc(C, 4);
  be->fn.batchnorm_forward(be->ctx, y, st, st + C, rm, rv, x, g, bt, B, C, HW, 1e-5f, 0.1f, training, relu, DML_FP32);
  be->fn.batchnorm_backward(be->ctx, dx, dg, db, dy, x, y, st, st + C, g, B, C, HW, training, relu, 1, DML_FP32);
  uint16_t *xb = to_bf(x, B, C, HW), *dyb = to_bf(dy, B, C, HW), *yb = malloc(n * 2), *dxb = malloc(n * 2);
  float *stb = malloc(2 * C * 4), *dgb = calloc(C, 4), *dbb = calloc(C, 4);
  be->fn.batchnorm_forward(be->ctx, yb, stb, stb + C, rm2, rv2, xb, g, bt, B, C, HW, 1e-5f, 0.1f, training, relu,
                           DML_BF16);
  /* the backward's y: the bf16 run's own output (the ReLU mask); the fp32 reference masks with its own y, which
   * agrees in sign except where |y| rounds to 0 — not for these values */
  be->fn.batchnorm_backward(be->ctx, dxb, dgb, dbb, dyb, xb, yb, stb, stb + C, g, B, C, HW, training, relu, 1,
                            DML_BF16);
  char w[160];
  int fails = 0;
  const char *mode = training ? "training" : "frozen";
  snprintf(w, sizeof w, "bn %s relu=%d bf16 forward", mode, relu);
  fails += cmp_bf(w, yb, y, B, C, HW, ONCE);
  snprintf(w, sizeof w, "bn %s relu=%d bf16 mean/invstd", mode, relu);
  fails += cmp(w, stb, st, 2 * C, F32);
  snprintf(w, sizeof w, "bn %s relu=%d bf16 running statistics", mode, relu);
  fails += cmp(w, rm2, rm, C, F32) + cmp(w, rv2, rv, C, F32);
  snprintf(w, sizeof w, "bn %s relu=%d bf16 backward dx", mode, relu);
  fails += cmp_bf(w, dxb, dx, B, C, HW, ONCE);
  snprintf(w, sizeof w, "bn %s relu=%d bf16 backward dgamma, dbeta", mode, relu);
  fails += cmp(w, dgb, dg, C, F32) + cmp(w, dbb, db, C, F32);
  free(x), free(g), free(bt), free(dy), free(rm), free(rv), free(rm2), free(rv2), free(y), free(dx), free(st);
  free(dg), free(db), free(xb), free(dyb), free(yb), free(dxb), free(stb), free(dgb), free(dbb);
  return fails;
}

static int test_pool(int kind, int K, int S, int P, int H, int OH) {
  enum { B = 2, C = 19 };
  struct dml_conv_shape s = {.B = B, .C = C, .H = H, .W = H, .OC = C, .KH = K, .KW = K, .SH = S, .SW = S, .PH = P,
                             .PW = P, .OH = OH, .OW = OH};
  size_t n = (size_t)B * C * H * H, no = (size_t)B * C * OH * OH;
  float *x = rnd(n, -1, 1), *dy = rnd(no, -1, 1), *y = malloc(no * 4), *dx = calloc(n, 4);
  int32_t *idx = malloc(no * 4), *idxb = malloc(no * 4);
  be->fn.pool2d_forward(be->ctx, y, idx, x, &s, kind);
  be->fn.pool2d_backward(be->ctx, dx, dy, idx, &s, kind);
  struct dml_conv_shape sb = s;
  sb.prec = DML_BF16;
  uint16_t *xb = to_bf(x, B, C, H * H), *dyb = to_bf(dy, B, C, OH * OH), *yb = malloc(no * 2), *dxb = calloc(n, 2);
  be->fn.pool2d_forward(be->ctx, yb, idxb, xb, &sb, kind);
  be->fn.pool2d_backward(be->ctx, dxb, dyb, idxb, &sb, kind);
  char w[160];
  int fails = 0;
  snprintf(w, sizeof w, "%s pool %d/%d pad %d @%d→%d bf16 forward", kind == DML_POOL_MAX ? "max" : "avg", K, S, P, H, OH);
  fails += cmp_bf(w, yb, y, B, C, OH * OH, ONCE);
  snprintf(w, sizeof w, "%s pool %d/%d pad %d @%d→%d bf16 backward", kind == DML_POOL_MAX ? "max" : "avg", K, S, P, H, OH);
  fails += cmp_bf(w, dxb, dx, B, C, H * H, ONCE);
  free(x), free(dy), free(y), free(dx), free(idx), free(idxb), free(xb), free(dyb), free(yb), free(dxb);
  return fails;
}

static int test_gpool(int kind) {
  enum { B = 3, C = 21, HW = 30 };
  size_t n = (size_t)B * C * HW;
  float *x = rnd(n, -1, 1), *dy = rnd(B * C, -1, 1), y[B * C], yb[B * C], *dx = calloc(n, 4);
  int32_t idx[B * C], idxb[B * C];
  be->fn.global_pool_forward(be->ctx, y, idx, x, B, C, HW, kind, DML_FP32);
  be->fn.global_pool_backward(be->ctx, dx, dy, idx, B, C, HW, kind, DML_FP32);
  uint16_t *xb = to_bf(x, B, C, HW), *dxb = calloc(n, 2);
  be->fn.global_pool_forward(be->ctx, yb, idxb, xb, B, C, HW, kind, DML_BF16);
  be->fn.global_pool_backward(be->ctx, dxb, dy, idxb, B, C, HW, kind, DML_BF16);
  int fails = 0;
  fails += cmp(kind == DML_POOL_MAX ? "global max pool bf16 forward (float32 features)"
                                    : "global avg pool bf16 forward (float32 features)", yb, y, B * C, F32);
  fails += cmp_bf(kind == DML_POOL_MAX ? "global max pool bf16 backward" : "global avg pool bf16 backward", dxb, dx, B,
                  C, HW, ONCE);
  free(x), free(dy), free(dx), free(xb), free(dxb);
  return fails;
}

static int test_add_concat(void) {
  enum { B = 2, C1 = 5, C2 = 11, HW = 9, C = C1 + C2 };
  size_t n = (size_t)B * C1 * HW;
  int fails = 0;
  for (int relu = 0; relu < 2; relu++) {
    float *a = rnd(n, -1, 1), *b = rnd(n, -1, 1), *dy = rnd(n, -1, 1), *y = malloc(n * 4), *da = rnd(n, -1, 1);
    float *db = malloc(n * 4);
    uint16_t *ab = to_bf(a, B, C1, HW), *bb = to_bf(b, B, C1, HW), *dyb = to_bf(dy, B, C1, HW), *yb = malloc(n * 2);
    uint16_t *dab = to_bf(da, B, C1, HW), *dbb = malloc(n * 2);
    be->fn.add_forward(be->ctx, y, a, b, n, relu, DML_FP32);
    be->fn.add_forward(be->ctx, yb, ab, bb, n, relu, DML_BF16);
    /* da += (accumulate), db = (overwrite) */
    be->fn.add_backward(be->ctx, da, db, dy, y, n, relu, 2, DML_FP32);
    be->fn.add_backward(be->ctx, dab, dbb, dyb, yb, n, relu, 2, DML_BF16);
    fails += cmp_bf(relu ? "add+relu bf16 forward" : "add bf16 forward", yb, y, B, C1, HW, ONCE);
    fails += cmp_bf(relu ? "add+relu bf16 backward +=" : "add bf16 backward +=", dab, da, B, C1, HW, ONCE);
    fails += cmp_bf(relu ? "add+relu bf16 backward =" : "add bf16 backward =", dbb, db, B, C1, HW, ONCE);
    free(a), free(b), free(dy), free(y), free(da), free(db), free(ab), free(bb), free(dyb), free(yb), free(dab), free(dbb);
  }
  /* concat of (B, C1) and (B, C2) and back */
  float *x1 = rnd((size_t)B * C1 * HW, -1, 1), *x2 = rnd((size_t)B * C2 * HW, -1, 1), *y = malloc((size_t)B * C * HW * 4);
  float *dy = rnd((size_t)B * C * HW, -1, 1), *dx2 = rnd((size_t)B * C2 * HW, -1, 1);
  uint16_t *x1b = to_bf(x1, B, C1, HW), *x2b = to_bf(x2, B, C2, HW), *yb = malloc((size_t)B * C * HW * 2);
  uint16_t *dyb = to_bf(dy, B, C, HW), *dx2b = to_bf(dx2, B, C2, HW);
  be->fn.concat_forward(be->ctx, y, x1, B, C, 0, C1, HW, DML_FP32);
  be->fn.concat_forward(be->ctx, y, x2, B, C, C1, C2, HW, DML_FP32);
  be->fn.concat_forward(be->ctx, yb, x1b, B, C, 0, C1, HW, DML_BF16);
  be->fn.concat_forward(be->ctx, yb, x2b, B, C, C1, C2, HW, DML_BF16);
  be->fn.concat_backward(be->ctx, dx2, dy, B, C, C1, C2, HW, DML_FP32);
  be->fn.concat_backward(be->ctx, dx2b, dyb, B, C, C1, C2, HW, DML_BF16);
  fails += cmp_bf("concat bf16 forward", yb, y, B, C, HW, ONCE);
  fails += cmp_bf("concat bf16 backward +=", dx2b, dx2, B, C2, HW, ONCE);
  free(x1), free(x2), free(y), free(dy), free(dx2), free(x1b), free(x2b), free(yb), free(dyb), free(dx2b);
  return fails;
}

/* conv2d_bn_forward (batch norm folded into the convolution, ReLU post-op) against conv2d + batchnorm (running
 * statistics) + ReLU, in fp32 (float32 rounding: rtol 1e-4) and bf16 (the fused form rounds once, the reference
 * twice: rtol 2^-7); and conv2d_bn_backward against batchnorm_backward (frozen) + conv2d_backward, on the same
 * ReLU mask (the unfused forward's output, so that outputs within rounding of 0 cannot flip it): dx, dw, dγ within
 * the same bounds (bf16: the unfused path rounds the BN input gradient, the fused one the folded weights), dβ
 * (the same float32 sums) within rtol 1e-4; the fused dx is checked both written and accumulated. */
static int test_conv_bn(int prec, int relu, int C, int H, int OC, int K, int S) {
  enum { B = 2, OCMAX = 32 };
  const int P = K / 2, OH = (H + 2 * P - K) / S + 1, OHW = OH * OH;
  struct dml_conv_shape s = {.B = B, .C = C, .H = H, .W = H, .OC = OC, .KH = K, .KW = K, .SH = S, .SW = S, .PH = P,
                             .PW = P, .OH = OH, .OW = OH, .prec = prec};
  size_t nx = (size_t)B * C * H * H, ny = (size_t)B * OC * OHW;
  float *x = rnd(nx, -1, 1), *w = rnd((size_t)OC * C * K * K, -0.3f, 0.3f), *g = rnd(OC, 0.5f, 1.5f);
  float *bt = rnd(OC, -1, 1), *rm = rnd(OC, -0.5f, 0.5f), *rv = rnd(OC, 0.5f, 2), st[2 * OCMAX];
  void *xa = prec == DML_BF16 ? (void *)to_bf(x, B, C, H * H) : (void *)x;
  void *z = malloc(ny * 4), *y1 = malloc(ny * 4), *y2 = malloc(ny * 4);
  be->fn.conv2d_forward(be->ctx, z, xa, w, NULL, &s);
  be->fn.batchnorm_forward(be->ctx, y1, st, st + OC, rm, rv, z, g, bt, B, OC, OHW, 1e-5f, 0.1f, 0, relu, prec);
  be->fn.conv2d_bn_forward(be->ctx, y2, xa, w, g, bt, rm, rv, 1e-5f, &s, relu);
  float *f1 = prec == DML_BF16 ? from_bf(y1, B, OC, OHW) : y1, *f2 = prec == DML_BF16 ? from_bf(y2, B, OC, OHW) : y2;
  char what[160];
  snprintf(what, sizeof what, "conv %dx%d/%d %d→%d @%d + frozen BN%s folded (%s)", K, K, S, C, OC, H,
           relu ? " + ReLU" : "", dml_prec_name(prec));
  double mx = maxabs(f1, ny);
  const double rt = prec == DML_BF16 ? 1.0 / 128 : 1e-4, at = prec == DML_BF16 ? 1.0 / 128 : 1e-5;
  int fails = expect_close_f32(what, f2, f1, ny, at * mx, rt);

  /* backward */
  const size_t nw = (size_t)OC * C * K * K, es = dml_prec_size(prec);
  float *dyf = rnd(ny, -1, 1);
  void *dy = prec == DML_BF16 ? (void *)to_bf(dyf, B, OC, OHW) : (void *)dyf, *dy2 = malloc(ny * es);
  memcpy(dy2, dy, ny * es);
  void *dz = malloc(ny * es), *dx1 = malloc(nx * es), *dx2 = malloc(nx * es), *dx3 = malloc(nx * es);
  float *dw1 = calloc(nw, 4), *dw2 = calloc(nw, 4), *dw3 = calloc(nw, 4), *dg = calloc(4 * OC, 4), *dbt = dg + OC;
  float *dg2 = dbt + OC, *dbt2 = dg2 + OC;
  be->fn.batchnorm_backward(be->ctx, dz, dg, dbt, dy, z, y1, st, st + OC, g, B, OC, OHW, 0, relu, 1, prec);
  be->fn.conv2d_backward(be->ctx, dx1, dw1, NULL, dz, xa, w, &s, 1);
  be->fn.conv2d_bn_backward(be->ctx, dx2, dw2, dg2, dbt2, dy2, xa, y1, w, g, rm, rv, 1e-5f, &s, relu, 1);
  memcpy(dy2, dy, ny * es);
  memcpy(dx3, dx2, nx * es); /* accumulate: dx3 = dx2 + dx2 */
  be->fn.conv2d_bn_backward(be->ctx, dx3, dw3, dg2, dbt2, dy2, xa, y1, w, g, rm, rv, 1e-5f, &s, relu, 0);
  float *e1 = prec == DML_BF16 ? from_bf(dx1, B, C, H * H) : dx1, *e2 = prec == DML_BF16 ? from_bf(dx2, B, C, H * H) : dx2;
  float *e3 = prec == DML_BF16 ? from_bf(dx3, B, C, H * H) : dx3, *twice = malloc(nx * 4), *g2 = malloc(2 * OC * 4);
  for (size_t i = 0; i < nx; i++) twice[i] = 2 * e1[i];
  for (int o = 0; o < 2 * OC; o++) g2[o] = (o < OC ? dg2[o] : dbt2[o - OC]) / 2; /* accumulated twice */
  char w2[220];
  snprintf(w2, sizeof w2, "%s backward dx", what);
  fails += expect_close_f32(w2, e2, e1, nx, at * maxabs(e1, nx), rt);
  snprintf(w2, sizeof w2, "%s backward dx accumulated", what);
  fails += expect_close_f32(w2, e3, twice, nx, 2 * at * maxabs(twice, nx), 2 * rt);
  snprintf(w2, sizeof w2, "%s backward dw", what);
  fails += expect_close_f32(w2, dw2, dw1, nw, at * maxabs(dw1, nw), rt);
  snprintf(w2, sizeof w2, "%s backward dgamma", what);
  fails += expect_close_f32(w2, g2, dg, OC, at * maxabs(dg, OC), rt);
  snprintf(w2, sizeof w2, "%s backward dbeta", what);
  fails += expect_close_f32(w2, g2 + OC, dbt, OC, 1e-5 * maxabs(dbt, OC), 1e-4);
  if (prec == DML_BF16) free(f1), free(f2), free(xa), free(e1), free(e2), free(e3), free(dy);
  free(x), free(w), free(g), free(bt), free(rm), free(rv), free(z), free(y1), free(y2);
  free(dyf), free(dy2), free(dz), free(dx1), free(dx2), free(dx3), free(dw1), free(dw2), free(dw3), free(dg);
  free(twice), free(g2);
  return fails;
}

/* bf16 conv forward + backward (dx written, then accumulated) with 1 and 2 threads, each on a fresh backend:
 * bitwise equal; a 3×3 (jit backward data), 1×1 stride 1 and 2 and a 3×3 with C ≥ 256 strided (matmuls) */
static int test_threads_shape(int C, int H, int OC, int K, int S) {
  const int B = 16, P = K / 2, OH = (H + 2 * P - K) / S + 1;
  struct dml_conv_shape s = {.B = B, .C = C, .H = H, .W = H, .OC = OC, .KH = K, .KW = K, .SH = S, .SW = S, .PH = P,
                             .PW = P, .OH = OH, .OW = OH, .prec = DML_BF16};
  size_t nx = (size_t)B * C * H * H, ny = (size_t)B * OC * OH * OH, nw = (size_t)OC * C * K * K;
  float *x = rnd(nx, -1, 1), *dy = rnd(ny, -1, 1), *w = rnd(nw, -1, 1);
  uint16_t *xb = to_bf(x, B, C, H * H), *dyb = to_bf(dy, B, OC, OH * OH), *y[2], *dx[2];
  float *dw[2];
  int keep = omp_get_max_threads();
  for (int k = 0; k < 2; k++) {
    omp_set_num_threads(k + 1);
    struct dml_backend *bk = dml_backend_cpu_new();
    y[k] = malloc(ny * 2), dx[k] = malloc(nx * 2), dw[k] = calloc(nw, 4);
    bk->fn.conv2d_forward(bk->ctx, y[k], xb, w, NULL, &s);
    bk->fn.conv2d_backward(bk->ctx, dx[k], dw[k], NULL, dyb, xb, w, &s, 1);
    bk->fn.conv2d_backward(bk->ctx, dx[k], dw[k], NULL, dyb, xb, w, &s, 0);
    dml_backend_free(bk);
  }
  omp_set_num_threads(keep);
  char what[160];
  snprintf(what, sizeof what, "bf16 conv %dx%d/%d %d→%d @%d forward, backward data and weights bitwise equal with 1 and 2 "
           "threads", K, K, S, C, OC, H);
  int fails = expect_true(what, !memcmp(y[0], y[1], ny * 2) && !memcmp(dx[0], dx[1], nx * 2) &&
                                    !memcmp(dw[0], dw[1], nw * 4));
  for (int k = 0; k < 2; k++) free(y[k]), free(dx[k]), free(dw[k]);
  free(x), free(dy), free(w), free(xb), free(dyb);
  return fails;
}

static int test_threads(void) {
  return test_threads_shape(32, 16, 64, 3, 1) + test_threads_shape(64, 14, 96, 1, 1) +
         test_threads_shape(64, 14, 96, 1, 2) + test_threads_shape(256, 8, 48, 3, 2);
}

int main(void) {
  be = dml_backend_cpu_new();
  if (!dml_backend_supports(be, DML_OP_BF16)) {
    printf("skip: this CPU's oneDNN has no bf16 convolution\n");
    dml_backend_free(be);
    return 77;
  }
  int fails = test_rounding();
  fails += test_conv(2, 16, 12, 32, 3, 1, 1, 0);
  fails += test_conv(2, 3, 20, 16, 7, 2, 3, 1);  /* a stem: 3 channels, stride 2 */
  fails += test_conv(3, 32, 8, 24, 1, 2, 0, 0);  /* a strided 1×1 downsample */
  fails += test_conv(3, 32, 8, 48, 1, 1, 0, 1);  /* 1×1 stride 1: weight gradients as a matmul, bias summed by us */
  fails += test_conv(2, 24, 5, 20, 1, 1, 0, 0);
  fails += test_conv(2, 13, 9, 10, 3, 1, 1, 1);  /* channel counts that are not multiples of 16 */
  fails += test_conv(2, 64, 2, 64, 3, 1, 1, 0);  /* tiny spatial sizes (the last stage of a small test net) */
  fails += test_conv(2, 32, 4, 64, 3, 2, 1, 0);
  /* backward data as matmuls (AVX512-BF16 / AMX): 1×1 stride 2 on an odd size (the scatter's last row and column),
   * 3×3 with C ≥ 256 strided (odd output) and at a small size (dcol = dy·W, then col2im) */
  fails += test_conv(3, 32, 7, 24, 1, 2, 0, 1);
  fails += test_conv(2, 256, 6, 32, 3, 2, 1, 0);
  fails += test_conv(2, 256, 5, 24, 3, 1, 1, 1);
  for (int tr = 0; tr < 2; tr++)
    for (int relu = 0; relu < 2; relu++) fails += test_bn(tr, relu);
  fails += test_pool(DML_POOL_MAX, 3, 2, 1, 15, 8);  /* ResNet's stem pool */
  fails += test_pool(DML_POOL_MAX, 3, 2, 0, 14, 7);  /* ceil mode (BN-Inception) */
  fails += test_pool(DML_POOL_AVG, 3, 1, 1, 9, 9);   /* BN-Inception's average branch */
  fails += test_pool(DML_POOL_AVG, 2, 2, 0, 9, 5);   /* ceil mode: clipped last window */
  fails += test_gpool(DML_POOL_AVG) + test_gpool(DML_POOL_MAX);
  fails += test_add_concat();
  fails += test_threads();
  /* conv + BN: 3×3 (the jit backward data), 1×1 stride 1 and 2 and a 3×3 with C ≥ 256 (backward data as matmuls
   * on the folded weights in their own bf16 copy) */
  static const int cbn[][5] = {{24, 10, 20, 3, 1}, {24, 10, 32, 1, 1}, {24, 10, 20, 1, 2}, {256, 5, 20, 3, 1}};
  for (int k = 0; k < 4; k++)
    for (int relu = 0; relu < 2; relu++)
      for (int prec = 0; prec < 2; prec++)
        fails += test_conv_bn(prec, relu, cbn[k][0], cbn[k][1], cbn[k][2], cbn[k][3], cbn[k][4]);
  const char *isa = dml_backend_conv_isa(be, DML_BF16), *cap = getenv("ONEDNN_MAX_CPU_ISA");
  printf("bf16 convolutions ran on: %s\n", isa ? isa : "?");
  /* ctest reruns this under ONEDNN_MAX_CPU_ISA (a CPU without AMX): the cap must have taken effect */
  if (cap && !strcmp(cap, "AVX512_CORE_BF16"))
    fails += expect_true("capped at AVX512_CORE_BF16: bf16 convolutions ran without AMX",
                         isa && !strstr(isa, "amx") && strstr(isa, "bf16"));
  else if (cap && !strcmp(cap, "AVX512_CORE"))
    fails += expect_true("capped at AVX512_CORE: bf16 convolutions ran on plain AVX-512", isa && !strcmp(isa, "avx512_core"));
  dml_backend_free(be);
  return test_report("engine_bf16_ops", fails);
}
