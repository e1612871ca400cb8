/* bench_gpu — images/s of a network's forward + backward on a backend (CUDA by default), at a given batch and
 * image size: the dml side of bench/gpu/device-check.sh, which runs PyTorch on the same configurations in the same
 * call (bench/gpu/torch_gpu.py). The step is forward + backward with a fixed upstream gradient on the embeddings
 * and no optimizer update on either side (the update of ResNet-50's 25 M parameters is ~0.1 ms of an H200's
 * memory bandwidth; dml's trainer still runs Adam on the host, see bench/gpu/README.md). Every step ends with a
 * device-to-host copy of the embeddings, which synchronises the stream, so wall time is device time.
 * --checksum prints an FNV-1a hash of the gradients after the steps: two calls must print the same hash
 * (deterministic algorithms only).
 *
 *   dml-bench-gpu --arch resnet50_frozen_normalize --bs 112 --size 224 --steps 10 --warmup 3
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/flags.h"
#include "common/rng.h"
#include "train/nn/nn.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

int main(int argc, char **argv) {
  struct {
    char *arch, *backend;
    int bs, size, steps, warmup, embed_dim, checksum;
  } o;
  const struct dml_flag flags[] = {
    {"arch", DML_FLAG_STR, &o.arch, "resnet50_frozen_normalize", "network"},
    {"backend", DML_FLAG_STR, &o.backend, "cuda", "cuda, cpu or auto"},
    {"bs", DML_FLAG_INT, &o.bs, "112", "batch size"},
    {"size", DML_FLAG_INT, &o.size, "224", "image side (square RGB)"},
    {"steps", DML_FLAG_INT, &o.steps, "10", "timed steps"},
    {"warmup", DML_FLAG_INT, &o.warmup, "3", "untimed steps first (plan creation, workspace growth)"},
    {"embed_dim", DML_FLAG_INT, &o.embed_dim, "128", "embedding size"},
    {"checksum", DML_FLAG_BOOL, &o.checksum, "0", "print an FNV-1a hash of the gradients after the steps"},
  };
  struct dml_cli cli = {.prog = "dml-bench-gpu", .summary = "time forward + backward of a network on a backend",
                        .flags = flags, .n_flags = sizeof flags / sizeof *flags};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  if (o.bs < 1 || o.size < 32 || o.steps < 1 || o.warmup < 0)
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "need --bs >= 1, --size >= 32, --steps >= 1, --warmup >= 0"));
  struct dml_backend *be = dml_backend_select(o.backend, stderr);
  if (!be) dml_exit_on_error(cli.prog, DML_ERR_ARG);
  struct dml_params ps;
  dml_params_init(&ps, be);
  struct dml_network net;
  const int in = 3 * o.size * o.size, D = o.embed_dim;
  dml_exit_on_error(cli.prog, dml_network_init(&net, &ps, o.arch, in, D));
  dml_params_alloc(&ps);
  dml_network_reset_parameters(&net, 0);
  float *x = xmalloc((size_t)o.bs * in * sizeof *x), *c = xmalloc((size_t)o.bs * D * sizeof *c);
  float *emb = xmalloc((size_t)o.bs * D * sizeof *emb);
  struct dml_rng r = dml_rng_init(1, DML_RNG_TEST, 0, 0);
  for (size_t i = 0; i < (size_t)o.bs * in; i++) x[i] = 2 * dml_rng_uniformf(&r) - 1;
  for (int i = 0; i < o.bs * D; i++) c[i] = (2 * dml_rng_uniformf(&r) - 1) / o.bs;
  struct dml_tape t;
  dml_tape_init(&t, be, dml_network_arena_bytes(&net, o.bs));
  double t0 = now();
  for (int s = 0; s < o.warmup + o.steps; s++) {
    if (s == o.warmup) t0 = now();
    dml_tape_reset(&t);
    dml_params_zero_grad(&ps);
    struct dml_tensor *xin = dml_tape_input(&t, x, o.bs, in);
    struct dml_tensor *z = dml_network_forward(&net, &t, xin);
    dml_tape_need_grad(&t, z);
    be->fn.to_device(be->ctx, z->grad, c, (size_t)o.bs * D * sizeof *c);
    dml_tape_backward(&t);
    be->fn.to_host(be->ctx, emb, z->data, (size_t)o.bs * D * sizeof *emb); /* synchronises */
  }
  double dt = (now() - t0) / o.steps;
  printf("dml %s %s fp32 bs %d size %d img_per_s %.1f ms_per_step %.2f arena_peak_MiB %.0f\n", be->name, o.arch, o.bs,
         o.size, o.bs / dt, dt * 1e3, t.arena.peak / 1048576.0);
  if (o.checksum) {
    float *g = xmalloc(ps.total * sizeof *g);
    be->fn.to_host(be->ctx, g, ps.grads, ps.total * sizeof *g);
    uint64_t h = fnv1a(fnv1a(1469598103934665603ull, g, ps.total * sizeof *g), emb, (size_t)o.bs * D * sizeof *emb);
    printf("checksum %016llx\n", (unsigned long long)h);
    free(g);
  }
  dml_tape_free(&t);
  dml_network_free(&net);
  dml_params_free(&ps);
  dml_backend_free(be);
  free(x), free(c), free(emb);
  dml_flags_free(&cli);
  return 0;
}
