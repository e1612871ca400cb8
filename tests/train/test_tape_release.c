/* test_tape_release — the step arena's reuse of dead tensors (train/nn/tape.c, dml_tape_backward).
 *   1. The allocator on a hand-worked sequence: best-fit holes (lowest among equals), merging with both
 *      neighbours, the top coming down, and a counting arena handing out the same offsets as a real one.
 *   2. Numbers do not change: three Adam steps of small conv nets of every family (training-mode and frozen batch
 *      norm, concat, max/average pooling, dropout, the L2-normalised head) and the mlp, fp32 and bf16, then an
 *      inference forward, give bitwise the same losses, embeddings, weights and batch-norm statistics with
 *      release ($DML_TAPE_KEEP unset) and without (DML_TAPE_KEEP=1, the bump arena of before); in both modes the
 *      arena sized by the counting dry run is exactly the real peak, and with release the peak is lower.
 *   3. The counted arena of a full-width resnet50_frozen_normalize step at 224² drops against the no-release
 *      count (fp32 and bf16) and stays above what the recorded forward alone holds; its inference forward
 *      (dml-embed) drops too (dml_tape_done frees each tensor after its last use there). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "train/nn/nn.h"
#include "train/train.h"

// ---------------------------------------------------------------------------------------------- 1. allocator

static size_t off_of(const struct dml_arena *a, const void *p) {
  return a->base ? (size_t)((const char *)p - a->base) : (size_t)((uintptr_t)p - 64);
}

/* the same sequence on a real and a counting arena; offsets worked out by hand (blocks round up to 64 bytes) */
static int allocator_case(struct dml_backend *be) {
  int fails = 0;
  for (int counting = 0; counting < 2; counting++) {
    struct dml_arena a;
    dml_arena_init(&a, counting ? NULL : be, counting ? SIZE_MAX : 4096);
    char what[160];
    const char *kind = counting ? "counting" : "real";
    void *p0 = dml_arena_alloc(&a, 100);  /* [0, 128) */
    void *p1 = dml_arena_alloc(&a, 64);   /* [128, 192) */
    void *p2 = dml_arena_alloc(&a, 200);  /* [192, 448) */
    void *p3 = dml_arena_alloc(&a, 1);    /* [448, 512) */
    void *p4 = dml_arena_alloc(&a, 300);  /* [512, 832) */
    size_t got[16], ref[16];
    int n = 0;
    got[n] = off_of(&a, p0), ref[n++] = 0;
    got[n] = off_of(&a, p1), ref[n++] = 128;
    got[n] = off_of(&a, p2), ref[n++] = 192;
    got[n] = off_of(&a, p3), ref[n++] = 448;
    got[n] = off_of(&a, p4), ref[n++] = 512;
    dml_arena_release(&a, p1, 64);  /* hole [128, 192) */
    dml_arena_release(&a, p3, 1);   /* hole [448, 512) */
    void *q0 = dml_arena_alloc(&a, 10); /* two 64-byte holes fit exactly: the lower one */
    got[n] = off_of(&a, q0), ref[n++] = 128;
    void *q1 = dml_arena_alloc(&a, 65); /* 128 bytes: no hole fits → the top */
    got[n] = off_of(&a, q1), ref[n++] = 832;
    dml_arena_release(&a, p2, 200); /* [192, 448) merges with the hole above: [192, 512) */
    void *q2 = dml_arena_alloc(&a, 300); /* 320 fits in the 320-byte hole exactly */
    got[n] = off_of(&a, q2), ref[n++] = 192;
    got[n] = a.used, ref[n++] = 960;
    got[n] = (size_t)a.nholes, ref[n++] = 0;
    dml_arena_release(&a, q1, 65);  /* the top block: the top comes down to 832 */
    got[n] = a.used, ref[n++] = 832;
    dml_arena_release(&a, q2, 300); /* hole [192, 512) */
    dml_arena_release(&a, p0, 100); /* hole [0, 128) */
    dml_arena_release(&a, q0, 10);  /* [0, 128) + [128, 192) + [192, 512): one hole [0, 512) */
    got[n] = (size_t)a.nholes, ref[n++] = 1;
    got[n] = a.holes[0].off + a.holes[0].len, ref[n++] = 512;
    dml_arena_release(&a, p4, 300); /* [512, 832) ends at the top: everything is free */
    got[n] = a.used, ref[n++] = 0;
    got[n] = a.live, ref[n++] = 0;
    got[n] = a.peak, ref[n++] = 960;
    double g[16], r[16];
    for (int i = 0; i < n; i++) g[i] = (double)got[i], r[i] = (double)ref[i];
    snprintf(what, sizeof what, "%s arena: offsets, top, holes and peak of the hand-worked sequence", kind);
    fails += expect_close(what, g, r, (size_t)n, 0, 0);
    dml_arena_free(&a);
  }
  return fails;
}

