/* mlp — the small fully connected embedding network of the foundation slice (Fashion-MNIST):
 *   x (B, in) → fc1 (512) → ReLU → last_linear (embed_dim) [→ L2 normalise if the arch has "_normalize"].
 * Parameter names follow the reference: the embedding head is `last_linear`. Registered in network.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "train/nn/nn.h"

#define MLP_HIDDEN 512

dml_status dml_mlp_init(struct dml_network *net) {
  struct dml_params *ps = net->ps;
  int in_dim = net->in_dim, embed_dim = net->embed_dim;
  net->hidden = MLP_HIDDEN;
  net->layers = 2;
  net->feat_dim = MLP_HIDDEN;
  net->p_w[0] = dml_params_declare(ps, "fc1.weight", 2, (int[]){MLP_HIDDEN, in_dim}, 1, 0);
  net->p_b[0] = dml_params_declare(ps, "fc1.bias", 1, (int[]){MLP_HIDDEN}, 1, 0);
  net->p_w[1] = dml_params_declare(ps, "last_linear.weight", 2, (int[]){embed_dim, MLP_HIDDEN}, 1, 0);
  net->p_b[1] = dml_params_declare(ps, "last_linear.bias", 1, (int[]){embed_dim}, 1, 0);
  return DML_OK;
}

void dml_mlp_reset(struct dml_network *net, uint64_t seed) {
  struct dml_params *ps = net->ps;
  for (int l = 0; l < net->layers; l++) {
    struct dml_param *w = &ps->p[net->p_w[l]], *b = &ps->p[net->p_b[l]];
    float bound = 1.0f / sqrtf((float)w->shape[1]);
    float *host = xmalloc((w->n + b->n) * sizeof *host);
    struct dml_rng r = dml_rng_init(seed, DML_RNG_INIT, (uint64_t)l, 0);
    for (size_t i = 0; i < w->n + b->n; i++) host[i] = (2 * dml_rng_uniformf(&r) - 1) * bound;
    ps->be->fn.to_device(ps->be->ctx, w->t.data, host, w->n * sizeof *host);
    ps->be->fn.to_device(ps->be->ctx, b->t.data, host + w->n, b->n * sizeof *host);
    free(host);
  }
}

struct dml_tensor *dml_mlp_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x) {
  struct dml_params *ps = net->ps;
  struct dml_tensor *h = x;
  for (int l = 0; l < net->layers; l++) {
    if (l + 1 == net->layers && net->features_only) return h;
    h = dml_linear(t, h, &ps->p[net->p_w[l]].t, &ps->p[net->p_b[l]].t);
    if (l + 1 < net->layers) h = dml_relu(t, h);
  }
  return net->normalize ? dml_l2norm(t, h) : h;
}
