/* bench_engine — images/s of one training step (forward + backward + SGD or Adam update) of a network on the CPU
 * backend, at a given batch size and image size and precision; threads from OMP_NUM_THREADS. Prints one line
 * "arch B S img_per_s ms_per_step arena_peak_MiB A peak_rss_MiB R isa I precision P" for
 * bench/engine/compare.py, which runs PyTorch on the same configurations. --infer times an inference forward
 * (the embedding of dml-embed) instead of a training step.
 *
 *   dml-bench-engine --arch resnet50_frozen_normalize --bs 32 --size 224 --precision bf16 --optim adam --profile
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/flags.h"
#include "common/rng.h"
#include "train/nn/nn.h"
#include "train/train.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* --cpu_clock: the per-op timers read the process's CPU time (all threads) instead of the wall clock; with
 * OMP_NUM_THREADS=1 that is the work of an op even when other processes share the cores (wall time then mostly
 * measures the scheduler) */
static int cpu_clock;
static double op_clock(void) {
  if (!cpu_clock) return now();
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* the smaller of the fastest step so far (0: none yet) and this one */
static double step_best(double best, double dt) { return best == 0 || dt < best ? dt : best; }

/* --profile: the backend's op table wrapped with timers (seconds per op kind, summed over the timed steps) */
enum { P_CONV_F, P_CONV_B, P_BN_F, P_BN_B, P_POOL_F, P_POOL_B, P_RELU_F, P_RELU_B, P_ADD_F, P_ADD_B, P_GP_F, P_GP_B,
       P_CVT, P_LIN_F, P_LIN_B, P_ZERO, P_OPT, P_N };
static const char *pnames[P_N] = {"conv fwd", "conv bwd", "bn fwd", "bn bwd", "pool fwd", "pool bwd", "relu fwd",
                                  "relu bwd", "add fwd", "add bwd", "gpool fwd", "gpool bwd", "convert", "head fwd",
                                  "head bwd", "zero", "optimizer"};
static double prof[P_N], conv_flop[2]; /* multiply-adds ×2 of the timed convolutions: forward, backward */
static double conv_flops(const struct dml_conv_shape *s) {
  return 2.0 * s->B * s->OC * s->OH * s->OW * (double)s->C * s->KH * s->KW;
}
static struct dml_backend_fn orig;
#define TIMED(k, call)      \
  do {                      \
    double t0_ = op_clock();     \
    call;                        \
    prof[k] += op_clock() - t0_; \
  } while (0)
static void w_conv_f(void *c, void *y, const void *x, const float *w, const float *b, const struct dml_conv_shape *s) {
  conv_flop[0] += conv_flops(s);
  TIMED(P_CONV_F, orig.conv2d_forward(c, y, x, w, b, s));
}
static void w_conv_b(void *c, void *dx, float *dw, float *db, const void *dy, const void *x, const float *w,
                     const struct dml_conv_shape *s, int ow) {
  conv_flop[1] += conv_flops(s) * (dx ? 2 : 1);
  TIMED(P_CONV_B, orig.conv2d_backward(c, dx, dw, db, dy, x, w, s, ow));
}
static void w_cbn_f(void *c, void *y, const void *x, const float *w, const float *g, const float *b, const float *m,
                    const float *v, float eps, const struct dml_conv_shape *s, int relu) {
  conv_flop[0] += conv_flops(s);
  TIMED(P_CONV_F, orig.conv2d_bn_forward(c, y, x, w, g, b, m, v, eps, s, relu));
}
static void w_cbn_b(void *c, void *dx, float *dw, float *dg, float *db, void *dy, const void *x, const void *y,
                    const float *w, const float *g, const float *m, const float *v, float eps,
                    const struct dml_conv_shape *s, int relu, int ow) {
  conv_flop[1] += conv_flops(s) * (dx ? 2 : 1);
  TIMED(P_CONV_B, orig.conv2d_bn_backward(c, dx, dw, dg, db, dy, x, y, w, g, m, v, eps, s, relu, ow));
}
static void w_bn_f(void *c, void *y, float *m, float *is, float *rm, float *rv, const void *x, const float *g,
                   const float *b, int B, int C, int HW, float eps, float mom, int tr, int r, int p) {
  TIMED(P_BN_F, orig.batchnorm_forward(c, y, m, is, rm, rv, x, g, b, B, C, HW, eps, mom, tr, r, p));
}
static void w_bn_b(void *c, void *dx, float *dg, float *db, const void *dy, const void *x, const void *y,
                   const float *m, const float *is, const float *g, int B, int C, int HW, int tr, int r, int ow, int p) {
  TIMED(P_BN_B, orig.batchnorm_backward(c, dx, dg, db, dy, x, y, m, is, g, B, C, HW, tr, r, ow, p));
}
static void w_pool_f(void *c, void *y, int32_t *i, const void *x, const struct dml_conv_shape *s, int k) {
  TIMED(P_POOL_F, orig.pool2d_forward(c, y, i, x, s, k));
}
static void w_pool_b(void *c, void *dx, const void *dy, const int32_t *i, const struct dml_conv_shape *s, int k) {
  TIMED(P_POOL_B, orig.pool2d_backward(c, dx, dy, i, s, k));
}
static void w_relu_f(void *c, float *y, const float *x, size_t n) { TIMED(P_RELU_F, orig.relu_forward(c, y, x, n)); }
static void w_relu_b(void *c, float *dx, const float *dy, const float *y, size_t n) {
  TIMED(P_RELU_B, orig.relu_backward(c, dx, dy, y, n));
}
static void w_add_f(void *c, void *y, const void *a, const void *b, size_t n, int r, int p) {
  TIMED(P_ADD_F, orig.add_forward(c, y, a, b, n, r, p));
}
static void w_add_b(void *c, void *da, void *db, const void *dy, const void *y, size_t n, int r, int ow, int p) {
  TIMED(P_ADD_B, orig.add_backward(c, da, db, dy, y, n, r, ow, p));
}
static void w_gp_f(void *c, float *y, int32_t *i, const void *x, int B, int C, int HW, int k, int p) {
  TIMED(P_GP_F, orig.global_pool_forward(c, y, i, x, B, C, HW, k, p));
}
static void w_gp_b(void *c, void *dx, const float *dy, const int32_t *i, int B, int C, int HW, int k, int p) {
  TIMED(P_GP_B, orig.global_pool_backward(c, dx, dy, i, B, C, HW, k, p));
}
static void w_cvt(void *c, void *y, int yp, const void *x, int xp, int B, int C, int HW) {
  TIMED(P_CVT, orig.act_convert(c, y, yp, x, xp, B, C, HW));
}
static void w_lin_f(void *c, float *y, const float *x, const float *w, const float *b, int B, int C, int OC) {
  TIMED(P_LIN_F, orig.linear_forward(c, y, x, w, b, B, C, OC));
}
static void w_lin_b(void *c, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int B,
                    int C, int OC) {
  TIMED(P_LIN_B, orig.linear_backward(c, dx, dw, db, dy, x, w, B, C, OC));
}
static void w_zero(void *c, void *p, size_t n) { TIMED(P_ZERO, orig.zero(c, p, n)); }

static void wrap(struct dml_backend *be) {
  orig = be->fn;
  be->fn.conv2d_forward = w_conv_f, be->fn.conv2d_backward = w_conv_b;
  if (be->fn.conv2d_bn_forward) be->fn.conv2d_bn_forward = w_cbn_f;
  if (be->fn.conv2d_bn_backward) be->fn.conv2d_bn_backward = w_cbn_b;
  be->fn.batchnorm_forward = w_bn_f, be->fn.batchnorm_backward = w_bn_b;
  be->fn.pool2d_forward = w_pool_f, be->fn.pool2d_backward = w_pool_b;
  be->fn.relu_forward = w_relu_f, be->fn.relu_backward = w_relu_b;
  be->fn.add_forward = w_add_f, be->fn.add_backward = w_add_b;
  be->fn.global_pool_forward = w_gp_f, be->fn.global_pool_backward = w_gp_b;
  if (be->fn.act_convert) be->fn.act_convert = w_cvt;
  be->fn.linear_forward = w_lin_f, be->fn.linear_backward = w_lin_b;
  be->fn.zero = w_zero;
}

/* --lockstep: one line on stdin starts a step; its wall time goes to stdout at once */
static int lockstep_wait(void) {
  int ch;
  while ((ch = getchar()) != EOF && ch != '\n') {
  }
  return ch == '\n';
}
static void lockstep_done(int s, double seconds) {
  printf("step %d %.3f\n", s, seconds * 1e3);
  fflush(stdout);
}

int main(int argc, char **argv) {
  struct {
    char *arch, *precision, *optim;
    int bs, size, steps, warmup, embed_dim, profile, checksum, conv_bwd_threads, infer, cpu_clock, lockstep;
  } o;
  const struct dml_flag flags[] = {
    {"arch", DML_FLAG_STR, &o.arch, "resnet50", "network"},
    {"bs", DML_FLAG_INT, &o.bs, "64", "batch size"},
    {"size", DML_FLAG_INT, &o.size, "64", "image side (square RGB)"},
    {"steps", DML_FLAG_INT, &o.steps, "5", "timed steps"},
    {"warmup", DML_FLAG_INT, &o.warmup, "1", "untimed steps first (primitive creation)"},
    {"embed_dim", DML_FLAG_INT, &o.embed_dim, "128", "embedding size"},
    {"profile", DML_FLAG_BOOL, &o.profile, "0", "print the time per op kind (stderr)"},
    {"precision", DML_FLAG_STR, &o.precision, "fp32", "activations of the conv layers: fp32, bf16"},
    {"optim", DML_FLAG_STR, &o.optim, "sgd", "update: sgd (lr 1e-3, as the PyTorch side) or adam (lr 1e-5, the reference)"},
    {"conv_bwd_threads", DML_FLAG_INT, &o.conv_bwd_threads, "2", "oneDNN's thread plan of conv weight gradients"},
    {"cpu_clock", DML_FLAG_BOOL, &o.cpu_clock, "0", "--profile in CPU time of the process (compare ops on a loaded "
                                                      "machine with OMP_NUM_THREADS=1)"},
    {"infer", DML_FLAG_BOOL, &o.infer, "0", "time an inference forward (no gradients, BN on running statistics)"},
    {"checksum", DML_FLAG_BOOL, &o.checksum, "0", "print an FNV-1a hash of the parameters and gradients after the "
                                                   "steps (compare runs with different OMP_NUM_THREADS)"},
    {"lockstep", DML_FLAG_BOOL, &o.lockstep, "0", "each step waits for a line on stdin and prints 'step S MS' "
                                                   "(compare.py --lockstep interleaves processes step by step)"},
  };
  struct dml_cli cli = {.prog = "dml-bench-engine", .summary = "time training steps of a network on the CPU",
                        .flags = flags, .n_flags = sizeof flags / sizeof *flags};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  if (o.bs < 1 || o.size < 32 || o.steps < 1 || o.warmup < 0)
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "need --bs >= 1, --size >= 32, --steps >= 1, --warmup >= 0"));
  int prec = dml_prec_parse(o.precision);
  if (prec < 0 || (strcmp(o.optim, "sgd") && strcmp(o.optim, "adam")))
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "need --precision fp32|bf16 and --optim sgd|adam"));
  struct dml_backend *be = dml_backend_cpu_new();
  if (prec == DML_BF16 && !dml_backend_supports(be, DML_OP_BF16))
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--precision bf16: no bf16 convolution on this CPU"));
  dml_backend_configure(be, &(struct dml_backend_config){.conv_bwd_threads = o.conv_bwd_threads});
  cpu_clock = o.cpu_clock;
  if (o.profile) wrap(be);
  struct dml_params ps;
  dml_params_init(&ps, be);
  struct dml_network net;
  int in = 3 * o.size * o.size;
  dml_exit_on_error(cli.prog, dml_network_init(&net, &ps, o.arch, in, o.embed_dim));
  dml_params_alloc(&ps);
  dml_network_reset_parameters(&net, 0);
  float *x = malloc((size_t)o.bs * in * sizeof *x), *c = malloc((size_t)o.bs * o.embed_dim * sizeof *c);
  struct dml_rng r = dml_rng_init(1, DML_RNG_TEST, 0, 0);
  for (size_t i = 0; i < (size_t)o.bs * in; i++) x[i] = 2 * dml_rng_uniformf(&r) - 1;
  for (int i = 0; i < o.bs * o.embed_dim; i++) c[i] = (2 * dml_rng_uniformf(&r) - 1) / o.bs;
  struct dml_tape t;
  dml_tape_init(&t, be, dml_network_arena_bytes_for(&net, o.bs, prec, !o.infer));
  t.prec = prec;
  t.record = !o.infer;
  float *am = calloc(ps.total + 1, sizeof *am), *av = calloc(ps.total + 1, sizeof *av);
  double *lr = malloc((ps.n + 1) * sizeof *lr);
  long *steps = calloc(ps.n + 1, sizeof *steps);
  for (int i = 0; i < ps.n; i++) lr[i] = 1e-5;
  const struct dml_adam adam = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  double t0 = 0, c0 = 0, best = 0; /* best: the fastest timed step (wall), robust to load spikes */
  for (int s = 0; s < o.warmup + o.steps; s++) {
    if (o.lockstep && !lockstep_wait())
      dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "--lockstep: standard input closed before step %d", s + 1));
    double ts = now();
    if (s == o.warmup) {
      t0 = now();
      c0 = op_clock();
      memset(prof, 0, sizeof prof);
      memset(conv_flop, 0, sizeof conv_flop);
    }
    dml_tape_reset(&t);
    dml_params_zero_grad(&ps);
    struct dml_tensor *xin = dml_tape_input(&t, x, o.bs, in);
    struct dml_tensor *z = dml_network_forward(&net, &t, xin);
    if (o.infer) {
      if (s >= o.warmup) best = step_best(best, now() - ts);
      if (o.lockstep) lockstep_done(s, now() - ts);
      continue;
    }
    dml_tape_need_grad(&t, z);
    memcpy(z->grad, c, (size_t)o.bs * o.embed_dim * sizeof *c);
    dml_tape_backward(&t);
    double t1 = op_clock();
    if (!strcmp(o.optim, "adam")) { /* the reference: Adam, lr 1e-5, weight decay 4e-4 */
      dml_adam_step(&adam, &ps, am, av, 4e-4, lr, NULL, steps);
    } else { /* SGD with momentum-free update, as the PyTorch side (torch.optim.SGD(lr=1e-3)) */
      float *restrict v = ps.values;
      const float *restrict g = ps.grads;
#pragma omp parallel for schedule(static)
      for (size_t i = 0; i < ps.total; i++) v[i] -= 1e-3f * g[i];
    }
    prof[P_OPT] += op_clock() - t1;
    if (s >= o.warmup) best = step_best(best, now() - ts);
    if (o.lockstep) lockstep_done(s, now() - ts);
  }
  double dt = (now() - t0) / o.steps, dc = (op_clock() - c0) / o.steps;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const char *isa = dml_backend_conv_isa(be, prec);
  printf("%s %d %d %.2f %.1f arena_peak_MiB %.0f peak_rss_MiB %.0f isa %s precision %s best_step_ms %.1f\n", o.arch,
         o.bs, o.size, o.bs / dt, dt * 1e3, t.arena.peak / 1048576.0, ru.ru_maxrss / 1024.0, isa ? isa : "none",
         o.precision, best * 1e3);
  if (o.checksum) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *b[2] = {(const unsigned char *)ps.values, (const unsigned char *)ps.grads};
    for (int k = 0; k < 2; k++)
      for (size_t i = 0; i < ps.total * sizeof(float); i++) h = (h ^ b[k][i]) * 1099511628211ull;
    fprintf(stderr, "checksum %016llx\n", (unsigned long long)h);
    if (getenv("DML_CHECKSUM_EACH")) /* one line per parameter gradient, to find the op that differs */
      for (int i = 0; i < ps.n; i++) {
        uint64_t hp = 1469598103934665603ull;
        const unsigned char *g = (const unsigned char *)ps.p[i].t.grad;
        for (size_t k = 0; k < ps.p[i].n * sizeof(float); k++) hp = (hp ^ g[k]) * 1099511628211ull;
        fprintf(stderr, "  %-40s %016llx\n", ps.p[i].name, (unsigned long long)hp);
      }
  }
  if (o.profile) {
    double sum = 0;
    for (int k = 0; k < P_N; k++) {
      fprintf(stderr, "  %-9s %8.1f ms/step\n", pnames[k], prof[k] * 1e3 / o.steps);
      sum += prof[k];
    }
    fprintf(stderr, "  %-9s %8.1f ms/step\n", "other", dc * 1e3 - sum * 1e3 / o.steps);
    if (cpu_clock) fprintf(stderr, "  (CPU time of the process: %.1f ms/step)\n", dc * 1e3);
    for (int k = 0; k < 2; k++)
      if (prof[k] > 0)
        fprintf(stderr, "  conv %s: %.0f GFLOP/step at %.2f TFLOP/s\n", k ? "bwd" : "fwd", conv_flop[k] / o.steps / 1e9,
                conv_flop[k] / prof[k] / 1e12);
  }
  free(am), free(av), free(lr), free(steps);
  dml_tape_free(&t);
  dml_network_free(&net);
  dml_params_free(&ps);
  dml_backend_free(be);
  free(x);
  free(c);
  dml_flags_free(&cli);
  return 0;
}
