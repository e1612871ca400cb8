/* test_engine_ops — every op of the convolutional engine against plain-C float64 reference forwards, with
 * gradients from float64 central finite differences (h = 1e-6) of loss = Σ c ⊙ f(inputs) for a fixed random c:
 *   1. the float32 backend forward (through the tape layers) matches the float64 reference forward;
 *   2. the float32 analytic gradients of every input and parameter (dml_tape_backward) match the float64 FD ones.
 * Ops: conv2d (3×3/2 pad 1 with bias, 1×1/1 without, 7×7/2 pad 3, 16 channels), batch norm (training with the
 * running-stat update, inference/frozen, each with and without the fused ReLU), max and average pooling (floor and
 * ceil mode, torch's count_include_pad divisor), global average / max pooling, add (with and without the fused
 * ReLU), concat, dropout (mask from the documented RNG stream), reshape. Random inputs are redrawn until no
 * max-pool tie or ReLU kink lies within 1e-3. Also: conv forward/backward bitwise equal with 1 and 2 OpenMP
 * threads, and conv gradient accumulation (`+=`) into existing gradients. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "tests/testutil.h"
#include "train/nn/nn.h"

enum { OP_CONV, OP_BN_TRAIN, OP_BN_EVAL, OP_BN_TRAIN_RELU, OP_BN_EVAL_RELU, OP_MAXPOOL, OP_AVGPOOL, OP_GAVG, OP_GMAX, OP_ADD, OP_ADD_RELU,
       OP_CONCAT, OP_DROPOUT };

struct cfg {
  int op;
  const char *name;
  int B, C, H, W, OC, K, S, P, bias, ceil; /* concat: OC = channels of the second input */
};

enum { DROP_SEED = 77, DROP_STEP = 5 };
static const float DROP_P = 0.3f;

/* inputs: in[0] = x (B,C,H,W); conv: in[1] = w, in[2] = b; bn: in[1] = gamma, in[2] = beta; add: in[1] = second */
static int ceil_mode;
/* torch's pooling output size (floor, or ceil with the last window starting inside input or left padding) */
static int out_hw(int H, int K, int S, int P) {
  int o = (H + 2 * P - K + (ceil_mode ? S - 1 : 0)) / S + 1;
  if (ceil_mode && (o - 1) * S >= H + P) o--;
  return o;
}

static size_t n_in(const struct cfg *c, int i) {
  size_t x = (size_t)c->B * c->C * c->H * c->W;
  switch (c->op) {
    case OP_CONV: return i == 0 ? x : i == 1 ? (size_t)c->OC * c->C * c->K * c->K : i == 2 && c->bias ? (size_t)c->OC : 0;
    case OP_BN_TRAIN: case OP_BN_EVAL: case OP_BN_TRAIN_RELU: case OP_BN_EVAL_RELU: return i == 0 ? x : i < 3 ? (size_t)c->C : 0;
    case OP_ADD: case OP_ADD_RELU: return i < 2 ? x : 0;
    case OP_CONCAT: return i == 0 ? x : i == 1 ? (size_t)c->B * c->OC * c->H * c->W : 0;
    default: return i == 0 ? x : 0;
  }
}

static size_t n_out(const struct cfg *c) {
  int OH = out_hw(c->H, c->K, c->S, c->P), OW = out_hw(c->W, c->K, c->S, c->P);
  switch (c->op) {
    case OP_CONV: return (size_t)c->B * c->OC * OH * OW;
    case OP_MAXPOOL: case OP_AVGPOOL: return (size_t)c->B * c->C * OH * OW;
    case OP_GAVG: case OP_GMAX: return (size_t)c->B * c->C;
    case OP_CONCAT: return (size_t)c->B * (c->C + c->OC) * c->H * c->W;
    default: return (size_t)c->B * c->C * c->H * c->W;
  }
}

/* fixed running statistics for the inference batch norm */
static double run_mean(int c) { return 0.1 * c - 0.2; }
static double run_var(int c) { return 0.5 + 0.3 * c; }

