/* test_simd_kernels — the CPU backend's own AVX-512 kernels (kernels/cpu/cpu.h: batch norm, pooling, elementwise)
 * against their portable C twins and against float64 references, on odd sizes (channel counts and planes that are
 * not multiples of 16 or 32, a bf16 batch norm over more rows than one reduction block, planes of a few elements)
 * so that a wrong tail or a wrong block fails:
 *  1. every output of the AVX-512 path (default) is bitwise equal to the portable path's (DML_CPU_SIMD=portable):
 *     the two are written to compute the same float operations in the same order;
 *  2. the portable path's batch norm (training and frozen, with and without the fused ReLU, backward with `=` and
 *     `+=`) matches a float64 reference of torch's formulas: fp32 rtol 1e-5, atol 1e-5·max|ref| (one float32
 *     rounding of a value summed over a few hundred terms); bf16 outputs rtol 2^-8 (one bf16 rounding), float32
 *     statistics and γ/β gradients rtol 1e-5; a bf16 dx accumulated into an existing one rtol 2^-7;
 *  3. max pooling: values and argmax equal a plain window scan (integer-valued inputs, so ties are frequent and
 *     the first maximum must win), the backward dx += dy at the argmax matches float64; the add (+ ReLU) forward
 *     and backward equal their definition (one rounding per output) exactly; the input conversion float32 NCHW →
 *     bf16 NHWC equals dml_bf16_from_f32 at each place, special values included.
 * On a CPU without AVX-512 both paths are the portable one: point 1 then says so and checks nothing. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "kernels/ops.h"
#include "tests/testutil.h"

static struct dml_backend *be;
static uint64_t draw = 1;

static float *rnd(size_t n, float lo, float hi, int bf) {
  float *v = malloc(n * sizeof *v);
  struct dml_rng r = dml_rng_init(7, DML_RNG_TEST, draw++, 0);
  for (size_t i = 0; i < n; i++) {
    v[i] = lo + (hi - lo) * dml_rng_uniformf(&r);
    if (bf) v[i] = dml_bf16_round(v[i]);
  }
  return v;
}

static void set_portable(int on) {
  if (on)
    setenv("DML_CPU_SIMD", "portable", 1);
  else
    unsetenv("DML_CPU_SIMD");
}

/* float32 NCHW values → the layout of precision prec (bf16: NHWC bits) */
static void *to_prec(const float *x, int B, int C, int HW, int prec) {
  void *y = malloc((size_t)B * C * HW * dml_prec_size(prec));
  be->fn.act_convert(be->ctx, y, prec, x, DML_FP32, B, C, HW);
  return y;
}
static float *from_prec(const void *x, int B, int C, int HW, int prec) {
  float *y = malloc((size_t)B * C * HW * sizeof *y);
  be->fn.act_convert(be->ctx, y, DML_FP32, x, prec, B, C, HW);
  return y;
}

static double maxabs(const double *v, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
  return m;
}

static int close_f(const char *what, const float *got, const double *ref, size_t n, double rtol) {
  double *g = malloc(n * sizeof *g);
  for (size_t i = 0; i < n; i++) g[i] = got[i];
  int f = expect_close(what, g, ref, n, 1e-5 * maxabs(ref, n), rtol);
  free(g);
  return f;
}

struct bn_out {
  void *y, *dx;
  float st[2 * 1024], rm[1024], rv[1024], dg[1024], db[1024];
};

static void bn_run(struct bn_out *o, const void *x, const void *dy, const void *dx0, const float *g, const float *bt,
                   int B, int C, int HW, int training, int relu, int ow, int prec) {
  const size_t n = (size_t)B * C * HW, es = dml_prec_size(prec);
  o->y = malloc(n * es);
  o->dx = malloc(n * es);
  memcpy(o->dx, dx0, n * es);
  for (int c = 0; c < C; c++) o->rm[c] = 0.1f * c - 0.2f, o->rv[c] = 0.5f + 0.3f * c, o->dg[c] = 0.25f, o->db[c] = -0.5f;
  be->fn.batchnorm_forward(be->ctx, o->y, o->st, o->st + C, o->rm, o->rv, x, g, bt, B, C, HW, 1e-5f, 0.1f, training,
                           relu, prec);
  be->fn.batchnorm_backward(be->ctx, o->dx, o->dg, o->db, dy, x, o->y, o->st, o->st + C, g, B, C, HW, training, relu,
                            ow, prec);
}

