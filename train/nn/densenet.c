/* densenet — torchvision's DenseNet-169 (`densenet169`: growth 32, blocks of 6, 12, 32, 32 dense layers, 64 stem
 * channels, bottleneck 4·growth, transitions halving the channels, no dropout) as an embedding network:
 * conv0 7×7/2 → norm0 → ReLU → max pool 3/2 → (denseblock → transition) ×3 → denseblock4 → norm5 → ReLU → global
 * pooling (average as torchvision, max, or their sum) → last_linear (1664 → embed_dim) → optional L2 normalisation.
 * A dense layer is pre-activation: cat(every earlier map of the block) → norm1 → ReLU → conv1 1×1 → norm2 → ReLU →
 * conv2 3×3, its 32 maps appended to the block's; a transition is norm → ReLU → conv 1×1 → average pool 2/2.
 * Names are torchvision's (and timm's densenet169.tv_in1k): "features.denseblock3.denselayer12.norm2.running_var",
 * "features.transition1.conv.weight", "features.norm5.bias"; torchvision's classifier is ignored on load.
 * "_wN" scales every width by N/64 (stem N, growth N/2); "_frozen" keeps batch norm on its running statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "train/nn/nn.h"

struct bn {
  int g, b, rm, rv;   /* parameters gamma, beta; buffers running mean, var */
};

struct dense_layer {
  struct bn norm1, norm2;
  int conv1, conv2;   /* parameter indices: 1×1 (4·growth, in), 3×3 (growth, 4·growth) */
};

enum { NBLOCK = 4 };
static const int block_layers[NBLOCK] = {6, 12, 32, 32};

struct densenet {
  int conv0;
  struct bn norm0, norm5;
  struct dense_layer layers[6 + 12 + 32 + 32];
  struct bn tnorm[NBLOCK - 1];
  int tconv[NBLOCK - 1];
  int fc_w, fc_b;
};

static int sc(const struct dml_network *net, int ch) {
  int v = (int)((long)ch * net->base_width / 64);
  return v < 1 ? 1 : v;
}

static struct bn declare_bn(struct dml_network *net, const char *name, int ch) {
  struct bn n;
  dml_network_declare_bn(net, name, ch, &n.g, &n.b, &n.rm, &n.rv);
  return n;
}

static int declare_conv(struct dml_network *net, const char *name, int cin, int cout, int k) {
  char n[200];
  snprintf(n, sizeof n, "%s.weight", name);
  return dml_params_declare(net->ps, n, 4, (int[]){cout, cin, k, k}, 1, 0);
}

dml_status dml_densenet_init(struct dml_network *net) {
  struct densenet *d = xcalloc(1, sizeof *d);
  net->state = d;
  int growth = sc(net, 32), bottleneck = 4 * growth, ch = sc(net, 64);
  d->conv0 = declare_conv(net, "features.conv0", 3, ch, 7);
  d->norm0 = declare_bn(net, "features.norm0", ch);
  char n[160];
  int L = 0;
  for (int b = 0; b < NBLOCK; b++) {
    for (int i = 0; i < block_layers[b]; i++, L++) {
      struct dense_layer *l = &d->layers[L];
      snprintf(n, sizeof n, "features.denseblock%d.denselayer%d.norm1", b + 1, i + 1);
      l->norm1 = declare_bn(net, n, ch + i * growth);
      snprintf(n, sizeof n, "features.denseblock%d.denselayer%d.conv1", b + 1, i + 1);
      l->conv1 = declare_conv(net, n, ch + i * growth, bottleneck, 1);
      snprintf(n, sizeof n, "features.denseblock%d.denselayer%d.norm2", b + 1, i + 1);
      l->norm2 = declare_bn(net, n, bottleneck);
      snprintf(n, sizeof n, "features.denseblock%d.denselayer%d.conv2", b + 1, i + 1);
      l->conv2 = declare_conv(net, n, bottleneck, growth, 3);
    }
    ch += block_layers[b] * growth;
    if (b + 1 < NBLOCK) {
      snprintf(n, sizeof n, "features.transition%d.norm", b + 1);
      d->tnorm[b] = declare_bn(net, n, ch);
      snprintf(n, sizeof n, "features.transition%d.conv", b + 1);
      d->tconv[b] = declare_conv(net, n, ch, ch / 2, 1);
      ch /= 2;
    }
  }
  d->norm5 = declare_bn(net, "features.norm5", ch);
  dml_network_declare_head(net, ch, &d->fc_w, &d->fc_b);
  static const enum dml_op ops[] = {DML_OP_LINEAR, DML_OP_L2NORM, DML_OP_CONV2D, DML_OP_BATCHNORM, DML_OP_POOL2D,
                                    DML_OP_GLOBAL_POOL, DML_OP_ADD, DML_OP_CONCAT};
  return dml_backend_require(net->ps->be, ops, (int)(sizeof ops / sizeof *ops));
}