static void ref_forward(const struct cfg *c, double *const *in, double *y) {
  const int B = c->B, C = c->C, H = c->H, W = c->W, HW = H * W;
  const int OH = out_hw(H, c->K, c->S, c->P), OW = out_hw(W, c->K, c->S, c->P);
  const double *x = in[0];
  switch (c->op) {
    case OP_CONV:
      for (int b = 0; b < B; b++)
        for (int o = 0; o < c->OC; o++)
          for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
              double s = c->bias ? in[2][o] : 0;
              for (int ci = 0; ci < C; ci++)
                for (int kh = 0; kh < c->K; kh++)
                  for (int kw = 0; kw < c->K; kw++) {
                    int h = oh * c->S - c->P + kh, w = ow * c->S - c->P + kw;
                    if (h < 0 || h >= H || w < 0 || w >= W) continue;
                    s += x[((size_t)(b * C + ci) * H + h) * W + w] * in[1][((size_t)(o * C + ci) * c->K + kh) * c->K + kw];
                  }
              y[((size_t)(b * c->OC + o) * OH + oh) * OW + ow] = s;
            }
      break;
    case OP_BN_TRAIN: case OP_BN_EVAL: case OP_BN_TRAIN_RELU: case OP_BN_EVAL_RELU:
      for (int ch = 0; ch < C; ch++) {
        double m = 0, v = 0, N = (double)B * HW;
        for (int b = 0; b < B; b++)
          for (int i = 0; i < HW; i++) m += x[(size_t)(b * C + ch) * HW + i];
        m /= N;
        for (int b = 0; b < B; b++)
          for (int i = 0; i < HW; i++) v += pow(x[(size_t)(b * C + ch) * HW + i] - m, 2);
        v /= N;
        if (c->op == OP_BN_EVAL || c->op == OP_BN_EVAL_RELU) m = run_mean(ch), v = run_var(ch);
        for (int b = 0; b < B; b++)
          for (int i = 0; i < HW; i++) {
            size_t k = (size_t)(b * C + ch) * HW + i;
            y[k] = (x[k] - m) / sqrt(v + 1e-5) * in[1][ch] + in[2][ch];
            if ((c->op == OP_BN_TRAIN_RELU || c->op == OP_BN_EVAL_RELU) && y[k] < 0) y[k] = 0;
          }
      }
      break;
    case OP_MAXPOOL: case OP_AVGPOOL:
      for (int p = 0; p < B * C; p++)
        for (int oh = 0; oh < OH; oh++)
          for (int ow = 0; ow < OW; ow++) {
            /* torch avg_pool2d(count_include_pad=True): divisor = window ∩ padded input */
            int hs = oh * c->S - c->P, ws = ow * c->S - c->P;
            int he = hs + c->K < H + c->P ? hs + c->K : H + c->P, we = ws + c->K < W + c->P ? ws + c->K : W + c->P;
            double m = -INFINITY, s = 0, div = (double)(he - hs) * (we - ws);
            for (int kh = 0; kh < c->K; kh++)
              for (int kw = 0; kw < c->K; kw++) {
                int h = oh * c->S - c->P + kh, w = ow * c->S - c->P + kw;
                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                double v = x[(size_t)p * HW + h * W + w];
                m = v > m ? v : m;
                s += v;
              }
            y[((size_t)p * OH + oh) * OW + ow] = c->op == OP_MAXPOOL ? m : s / div;
          }
      break;
    case OP_GAVG: case OP_GMAX:
      for (int p = 0; p < B * C; p++) {
        double m = -INFINITY, s = 0;
        for (int i = 0; i < HW; i++) {
          double v = x[(size_t)p * HW + i];
          m = v > m ? v : m;
          s += v;
        }
        y[p] = c->op == OP_GMAX ? m : s / HW;
      }
      break;
    case OP_CONCAT:
      for (int b = 0; b < B; b++) {
        memcpy(y + (size_t)b * (C + c->OC) * HW, x + (size_t)b * C * HW, (size_t)C * HW * sizeof *y);
        memcpy(y + ((size_t)b * (C + c->OC) + C) * HW, in[1] + (size_t)b * c->OC * HW, (size_t)c->OC * HW * sizeof *y);
      }
      break;
    case OP_DROPOUT: { /* the mask drawn from the documented stream, independently of the layer */
      struct dml_rng r = dml_rng_init(DROP_SEED, DML_RNG_DROPOUT, DROP_STEP, 0);
      for (size_t i = 0; i < n_out(c); i++) y[i] = dml_rng_uniformf(&r) < DROP_P ? 0.0 : x[i] / (1.0 - DROP_P);
      break;
    }
    case OP_ADD: case OP_ADD_RELU:
      for (size_t i = 0; i < n_out(c); i++) {
        double v = x[i] + in[1][i];
        y[i] = c->op == OP_ADD_RELU && v < 0 ? 0 : v;
      }
      break;
  }
}