static int bn_case(int B, int C, int HW, int training, int relu, int ow, int prec, int simd) {
  const size_t n = (size_t)B * C * HW;
  const int bf = prec == DML_BF16;
  float *x = rnd(n, -1.5f, 2.5f, bf), *dy = rnd(n, -1, 1, bf), *dx0 = rnd(n, -1, 1, bf);
  float *g = rnd(C, 0.5f, 1.5f, 0), *bt = rnd(C, -0.5f, 0.5f, 0);
  void *xp = to_prec(x, B, C, HW, prec), *dyp = to_prec(dy, B, C, HW, prec), *dxp = to_prec(dx0, B, C, HW, prec);
  struct bn_out *p = malloc(sizeof *p), *s = malloc(sizeof *s);
  set_portable(1);
  bn_run(p, xp, dyp, dxp, g, bt, B, C, HW, training, relu, ow, prec);
  set_portable(0);
  char w[200], tag[120];
  snprintf(tag, sizeof tag, "bn %s %s relu=%d %s B=%d C=%d HW=%d", prec == DML_BF16 ? "bf16" : "fp32",
           training ? "training" : "frozen", relu, ow ? "dx=" : "dx+=", B, C, HW);
  int fails = 0;
  if (simd) {
    bn_run(s, xp, dyp, dxp, g, bt, B, C, HW, training, relu, ow, prec);
    const size_t bytes = n * dml_prec_size(prec);
    snprintf(w, sizeof w, "%s: AVX-512 = portable, bitwise (y, dx, statistics, dγ, dβ)", tag);
    fails += expect_true(w, !memcmp(p->y, s->y, bytes) && !memcmp(p->dx, s->dx, bytes) &&
                                !memcmp(p->st, s->st, 2 * C * 4) && !memcmp(p->rm, s->rm, C * 4) &&
                                !memcmp(p->rv, s->rv, C * 4) && !memcmp(p->dg, s->dg, C * 4) &&
                                !memcmp(p->db, s->db, C * 4));
    free(s->y), free(s->dx);
  }
  /* float64 reference (NCHW) */
  double *ry = malloc(n * sizeof *ry), *rdx = malloc(n * sizeof *rdx), *rst = malloc(4 * C * sizeof *rst);
  double *rdg = malloc(2 * C * sizeof *rdg), *rdb = rdg + C, *rrm = malloc(2 * C * sizeof *rrm), *rrv = rrm + C;
  float *y = from_prec(p->y, B, C, HW, prec), *dx = from_prec(p->dx, B, C, HW, prec);
  const double N = (double)B * HW;
  for (int c = 0; c < C; c++) {
    double m = 0, v = 0;
    for (int b = 0; b < B; b++)
      for (int i = 0; i < HW; i++) m += x[((size_t)b * C + c) * HW + i];
    m /= N;
    for (int b = 0; b < B; b++)
      for (int i = 0; i < HW; i++) v += pow(x[((size_t)b * C + c) * HW + i] - m, 2);
    const double var = v / N, m0 = 0.1f * c - 0.2f, v0 = 0.5f + 0.3f * c;
    if (training) {
      rrm[c] = 0.9 * m0 + 0.1 * m;
      rrv[c] = 0.9 * v0 + 0.1 * v / (N - 1);
    } else {
      rrm[c] = m0, rrv[c] = v0, m = m0;
    }
    const double is = 1 / sqrt((training ? var : v0) + 1e-5);
    rst[c] = m, rst[C + c] = is;
    double sd = 0, sdx = 0;
    for (int b = 0; b < B; b++)
      for (int i = 0; i < HW; i++) {
        const size_t k = ((size_t)b * C + c) * HW + i;
        double yy = g[c] * (x[k] - m) * is + bt[c];
        ry[k] = relu && yy < 0 ? 0 : yy;
        double d = relu && !(y[k] > 0) ? 0 : dy[k]; /* the op's own output is the mask */
        sd += d, sdx += d * (x[k] - m) * is;
      }
    rdg[c] = 0.25 + sdx, rdb[c] = -0.5 + sd;
    for (int b = 0; b < B; b++)
      for (int i = 0; i < HW; i++) {
        const size_t k = ((size_t)b * C + c) * HW + i;
        double d = relu && !(y[k] > 0) ? 0 : dy[k];
        double v2 = training ? g[c] * is / N * (N * d - sd - (x[k] - m) * is * sdx) : g[c] * is * d;
        rdx[k] = (ow ? 0 : dx0[k]) + v2;
      }
  }
  const double rt = bf ? 1.0 / 256 : 1e-5, rtd = bf ? (ow ? 1.0 / 256 : 1.0 / 128) : 1e-5;
  float *st = p->st;
  snprintf(w, sizeof w, "%s: y vs float64", tag);
  fails += close_f(w, y, ry, n, rt);
  snprintf(w, sizeof w, "%s: dx vs float64", tag);
  fails += close_f(w, dx, rdx, n, rtd);
  snprintf(w, sizeof w, "%s: mean, invstd vs float64", tag);
  fails += close_f(w, st, rst, 2 * C, 1e-5);
  snprintf(w, sizeof w, "%s: running mean, var vs float64", tag);
  fails += close_f(w, p->rm, rrm, C, 1e-5) + close_f(w, p->rv, rrv, C, 1e-5);
  snprintf(w, sizeof w, "%s: dγ, dβ vs float64", tag);
  fails += close_f(w, p->dg, rdg, C, 1e-4) + close_f(w, p->db, rdb, C, 1e-4);
  free(p->y), free(p->dx), free(p), free(s), free(x), free(dy), free(dx0), free(g), free(bt), free(xp), free(dyp);
  free(dxp), free(ry), free(rdx), free(rst), free(rdg), free(rrm), free(y), free(dx);
  return fails;
}