/* torchvision's DenseNet init: conv kaiming_normal_ (fan_in, the default mode), BN weight 1 / bias 0, and the
 * linear bias 0; last_linear is the reference's fresh nn.Linear (default init: U(±1/√fan_in)). */
void dml_densenet_reset(struct dml_network *net, uint64_t seed) {
  struct dml_params *ps = net->ps;
  struct densenet *d = net->state;
  size_t most = 0;
  for (int i = 0; i < ps->n; i++) most = ps->p[i].n > most ? ps->p[i].n : most;
  float *h = xmalloc(most * sizeof *h);
  for (int i = 0; i < ps->n; i++) {
    struct dml_param *p = &ps->p[i];
    struct dml_rng g = dml_rng_init(seed, DML_RNG_INIT, (uint64_t)i, 0);
    if (p->ndim == 4) {
      double sd = sqrt(2.0 / ((double)p->shape[1] * p->shape[2] * p->shape[3]));
      dml_fill_normal(h, p->n, sd, &g);
    } else if (i == d->fc_w || i == d->fc_b) {
      float bound = 1.0f / sqrtf((float)ps->p[d->fc_w].shape[1]);
      for (size_t k = 0; k < p->n; k++) h[k] = (2 * dml_rng_uniformf(&g) - 1) * bound;
    } else {
      float v = strstr(p->name, ".weight") ? 1.0f : 0.0f;
      for (size_t k = 0; k < p->n; k++) h[k] = v;
    }
    ps->be->fn.to_device(ps->be->ctx, p->t.data, h, p->n * sizeof *h);
  }
  dml_network_reset_buffers(net);
  free(h);
}

static struct dml_tensor *norm_relu(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x,
                                    const struct bn *n) {
  struct dml_params *ps = net->ps, *bs = net->buffers;
  int training = t->record && !net->frozen;
  return dml_batchnorm(t, x, &ps->p[n->g].t, &ps->p[n->b].t, bs->p[n->rm].t.data, bs->p[n->rv].t.data, 1e-5f, 0.1f,
                       training, 1);
}

static struct dml_tensor *conv(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x, int w, int pad) {
  return dml_conv2d(t, x, &net->ps->p[w].t, NULL, 1, pad);
}

struct dml_tensor *dml_densenet_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x) {
  struct densenet *d = net->state;
  struct dml_tensor *h = x;
  if (x->ndim != 4) h = dml_reshape(t, x, 4, (int[]){x->shape[0], net->channels, net->height, net->width});
  h = dml_conv2d(t, h, &net->ps->p[d->conv0].t, NULL, 2, 3);
  h = norm_relu(net, t, h, &d->norm0);
  h = dml_pool2d(t, h, DML_POOL_MAX, 3, 2, 1, 0);
  struct dml_tensor *maps[1 + 32]; /* the block's input and every layer's new maps */
  int L = 0;
  for (int b = 0; b < NBLOCK; b++) {
    int n = 0;
    maps[n++] = h;
    for (int i = 0; i < block_layers[b]; i++, L++) {
      const struct dense_layer *l = &d->layers[L];
      struct dml_tensor *in = n == 1 ? maps[0] : dml_concat(t, maps, n);
      struct dml_tensor *y = conv(net, t, norm_relu(net, t, in, &l->norm1), l->conv1, 0);
      maps[n++] = conv(net, t, norm_relu(net, t, y, &l->norm2), l->conv2, 1);
    }
    h = dml_concat(t, maps, n);
    if (b + 1 < NBLOCK) {
      h = conv(net, t, norm_relu(net, t, h, &d->tnorm[b]), d->tconv[b], 0);
      h = dml_pool2d(t, h, DML_POOL_AVG, 2, 2, 0, 0);
    }
  }
  h = norm_relu(net, t, h, &d->norm5);
  struct dml_tensor *f;
  if (net->pool == DML_POOL_AVG || net->pool == DML_POOL_MAX)
    f = dml_global_pool(t, h, net->pool);
  else
    f = dml_add(t, dml_global_pool(t, h, DML_POOL_AVG), dml_global_pool(t, h, DML_POOL_MAX), 0);
  if (net->features_only) return f;
  struct dml_tensor *z = dml_linear(t, f, &net->ps->p[d->fc_w].t, &net->ps->p[d->fc_b].t);
  return net->normalize ? dml_l2norm(t, z) : z;
}