/* Is the float64 function locally smooth at these inputs? (no max tie / ReLU kink within `gap`) */
static int smooth(const struct cfg *c, double *const *in, double gap) {
  const int H = c->H, W = c->W, HW = H * W, OH = out_hw(H, c->K, c->S, c->P), OW = out_hw(W, c->K, c->S, c->P);
  if (c->op == OP_ADD_RELU) {
    for (size_t i = 0; i < n_out(c); i++)
      if (fabs(in[0][i] + in[1][i]) < gap) return 0;
  }
  if (c->op == OP_BN_TRAIN_RELU || c->op == OP_BN_EVAL_RELU) { /* the pre-activation away from 0 */
    struct cfg lin = *c;
    lin.op = c->op == OP_BN_TRAIN_RELU ? OP_BN_TRAIN : OP_BN_EVAL;
    double *y = malloc(n_out(c) * sizeof *y);
    ref_forward(&lin, in, y);
    int ok = 1;
    for (size_t i = 0; i < n_out(c); i++) ok &= fabs(y[i]) > gap;
    free(y);
    if (!ok) return 0;
  }
  if (c->op == OP_MAXPOOL || c->op == OP_GMAX) {
    for (int p = 0; p < c->B * c->C; p++) {
      int nwin = c->op == OP_GMAX ? 1 : OH * OW;
      for (int o = 0; o < nwin; o++) {
        double best = -INFINITY, second = -INFINITY;
        for (int i = 0; i < HW; i++) {
          int h = i / W, w = i % W;
          if (c->op == OP_MAXPOOL) {
            int oh = o / OW, ow = o % OW, h0 = oh * c->S - c->P, w0 = ow * c->S - c->P;
            if (h < h0 || h >= h0 + c->K || w < w0 || w >= w0 + c->K) continue;
          }
          double v = in[0][(size_t)p * HW + i];
          if (v > best) second = best, best = v;
          else if (v > second) second = v;
        }
        if (best - second < gap) return 0;
      }
    }
  }
  return 1;
}

static double loss64(const struct cfg *c, double *const *in, const double *cw, double *y) {
  ref_forward(c, in, y);
  double s = 0;
  for (size_t i = 0; i < n_out(c); i++) s += cw[i] * y[i];
  return s;
}