/* max pooling of one shape in precision prec: values and argmax against a plain window scan (exact), the backward
 * (dx += the scattered dy) against float64; and the AVX-512 path bitwise equal to the portable one */
static int pool_case(int B, int C, int H, int W, int K, int S, int P, int prec, int simd) {
  struct dml_conv_shape sh = {.B = B, .C = C, .H = H, .W = W, .OC = C, .KH = K, .KW = K, .SH = S, .SW = S, .PH = P,
                              .PW = P, .prec = prec};
  sh.OH = (H + 2 * P - K) / S + 1;
  sh.OW = (W + 2 * P - K) / S + 1;
  const int OH = sh.OH, OW = sh.OW, bf = prec == DML_BF16;
  const size_t n = (size_t)B * C * H * W, no = (size_t)B * C * OH * OW, es = dml_prec_size(prec);
  /* few distinct values: ties are frequent, and the first maximum must win */
  float *x = rnd(n, -4, 4, 1), *dy = rnd(no, -1, 1, bf), *dx0 = rnd(n, -1, 1, bf);
  for (size_t i = 0; i < n; i++) x[i] = floorf(x[i]);
  void *xp = to_prec(x, B, C, H * W, prec), *dyp = to_prec(dy, B, C, OH * OW, prec);
  void *y[2], *dx[2];
  int32_t *idx[2];
  for (int k = 0; k < 2; k++) {
    y[k] = malloc(no * es), idx[k] = malloc(no * 4), dx[k] = to_prec(dx0, B, C, H * W, prec);
    set_portable(k == 0);
    if (k == 1 && !simd) continue;
    be->fn.pool2d_forward(be->ctx, y[k], idx[k], xp, &sh, DML_POOL_MAX);
    be->fn.pool2d_backward(be->ctx, dx[k], dyp, idx[k], &sh, DML_POOL_MAX);
  }
  set_portable(0);
  char tag[120], w[200];
  snprintf(tag, sizeof tag, "max pool %s %d/%d pad %d, B=%d C=%d %dx%d", bf ? "bf16" : "fp32", K, S, P, B, C, H, W);
  int fails = 0;
  if (simd) {
    snprintf(w, sizeof w, "%s: AVX-512 = portable, bitwise (y, argmax, dx)", tag);
    fails += expect_true(w, !memcmp(y[0], y[1], no * es) && !memcmp(idx[0], idx[1], no * 4) &&
                                !memcmp(dx[0], dx[1], n * es));
  }
  /* the window scan, NCHW; argmax as the op stores it: h·W + w within the (b, c) plane */
  float *ry = malloc(no * 4);
  int32_t *ri = malloc(no * 4);
  double *rdx = malloc(n * sizeof *rdx);
  for (size_t i = 0; i < n; i++) rdx[i] = dx0[i];
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          float m = 0;
          int am = -1;
          for (int h = oh * S - P; h < oh * S - P + K; h++)
            for (int ww = ow * S - P; ww < ow * S - P + K; ww++)
              if (h >= 0 && h < H && ww >= 0 && ww < W) {
                float v = x[(((size_t)b * C + c) * H + h) * W + ww];
                if (am < 0 || v > m) m = v, am = h * W + ww;
              }
          const size_t o = (((size_t)b * C + c) * OH + oh) * OW + ow;
          ry[o] = m, ri[o] = am;
          rdx[((size_t)b * C + c) * H * W + am] += dy[o];
        }
  float *yg = from_prec(y[0], B, C, OH * OW, prec), *dxg = from_prec(dx[0], B, C, H * W, prec);
  int32_t *ig = malloc(no * 4);
  for (int b = 0; b < B; b++) /* bf16: the argmax array is NHWC */
    for (int c = 0; c < C; c++)
      for (int o = 0; o < OH * OW; o++)
        ig[((size_t)b * C + c) * OH * OW + o] =
            idx[0][bf ? ((size_t)b * OH * OW + o) * C + c : ((size_t)b * C + c) * OH * OW + o];
  snprintf(w, sizeof w, "%s: values and argmax = the window scan", tag);
  fails += expect_true(w, !memcmp(yg, ry, no * 4) && !memcmp(ig, ri, no * 4));
  snprintf(w, sizeof w, "%s: dx vs float64", tag);
  fails += close_f(w, dxg, rdx, n, bf ? 1.0 / 256 : 1e-6);
  for (int k = 0; k < 2; k++) free(y[k]), free(idx[k]), free(dx[k]);
  free(x), free(dy), free(dx0), free(xp), free(dyp), free(ry), free(ri), free(rdx), free(yg), free(dxg), free(ig);
  return fails;
}