// ---------------------------------------------------------------------------------------------- 2. bitwise

enum { NB = 4, S = 64, D = 16, STEPS = 3 };

struct result {
  double loss[STEPS];
  float *state; /* embedding of the last step, parameters, buffers */
  size_t n;
  size_t peak, cap;
};

static void set_keep(int keep) {
  if (keep) setenv("DML_TAPE_KEEP", "1", 1);
  else unsetenv("DML_TAPE_KEEP");
}

/* STEPS Adam steps of loss = Σ c ⊙ emb (c fixed, the batch redrawn per step) on a fresh backend */
static struct result train(const char *arch, int prec, int keep) {
  set_keep(keep);
  struct result r = {0};
  struct dml_backend *be = dml_backend_cpu_new();
  struct dml_params ps;
  dml_params_init(&ps, be);
  struct dml_network net;
  DML_ASSERT(dml_network_init(&net, &ps, arch, 3 * S * S, D) == DML_OK);
  dml_params_alloc(&ps);
  dml_network_reset_parameters(&net, 5);
  size_t bytes = dml_network_arena_bytes_for(&net, NB, prec, 1);
  struct dml_tape t;
  dml_tape_init(&t, be, bytes);
  t.prec = prec;
  float *x = malloc((size_t)NB * 3 * S * S * sizeof *x), *m = calloc(ps.total, sizeof *m),
        *v = calloc(ps.total, sizeof *v);
  double *lr = malloc((size_t)ps.n * sizeof *lr);
  long *steps = calloc((size_t)ps.n, sizeof *steps);
  for (int i = 0; i < ps.n; i++) lr[i] = 1e-3;
  struct dml_adam adam = {0.9, 0.999, 1e-8};
  struct dml_tensor *z = NULL;
  for (int s = 0; s < STEPS; s++) {
    for (int i = 0; i < NB * 3 * S * S; i++) x[i] = (float)sin(0.37 * i + s) + 0.1f * (float)((i + s) % 5);
    dml_tape_reset(&t);
    t.seed = 3;
    t.step = (uint64_t)s;
    dml_params_zero_grad(&ps);
    z = dml_network_forward(&net, &t, dml_tape_input(&t, x, NB, 3 * S * S));
    double loss = 0;
    dml_tape_need_grad(&t, z);
    for (int i = 0; i < NB * D; i++) {
      float c = (float)cos(0.7 * i);
      loss += (double)c * z->data[i];
      z->grad[i] = c;
    }
    dml_tape_backward(&t);
    r.loss[s] = loss;
    dml_adam_step(&adam, &ps, m, v, 1e-4, lr, NULL, steps);
  }
  r.n = 2 * (size_t)NB * D + ps.total + net.buffers->total;
  r.state = malloc(r.n * sizeof *r.state);
  memcpy(r.state, z->data, (size_t)NB * D * sizeof *r.state);
  memcpy(r.state + NB * D, ps.values, ps.total * sizeof *r.state);
  memcpy(r.state + NB * D + ps.total, net.buffers->values, net.buffers->total * sizeof *r.state);
  /* and an inference forward (evaluation, dml-embed), on the same tape as the trainer does */
  dml_tape_reset(&t);
  t.record = 0;
  z = dml_network_forward(&net, &t, dml_tape_input(&t, x, NB, 3 * S * S));
  memcpy(r.state + NB * D + ps.total + net.buffers->total, z->data, (size_t)NB * D * sizeof *r.state);
  t.record = 1;
  r.peak = t.arena.peak;
  r.cap = t.arena.cap;
  dml_tape_free(&t);
  dml_network_free(&net);
  dml_params_free(&ps);
  dml_backend_free(be);
  free(x), free(m), free(v), free(lr), free(steps);
  set_keep(0);
  return r;
}