static int run_case(struct dml_backend *be, const struct cfg *c, uint64_t seed) {
  int fails = 0;
  ceil_mode = c->ceil;
  size_t nin[3], no = n_out(c);
  double *in[3], *cw = malloc(no * sizeof *cw), *y64 = malloc(no * sizeof *y64);
  int nin_used = 0;
  for (int i = 0; i < 3; i++) {
    nin[i] = n_in(c, i);
    in[i] = nin[i] ? malloc(nin[i] * sizeof(double)) : NULL;
    if (nin[i]) nin_used = i + 1;
  }
  for (uint64_t trial = 0;; trial++) {
    struct dml_rng r = dml_rng_init(seed, DML_RNG_TEST, (uint64_t)c->op, trial);
    for (int i = 0; i < nin_used; i++)
      for (size_t k = 0; k < nin[i]; k++) {
        double v = 2 * dml_rng_uniform(&r) - 1;
        if (c->op >= OP_BN_TRAIN && c->op <= OP_BN_EVAL_RELU && i == 1) v = 0.5 + 0.5 * v + 0.5; /* gamma in (0.5, 1.5) */
        /* round inputs to float so that the float32 and float64 functions see the same numbers */
        in[i][k] = (float)v;
      }
    for (size_t k = 0; k < no; k++) cw[k] = (float)(2 * dml_rng_uniform(&r) - 1);
    if (smooth(c, in, 1e-3)) break;
  }
  /* the backend: inputs are parameters (so they receive gradients) */
  struct dml_params ps;
  dml_params_init(&ps, be);
  int shp_x[4] = {c->B, c->C, c->H, c->W};
  dml_params_declare(&ps, "x", 4, shp_x, 0, 0);
  if (c->op == OP_CONV) {
    dml_params_declare(&ps, "w", 4, (int[]){c->OC, c->C, c->K, c->K}, 0, 0);
    if (c->bias) dml_params_declare(&ps, "b", 1, (int[]){c->OC}, 0, 0);
  } else if (c->op >= OP_BN_TRAIN && c->op <= OP_BN_EVAL_RELU) {
    dml_params_declare(&ps, "gamma", 1, (int[]){c->C}, 0, 0);
    dml_params_declare(&ps, "beta", 1, (int[]){c->C}, 0, 0);
  } else if (c->op == OP_ADD || c->op == OP_ADD_RELU) {
    dml_params_declare(&ps, "x2", 4, shp_x, 0, 0);
  } else if (c->op == OP_CONCAT) {
    dml_params_declare(&ps, "x2", 4, (int[]){c->B, c->OC, c->H, c->W}, 0, 0);
  }
  dml_params_alloc(&ps);
  for (int i = 0; i < ps.n; i++)
    for (size_t k = 0; k < nin[i]; k++) ps.p[i].t.data[k] = (float)in[i][k];
  float *rm = malloc(c->C * sizeof *rm), *rv = malloc(c->C * sizeof *rv);
  for (int ch = 0; ch < c->C; ch++) rm[ch] = (float)run_mean(ch), rv[ch] = (float)run_var(ch);
  struct dml_tape t;
  dml_tape_init(&t, be, 1 << 22);
  t.seed = DROP_SEED;
  t.step = DROP_STEP;
  /* the input goes through a reshape view first, so reshape's backward is covered too */
  struct dml_tensor *x = dml_reshape(&t, &ps.p[0].t, 4, shp_x), *y = NULL;
  switch (c->op) {
    case OP_CONV: y = dml_conv2d(&t, x, &ps.p[1].t, c->bias ? &ps.p[2].t : NULL, c->S, c->P); break;
    case OP_BN_TRAIN: case OP_BN_EVAL: case OP_BN_TRAIN_RELU: case OP_BN_EVAL_RELU:
      y = dml_batchnorm(&t, x, &ps.p[1].t, &ps.p[2].t, rm, rv, 1e-5f, 0.1f, c->op == OP_BN_TRAIN || c->op == OP_BN_TRAIN_RELU,
                        c->op == OP_BN_TRAIN_RELU || c->op == OP_BN_EVAL_RELU);
      break;
    case OP_MAXPOOL: y = dml_pool2d(&t, x, DML_POOL_MAX, c->K, c->S, c->P, c->ceil); break;
    case OP_AVGPOOL: y = dml_pool2d(&t, x, DML_POOL_AVG, c->K, c->S, c->P, c->ceil); break;
    case OP_CONCAT: y = dml_concat(&t, (struct dml_tensor *[]){x, &ps.p[1].t}, 2); break;
    case OP_DROPOUT: y = dml_dropout(&t, x, DROP_P); break;
    case OP_GAVG: y = dml_global_pool(&t, x, DML_POOL_AVG); break;
    case OP_GMAX: y = dml_global_pool(&t, x, DML_POOL_MAX); break;
    case OP_ADD: case OP_ADD_RELU: y = dml_add(&t, x, &ps.p[1].t, c->op == OP_ADD_RELU); break;
  }
  char name[160];
  DML_ASSERT(y->n == no);
  loss64(c, in, cw, y64);
  double *got = malloc((no > 4096 ? no : 4096) * sizeof *got);
  for (size_t k = 0; k < no; k++) got[k] = y->data[k];
  snprintf(name, sizeof name, "%s forward", c->name);
  fails += expect_close(name, got, y64, no, 1e-5, 1e-5);
  if (c->op == OP_BN_TRAIN) { /* running statistics: torch's update with the unbiased variance */
    double ref[64], gm[64];
    for (int ch = 0; ch < c->C; ch++) {
      double m = 0, v = 0, N = (double)c->B * c->H * c->W;
      for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->H * c->W; i++) m += in[0][(size_t)(b * c->C + ch) * c->H * c->W + i];
      m /= N;
      for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->H * c->W; i++) v += pow(in[0][(size_t)(b * c->C + ch) * c->H * c->W + i] - m, 2);
      ref[2 * ch] = 0.9 * run_mean(ch) + 0.1 * m;
      ref[2 * ch + 1] = 0.9 * run_var(ch) + 0.1 * v / (N - 1);
      gm[2 * ch] = rm[ch];
      gm[2 * ch + 1] = rv[ch];
    }
    fails += expect_close("batchnorm running statistics", gm, ref, 2 * (size_t)c->C, 1e-6, 1e-5);
  }
  dml_tape_need_grad(&t, y);
  for (size_t k = 0; k < no; k++) y->grad[k] = (float)cw[k];
  dml_tape_backward(&t);
  /* float64 finite differences for every input */
  const double h = 1e-6;
  for (int i = 0; i < nin_used; i++) {
    double *fd = malloc(nin[i] * sizeof *fd), *an = malloc(nin[i] * sizeof *an);
    for (size_t k = 0; k < nin[i]; k++) {
      double keep = in[i][k];
      in[i][k] = keep + h;
      double fp = loss64(c, in, cw, y64);
      in[i][k] = keep - h;
      double fm = loss64(c, in, cw, y64);
      in[i][k] = keep;
      fd[k] = (fp - fm) / (2 * h);
      an[k] = ps.p[i].t.grad[k];
    }
    snprintf(name, sizeof name, "%s d/d%s (float32 analytic vs float64 FD)", c->name, ps.p[i].name);
    fails += expect_close(name, an, fd, nin[i], 1e-5, 1e-4);
    free(fd);
    free(an);
  }
  free(got);
  dml_tape_free(&t);
  dml_params_free(&ps);
  for (int i = 0; i < 3; i++) free(in[i]);
  free(cw);
  free(y64);
  free(rm);
  free(rv);
  return fails;
}

