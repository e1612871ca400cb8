/* test_cuda_network — whole networks on the CUDA backend against the CPU backend (the oracle): for ResNet-18,
 * ResNet-50 (frozen batch norm, normalised), BN-Inception and GoogLeNet at reduced width, one forward + backward
 * from the same parameters and input gives the same embeddings and parameter gradients within fp32 tolerance, and
 * a second GPU run gives bitwise the same (deterministic algorithms only). Exits 77 without a CUDA device.
 * Tolerance: 2e-4 abs + 2e-3 rel of each tensor — cuDNN sums convolutions in other orders, compounded over depth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "tests/testutil.h"
#include "train/nn/nn.h"

enum { B = 3, S = 64, D = 16 };

/* embeddings (B·D) then every parameter gradient, as host floats in out (allocated) */
static size_t run(struct dml_backend *be, const char *arch, float **out) {
  struct dml_params ps;
  dml_params_init(&ps, be);
  struct dml_network net;
  const int in = 3 * S * S;
  if (dml_network_init(&net, &ps, arch, in, D)) {
    fprintf(stderr, "cannot build %s\n", arch);
    exit(1);
  }
  dml_params_alloc(&ps);
  dml_network_reset_parameters(&net, 7);
  float *x = xmalloc((size_t)B * in * sizeof *x), *g = xmalloc((size_t)B * D * sizeof *g);
  struct dml_rng r = dml_rng_init(3, DML_RNG_TEST, 0, 0);
  for (size_t i = 0; i < (size_t)B * in; i++) x[i] = 2 * dml_rng_uniformf(&r) - 1;
  for (int i = 0; i < B * D; i++) g[i] = 2 * dml_rng_uniformf(&r) - 1;
  struct dml_tape t;
  dml_tape_init(&t, be, dml_network_arena_bytes(&net, B));
  dml_tape_reset(&t);
  dml_params_zero_grad(&ps);
  struct dml_tensor *z = dml_network_forward(&net, &t, dml_tape_input(&t, x, B, in));
  dml_tape_need_grad(&t, z);
  be->fn.to_device(be->ctx, z->grad, g, (size_t)B * D * sizeof *g);
  dml_tape_backward(&t);
  size_t n = (size_t)B * D + ps.total;
  *out = xmalloc(n * sizeof **out);
  be->fn.to_host(be->ctx, *out, z->data, (size_t)B * D * sizeof **out);
  be->fn.to_host(be->ctx, *out + B * D, ps.grads, ps.total * sizeof **out);
  dml_tape_free(&t);
  dml_network_free(&net);
  dml_params_free(&ps);
  free(x), free(g);
  return n;
}

int main(void) {
  if (dml_cuda_device_count() == 0) {
    printf("no CUDA device: skipped\n");
    return 77;
  }
  const char *archs[] = {"resnet18_w8", "resnet50_frozen_normalize_w4", "bninception_w8", "googlenet_w8"};
  struct dml_backend *cpu = dml_backend_cpu_new(), *gpu = dml_backend_cuda_new();
  int f = 0;
  for (size_t a = 0; a < sizeof archs / sizeof *archs; a++) {
    float *c, *g1, *g2;
    size_t n = run(cpu, archs[a], &c);
    run(gpu, archs[a], &g1);
    run(gpu, archs[a], &g2);
    char name[96];
    snprintf(name, sizeof name, "%s embeddings", archs[a]);
    f += expect_close_f32(name, g1, c, B * D, 2e-4, 2e-3);
    snprintf(name, sizeof name, "%s parameter gradients", archs[a]);
    f += expect_close_f32(name, g1 + B * D, c + B * D, n - B * D, 2e-4, 2e-3);
    snprintf(name, sizeof name, "%s: GPU twice bitwise", archs[a]);
    f += expect_true(name, memcmp(g1, g2, n * sizeof *g1) == 0);
    free(c), free(g1), free(g2);
  }
  dml_backend_free(cpu);
  dml_backend_free(gpu);
  return test_report("cuda_network", f);
}