/* add (+ ReLU) forward and backward over n elements (n not a multiple of 16), gradients `=` or `+=`: the AVX-512
 * path bitwise equal to the portable one, and both equal to the definition computed here (exact: one rounding) */
static int add_case(size_t n, int relu, int ow, int prec, int simd) {
  const int bf = prec == DML_BF16;
  const size_t es = dml_prec_size(prec);
  float *a = rnd(n, -1, 1, bf), *b = rnd(n, -1, 1, bf), *dy = rnd(n, -1, 1, bf), *g0 = rnd(2 * n, -1, 1, bf);
  void *ap = to_prec(a, 1, 1, (int)n, prec), *bp = to_prec(b, 1, 1, (int)n, prec), *dyp = to_prec(dy, 1, 1, (int)n, prec);
  void *y[2], *g[2];
  for (int k = 0; k < 2; k++) {
    y[k] = malloc(n * es), g[k] = to_prec(g0, 1, 1, (int)(2 * n), prec);
    set_portable(k == 0);
    if (k == 1 && !simd) continue;
    be->fn.add_forward(be->ctx, y[k], ap, bp, n, relu, prec);
    be->fn.add_backward(be->ctx, g[k], (char *)g[k] + n * es, dyp, y[k], n, relu, ow, prec);
  }
  set_portable(0);
  char tag[120], w[200];
  snprintf(tag, sizeof tag, "add %s relu=%d ow=%d n=%zu", bf ? "bf16" : "fp32", relu, ow, n);
  int fails = 0;
  if (simd) {
    snprintf(w, sizeof w, "%s: AVX-512 = portable, bitwise (y, da, db)", tag);
    fails += expect_true(w, !memcmp(y[0], y[1], n * es) && !memcmp(g[0], g[1], 2 * n * es));
  }
  float *yr = malloc(n * 4), *gr = malloc(2 * n * 4);
  for (size_t i = 0; i < n; i++) {
    float v = a[i] + b[i];
    yr[i] = relu && !(v > 0) ? 0.0f : v;
    if (bf) yr[i] = dml_bf16_round(yr[i]);
    float d = relu && !(yr[i] > 0) ? 0.0f : dy[i];
    for (int k = 0; k < 2; k++) {
      float t = (ow >> k) & 1 ? d : g0[k * n + i] + d;
      gr[k * n + i] = bf ? dml_bf16_round(t) : t;
    }
  }
  float *yg = from_prec(y[0], 1, 1, (int)n, prec), *gg = from_prec(g[0], 1, 1, (int)(2 * n), prec);
  snprintf(w, sizeof w, "%s: y, da, db = the definition", tag);
  fails += expect_true(w, !memcmp(yg, yr, n * 4) && !memcmp(gg, gr, 2 * n * 4));
  for (int k = 0; k < 2; k++) free(y[k]), free(g[k]);
  free(a), free(b), free(dy), free(g0), free(ap), free(bp), free(dyp), free(yr), free(gr), free(yg), free(gg);
  return fails;
}