/* conv forward + backward at a realistic shape with 1 and then 2 threads: bitwise equal outputs? And `+=` into
 * existing gradients (with a bias gradient when `bias`: the 1×1 shape without it runs as NCHW matmuls) */
static int thread_check(struct dml_backend *be, struct dml_conv_shape s, int bias, const char *tag) {
  size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.KH * s.KW, ny = (size_t)s.B * s.OC * s.OH * s.OW;
  const int OC = s.OC;
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4), *res[2][3];
  struct dml_rng r = dml_rng_init(7, DML_RNG_TEST, 99, 0);
  for (size_t i = 0; i < nx; i++) x[i] = 2 * dml_rng_uniformf(&r) - 1;
  for (size_t i = 0; i < nw; i++) w[i] = 2 * dml_rng_uniformf(&r) - 1;
  for (size_t i = 0; i < ny; i++) dy[i] = 2 * dml_rng_uniformf(&r) - 1;
  int nt_keep = omp_get_max_threads();
  for (int k = 0; k < 2; k++) {
    /* a fresh backend per thread count: oneDNN plans a primitive's thread split when it is created */
    omp_set_num_threads(k + 1);
    struct dml_backend *bk = dml_backend_cpu_new();
    res[k][0] = malloc(ny * 4);
    res[k][1] = calloc(nx, 4);
    res[k][2] = calloc(nw, 4);
    bk->fn.conv2d_forward(bk->ctx, res[k][0], x, w, NULL, &s);
    bk->fn.conv2d_backward(bk->ctx, res[k][1], res[k][2], NULL, dy, x, w, &s, 1);
    dml_backend_free(bk);
  }
  omp_set_num_threads(nt_keep);
  int fails = 0;
  char name[160];
  /* accumulation (dx_overwrite = 0) into an existing gradient equals overwrite + the old value; dw, db += */
  {
    float *acc = malloc(nx * 4), *dw = calloc(nw, 4), *db1 = calloc(OC, 4), *db2 = malloc(OC * 4);
    for (size_t i = 0; i < nx; i++) acc[i] = 1.0f + (float)(i % 5);
    for (int i = 0; i < OC; i++) db2[i] = 2.0f;
    float *dw2 = malloc(nw * 4);
    for (size_t i = 0; i < nw; i++) dw2[i] = 3.0f;
    be->fn.conv2d_backward(be->ctx, acc, dw2, bias ? db2 : NULL, dy, x, w, &s, 0);
    be->fn.conv2d_backward(be->ctx, NULL, dw, bias ? db1 : NULL, dy, x, w, &s, 0);
    const size_t nb = bias ? (size_t)OC : 0;
    double *g = malloc((nx + nw + nb) * sizeof *g), *r = malloc((nx + nw + nb) * sizeof *r);
    for (size_t i = 0; i < nx; i++) g[i] = acc[i], r[i] = res[0][1][i] + 1.0 + (double)(i % 5);
    for (size_t i = 0; i < nw; i++) g[nx + i] = dw2[i], r[nx + i] = dw[i] + 3.0;
    for (size_t i = 0; i < nb; i++) g[nx + nw + i] = db2[i], r[nx + nw + i] = db1[i] + 2.0;
    snprintf(name, sizeof name, "%s: backward accumulates into dx, dw%s", tag, bias ? ", db" : "");
    fails += expect_close(name, g, r, nx + nw + nb, 1e-5, 1e-6);
    free(acc), free(dw), free(db1), free(db2), free(dw2), free(g), free(r);
  }
  snprintf(name, sizeof name, "%s: forward bitwise equal with 1 and 2 threads", tag);
  fails += expect_true(name, !memcmp(res[0][0], res[1][0], ny * 4));
  snprintf(name, sizeof name, "%s: backward-data bitwise equal with 1 and 2 threads", tag);
  fails += expect_true(name, !memcmp(res[0][1], res[1][1], nx * 4));
  snprintf(name, sizeof name, "%s: backward-weights bitwise equal with 1 and 2 threads", tag);
  fails += expect_true(name, !memcmp(res[0][2], res[1][2], nw * 4));
  for (int k = 0; k < 2; k++)
    for (int j = 0; j < 3; j++) free(res[k][j]);
  free(x);
  free(w);
  free(dy);
  return fails;
}

