/* make_weights — a randomly initialised ImageNet-layout weights file for dml-train's lookup ($DML_WEIGHTS), for
 * runs and benchmarks on machines without the published weights:
 *   make_weights ARCH FILE [SEED]      e.g. make_weights resnet50 "$DML_WEIGHTS/resnet50.safetensors"
 * The tensors are the network's own (torchvision names for resnet, googlenet and densenet; pretrainedmodels' for
 * bninception) with the 1000-class ImageNet classifier under the name the published files use (fc.*, densenet
 * classifier.*, bninception last_linear.*), so dml-train loads the backbone and keeps its own head, as with the
 * real files. The values are torchvision's initialisation, not trained weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/nn/nn.h"

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: make_weights ARCH FILE [SEED]\n");
    return 2;
  }
  const char *arch = argv[1], *path = argv[2];
  unsigned long long seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
  struct dml_backend *be = dml_backend_cpu_new();
  struct dml_params ps;
  dml_params_init(&ps, be);
  struct dml_network net;
  dml_status st = dml_network_init(&net, &ps, arch, 3 * 224 * 224, 1000);
  if (st) {
    fprintf(stderr, "make_weights: %s\n", dml_error_message());
    return 1;
  }
  const char *head = !strncmp(arch, "densenet", 8) ? "classifier" : !strncmp(arch, "bninception", 11) ? "last_linear"
                                                                                                         : "fc";
  for (int i = 0; i < ps.n; i++)
    if (!strncmp(ps.p[i].name, "last_linear.", 12)) {
      char n[96];
      snprintf(n, sizeof n, "%s.%s", head, ps.p[i].name + 12);
      snprintf(ps.p[i].name, sizeof ps.p[i].name, "%s", n);
    }
  dml_params_alloc(&ps);
  dml_network_reset_parameters(&net, seed);
  st = dml_network_save(&net, path);
  if (st) fprintf(stderr, "make_weights: %s\n", dml_error_message());
  else printf("make_weights: %s (%s, %d tensors, seed %llu)\n", path, arch, ps.n + net.buffers->n, seed);
  dml_network_free(&net);
  dml_params_free(&ps);
  dml_backend_free(be);
  return st ? 1 : 0;
}