/* act_convert float32 NCHW → bf16 NHWC of an RGB batch (the network's input; AVX-512 for C = 3): every value as
 * dml_bf16_from_f32 gives it, at its NHWC place, on plain values, round-to-even halfway cases, ±0, ±inf, NaNs,
 * subnormals and values that round up to inf; the AVX-512 path bitwise equal to the portable one */
static int convert_case(int B, int HW, int simd) {
  const int C = 3;
  const size_t n = (size_t)B * C * HW;
  float *x = rnd(n, -3, 3, 0);
  const uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00001u,
                              0x7f800001u, 0x00000001u, 0x807fffffu, 0x7f7fffffu, 0x3f80ffffu, 0x00008000u};
  for (size_t i = 0; i < n && i < 3 * sizeof special / sizeof *special; i += 3)
    memcpy(&x[i], &special[i / 3], 4);
  uint16_t *y[2];
  for (int k = 0; k < 2; k++) {
    y[k] = calloc(n + 8, 2);
    set_portable(k == 0);
    if (k == 1 && !simd) continue;
    be->fn.act_convert(be->ctx, y[k], DML_BF16, x, DML_FP32, B, C, HW);
  }
  set_portable(0);
  char w[160];
  int fails = 0, ok = 1;
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      for (int i = 0; i < HW; i++)
        ok &= y[0][((size_t)b * HW + i) * C + c] == dml_bf16_from_f32(x[((size_t)b * C + c) * HW + i]);
  for (int k = 0; k < 8; k++) ok &= y[0][n + k] == 0; /* nothing written past the end */
  snprintf(w, sizeof w, "convert fp32 → bf16, B=%d C=3 HW=%d: = dml_bf16_from_f32 at the NHWC place", B, HW);
  fails += expect_true(w, ok);
  if (simd) {
    for (int k = 0; k < 8; k++) ok &= y[1][n + k] == 0;
    snprintf(w, sizeof w, "convert fp32 → bf16, B=%d C=3 HW=%d: AVX-512 = portable, bitwise, nothing past the end", B,
             HW);
    fails += expect_true(w, ok && !memcmp(y[0], y[1], (n + 8) * 2));
  }
  free(x), free(y[0]), free(y[1]);
  return fails;
}

int main(void) {
  be = dml_backend_cpu_new();
#if defined(__x86_64__) && defined(__GNUC__)
  const int simd = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  const int simd = 0;
#endif
  if (!simd) printf("no AVX-512 on this CPU: the AVX-512 = portable comparisons check nothing here\n");
  int fails = 0;
  /* (B, C, HW): tails of 16/32/64 channels and of 16-element planes; 2·200 = 400 rows = two bf16 blocks; 600
   * channels = two bf16 reduction tasks per block */
  const int shapes[][3] = {{3, 37, 35}, {2, 70, 200}, {5, 16, 17}, {1, 100, 3}, {4, 33, 64}, {2, 600, 9}};
  for (int prec = 0; prec < 2; prec++)
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
      for (int mode = 0; mode < 8; mode++)
        fails += bn_case(shapes[k][0], shapes[k][1], shapes[k][2], mode & 1, (mode >> 1) & 1, (mode >> 2) & 1,
                         prec ? DML_BF16 : DML_FP32, simd);
  /* (B, C, H, W, K, S, P): the stem's 3/2 pad 1 on odd planes, windows without padding, stride 1 */
  const int pools[][7] = {{2, 19, 13, 11, 3, 2, 1}, {1, 37, 9, 20, 2, 2, 0}, {2, 5, 7, 35, 3, 1, 1},
                          {1, 70, 6, 6, 3, 2, 1}, {3, 16, 17, 33, 3, 2, 0}};
  for (int prec = 0; prec < 2; prec++)
    for (size_t k = 0; k < sizeof pools / sizeof *pools; k++) {
      const int *q = pools[k];
      fails += pool_case(q[0], q[1], q[2], q[3], q[4], q[5], q[6], prec ? DML_BF16 : DML_FP32, simd);
    }
  /* the add runs over chunks of 16384 elements: one chunk with a tail, and several */
  for (int prec = 0; prec < 2; prec++)
    for (int mode = 0; mode < 8; mode++)
      for (int k = 0; k < 2; k++)
        fails += add_case(k ? 50003 : 37, mode & 1, mode >> 1, prec ? DML_BF16 : DML_FP32, simd);
  fails += convert_case(2, 37, simd) + convert_case(3, 16, simd) + convert_case(1, 5, simd) + convert_case(2, 1000, simd);
  dml_backend_free(be);
  return test_report("engine_simd", fails);
}