/* dml_fill_normal (parallel Kaiming init) = the sequential draws sd * dml_rng_normal, bitwise, on 1 and 2 threads */
static int init_check(void) {
  size_t n = 300001;
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
  struct dml_rng g = dml_rng_init(5, DML_RNG_INIT, 3, 0), seq = g;
  double sd = 0.0417;
  for (size_t k = 0; k < n; k++) a[k] = (float)(sd * dml_rng_normal(&seq));
  int fails = 0, threads = omp_get_max_threads();
  for (int t = 1; t <= 2; t++) {
    omp_set_num_threads(t);
    memset(b, 0, n * sizeof *b);
    dml_fill_normal(b, n, sd, &g);
    char name[96];
    snprintf(name, sizeof name, "dml_fill_normal on %d thread(s) = sequential draws, bitwise", t);
    fails += expect_true(name, memcmp(a, b, n * sizeof *a) == 0);
  }
  omp_set_num_threads(threads);
  free(a);
  free(b);
  return fails;
}

int main(void) {
  struct dml_backend *be = dml_backend_cpu_new();
  const struct cfg cases[] = {
    {OP_CONV, "conv2d 3x3/2 pad 1 + bias", 2, 3, 7, 6, 4, 3, 2, 1, 1, 0},
    {OP_CONV, "conv2d 1x1/1", 2, 5, 4, 4, 6, 1, 1, 0, 0, 0},
    /* fp32 1×1 stride 1 as NCHW matmuls (kernels/cpu/conv.c f32_mm_rule): 14×14 all three passes, 9×8 forward and
     * backward data only (backward weights on the primitive), with a bias none (the primitive) */
    {OP_CONV, "conv2d 1x1/1 @14x14 (matmuls)", 2, 5, 14, 14, 6, 1, 1, 0, 0, 0},
    {OP_CONV, "conv2d 1x1/1 @9x8 (fwd, dx matmuls)", 2, 5, 9, 8, 6, 1, 1, 0, 0, 0},
    {OP_CONV, "conv2d 1x1/1 @14x14 + bias", 2, 5, 14, 14, 6, 1, 1, 0, 1, 0},
    {OP_CONV, "conv2d 7x7/2 pad 3", 1, 3, 11, 10, 4, 7, 2, 3, 0, 0},
    {OP_CONV, "conv2d 3x3/1 pad 1 (16 channels)", 2, 16, 5, 5, 16, 3, 1, 1, 0, 0},
    {OP_BN_TRAIN, "batchnorm training", 3, 4, 2, 3, 0, 1, 1, 0, 0, 0},
    {OP_BN_EVAL, "batchnorm inference (frozen)", 3, 4, 2, 3, 0, 1, 1, 0, 0, 0},
    {OP_BN_TRAIN_RELU, "batchnorm training + relu", 3, 4, 2, 3, 0, 1, 1, 0, 0, 0},
    {OP_BN_EVAL_RELU, "batchnorm inference + relu", 3, 4, 2, 3, 0, 1, 1, 0, 0, 0},
    {OP_MAXPOOL, "maxpool 3/2 pad 1", 2, 3, 7, 8, 0, 3, 2, 1, 0, 0},
    {OP_AVGPOOL, "avgpool 3/2 pad 1", 2, 3, 7, 8, 0, 3, 2, 1, 0, 0},
    {OP_MAXPOOL, "maxpool 3/2 ceil_mode", 2, 3, 8, 9, 0, 3, 2, 0, 0, 1},
    {OP_AVGPOOL, "avgpool 3/2 pad 1 ceil_mode", 2, 3, 8, 6, 0, 3, 2, 1, 0, 1},
    {OP_AVGPOOL, "avgpool 3/1 pad 1 ceil_mode", 2, 3, 5, 6, 0, 3, 1, 1, 0, 1},
    {OP_CONCAT, "concat", 2, 3, 4, 5, 2, 1, 1, 0, 0, 0},
    {OP_DROPOUT, "dropout p=0.3", 2, 3, 4, 5, 0, 1, 1, 0, 0, 0},
    {OP_GAVG, "global average pool", 2, 5, 3, 4, 0, 1, 1, 0, 0, 0},
    {OP_GMAX, "global max pool", 2, 5, 3, 4, 0, 1, 1, 0, 0, 0},
    {OP_ADD, "add", 2, 3, 4, 5, 0, 1, 1, 0, 0, 0},
    {OP_ADD_RELU, "add + relu", 2, 3, 4, 5, 0, 1, 1, 0, 0, 0},
  };
  int fails = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) fails += run_case(be, &cases[i], 1234 + i);
  const struct dml_conv_shape s3 = {.B = 16, .C = 32, .H = 16, .W = 16, .OC = 64, .KH = 3, .KW = 3, .SH = 1, .SW = 1,
                                    .PH = 1, .PW = 1, .OH = 16, .OW = 16},
                               s1 = {.B = 16, .C = 48, .H = 16, .W = 16, .OC = 80, .KH = 1, .KW = 1, .SH = 1, .SW = 1,
                                     .OH = 16, .OW = 16};
  fails += thread_check(be, s3, 1, "conv 3x3");
  fails += thread_check(be, s1, 0, "conv 1x1 (matmuls)");
  fails += thread_check(be, s1, 1, "conv 1x1 + bias");
  fails += init_check();
  dml_backend_free(be);
  return test_report("engine_ops", fails);
}