static int bitwise_case(const char *arch, int prec) {
  struct result k = train(arch, prec, 1), r = train(arch, prec, 0);
  size_t diff = 0;
  for (size_t i = 0; i < r.n; i++) diff += memcmp(&k.state[i], &r.state[i], sizeof *r.state) != 0;
  int ldiff = memcmp(k.loss, r.loss, sizeof k.loss) != 0;
  char what[200];
  int fails = 0;
  snprintf(what, sizeof what, "%s %s: %d steps and an inference forward bitwise equal with and without release (losses %s, %zu of %zu values "
           "differ)", arch, dml_prec_name(prec), STEPS, ldiff ? "differ" : "equal", diff, r.n);
  fails += expect_true(what, k.n == r.n && diff == 0 && !ldiff && isfinite(r.loss[STEPS - 1]));
  /* the mlp's peak is its forward (the input and, in bf16, the rounded fc1 weight copy): nothing to gain there */
  int conv = strncmp(arch, "mlp", 3) != 0;
  snprintf(what, sizeof what, "%s %s: counted arena = real peak (keep %zu, release %zu bytes), release %s", arch,
           dml_prec_name(prec), k.peak, r.peak, conv ? "lower" : "not higher");
  fails += expect_true(what, k.peak + 4096 == k.cap && r.peak + 4096 == r.cap && (conv ? r.peak < k.peak : r.peak <= k.peak));
  printf("%s %s: arena peak %.2f MiB with release, %.2f MiB without\n", arch, dml_prec_name(prec), r.peak / 1048576.0,
         k.peak / 1048576.0);
  free(k.state);
  free(r.state);
  return fails;
}

// ---------------------------------------------------------------------------------------------- 3. resnet50 count

static size_t forward_count(const struct dml_network *net, int B, int prec) {
  struct dml_tape t;
  dml_tape_init_counting(&t, net->ps->be, prec);
  t.seed = 1;
  dml_network_forward((struct dml_network *)net, &t, dml_tape_input(&t, NULL, B, net->in_dim));
  size_t peak = t.arena.peak;
  dml_tape_free(&t);
  return peak;
}

static int resnet50_count(struct dml_backend *be) {
  int fails = 0;
  struct dml_params ps;
  dml_params_init(&ps, be);
  struct dml_network net;
  DML_ASSERT(dml_network_init(&net, &ps, "resnet50_frozen_normalize", 3 * 224 * 224, 128) == DML_OK);
  dml_params_alloc(&ps);
  for (int prec = DML_FP32; prec <= DML_BF16; prec++) {
    const int B = 16;
    set_keep(1);
    size_t keep = dml_network_arena_bytes_for(&net, B, prec, 1);
    set_keep(0);
    size_t rel = dml_network_arena_bytes_for(&net, B, prec, 1), fwd = forward_count(&net, B, prec);
    char what[240];
    snprintf(what, sizeof what, "resnet50_frozen_normalize 224² batch %d %s: counted arena %.1f MiB with release < "
             "%.1f MiB without, >= the recorded forward's %.1f MiB", B, dml_prec_name(prec), rel / 1048576.0,
             keep / 1048576.0, fwd / 1048576.0);
    fails += expect_true(what, rel < keep && rel >= fwd);
    printf("%s\n", what);
    set_keep(1);
    size_t ikeep = dml_network_arena_bytes_for(&net, B, prec, 0);
    set_keep(0);
    size_t irel = dml_network_arena_bytes_for(&net, B, prec, 0);
    snprintf(what, sizeof what, "resnet50_frozen_normalize 224² batch %d %s inference: counted arena %.1f MiB with "
             "dml_tape_done < %.1f MiB without", B, dml_prec_name(prec), irel / 1048576.0, ikeep / 1048576.0);
    fails += expect_true(what, irel < ikeep);
    printf("%s\n", what);
  }
  dml_network_free(&net);
  dml_params_free(&ps);
  return fails;
}

int main(void) {
  struct dml_backend *be = dml_backend_cpu_new();
  int fails = allocator_case(be);
  fails += resnet50_count(be);
  const char *archs[] = {"mlp_normalize", "resnet18_w8", "resnet50_w4_frozen_normalize", "resnet18_w4_double",
                         "googlenet_w8", "bninception_w4_frozen_double", "densenet169_w2"};
  for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) fails += bitwise_case(archs[i], DML_FP32);
  for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) fails += bitwise_case(archs[i], DML_BF16);
  dml_backend_free(be);
  return test_report("train_tape_release", fails);
}
