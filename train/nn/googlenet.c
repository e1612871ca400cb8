/* googlenet — torchvision's GoogLeNet (Inception v1 with batch norm, `googlenet(pretrained=True)`: BasicConv2d =
 * conv without bias + BN(eps 1e-3) + ReLU, ceil-mode max pools, the 3×3 "5×5" branch of torchvision,
 * transform_input on, no auxiliary classifiers) as an embedding network: … → inception5b → global pooling →
 * dropout 0.2 (training) → last_linear (1024 → embed_dim) → optional L2 normalisation.
 * Names are torchvision's ("inception4a.branch2.1.bn.running_var"); "_wN" scales every width by N/64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "train/nn/nn.h"

struct bconv {
  int w, g, b, rm, rv;
  int k, pad, stride;
};

struct inception {
  struct bconv b1, b2a, b2b, b3a, b3b, b4;
};

struct googlenet {
  struct bconv conv1, conv2, conv3;
  struct inception inc[9];
  int fc_w, fc_b;
  float *ti;                 /* transform_input as a frozen BN: gamma, beta, mean, var, dgamma, dbeta (3 each) */
};

static int sc(const struct dml_network *net, int ch) {
  int v = (int)((long)ch * net->base_width / 64);
  return v < 1 ? 1 : v;
}

static struct bconv declare(struct dml_network *net, const char *name, int cin, int cout, int k, int stride, int pad) {
  char n[160];
  struct bconv c = {.k = k, .pad = pad, .stride = stride};
  snprintf(n, sizeof n, "%s.conv.weight", name);
  c.w = dml_params_declare(net->ps, n, 4, (int[]){cout, cin, k, k}, 1, 0);
  snprintf(n, sizeof n, "%s.bn", name);
  dml_network_declare_bn(net, n, cout, &c.g, &c.b, &c.rm, &c.rv);
  return c;
}

static const int cfg[9][7] = {
  {192, 64, 96, 128, 16, 32, 32},   {256, 128, 128, 192, 32, 96, 64}, {480, 192, 96, 208, 16, 48, 64},
  {512, 160, 112, 224, 24, 64, 64}, {512, 128, 128, 256, 24, 64, 64}, {512, 112, 144, 288, 32, 64, 64},
  {528, 256, 160, 320, 32, 128, 128}, {832, 256, 160, 320, 32, 128, 128}, {832, 384, 192, 384, 48, 128, 128},
};
static const char *inc_names[9] = {"inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                                   "inception4d", "inception4e", "inception5a", "inception5b"};

dml_status dml_googlenet_init(struct dml_network *net) {
  struct googlenet *g = xcalloc(1, sizeof *g);
  net->state = g;
  net->dropout = 0.2f;
  g->conv1 = declare(net, "conv1", 3, sc(net, 64), 7, 2, 3);
  g->conv2 = declare(net, "conv2", sc(net, 64), sc(net, 64), 1, 1, 0);
  g->conv3 = declare(net, "conv3", sc(net, 64), sc(net, 192), 3, 1, 1);
  char n[64];
  for (int i = 0; i < 9; i++) {
    const int *c = cfg[i];
    int in = i == 0 ? sc(net, 192) : 0;
    if (i > 0) in = sc(net, cfg[i - 1][1]) + sc(net, cfg[i - 1][3]) + sc(net, cfg[i - 1][5]) + sc(net, cfg[i - 1][6]);
    struct inception *I = &g->inc[i];
    snprintf(n, sizeof n, "%s.branch1", inc_names[i]);
    I->b1 = declare(net, n, in, sc(net, c[1]), 1, 1, 0);
    snprintf(n, sizeof n, "%s.branch2.0", inc_names[i]);
    I->b2a = declare(net, n, in, sc(net, c[2]), 1, 1, 0);
    snprintf(n, sizeof n, "%s.branch2.1", inc_names[i]);
    I->b2b = declare(net, n, sc(net, c[2]), sc(net, c[3]), 3, 1, 1);
    snprintf(n, sizeof n, "%s.branch3.0", inc_names[i]);
    I->b3a = declare(net, n, in, sc(net, c[4]), 1, 1, 0);
    snprintf(n, sizeof n, "%s.branch3.1", inc_names[i]);
    I->b3b = declare(net, n, sc(net, c[4]), sc(net, c[5]), 3, 1, 1);
    snprintf(n, sizeof n, "%s.branch4.1", inc_names[i]);
    I->b4 = declare(net, n, in, sc(net, c[6]), 1, 1, 0);
  }
  net->feat_dim = sc(net, 384) + sc(net, 384) + sc(net, 128) + sc(net, 128);
  dml_network_declare_head(net, net->feat_dim, &g->fc_w, &g->fc_b);
  /* transform_input: x_c · (std_c / 0.5) + (mean_c − 0.5) / 0.5, as an inference-mode BN with mean 0, var 1 − eps */
  struct dml_backend *be = net->ps->be;
  g->ti = be->fn.alloc(be->ctx, 18 * sizeof(float));
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  float h[18] = {0};
  for (int c = 0; c < 3; c++) {
    h[c] = sd[c] / 0.5f;
    h[3 + c] = (mean[c] - 0.5f) / 0.5f;
    h[6 + c] = 0.0f;
    h[9 + c] = 1.0f;
  }
  be->fn.to_device(be->ctx, g->ti, h, sizeof h);
  static const enum dml_op ops[] = {DML_OP_LINEAR, DML_OP_L2NORM, DML_OP_CONV2D, DML_OP_BATCHNORM, DML_OP_POOL2D,
                                    DML_OP_GLOBAL_POOL, DML_OP_ADD, DML_OP_CONCAT, DML_OP_MUL};
  return dml_backend_require(be, ops, (int)(sizeof ops / sizeof *ops));
}

void dml_googlenet_free(struct dml_network *net) {
  struct googlenet *g = net->state;
  if (g && g->ti) net->ps->be->fn.release(net->ps->be->ctx, g->ti);
  free(g);
  net->state = NULL;
}

void dml_googlenet_reset(struct dml_network *net, uint64_t seed) {
  /* torchvision's init_weights: conv and linear truncated normal(0, 0.01) within ±2σ; BN 1 / 0; the new head
   * keeps nn.Linear's default U(±1/√fan_in) as in the reference (fc replaced after construction) */
  struct dml_params *ps = net->ps;
  struct googlenet *g = net->state;
  for (int i = 0; i < ps->n; i++) {
    struct dml_param *p = &ps->p[i];
    float *h = xmalloc(p->n * sizeof *h);
    struct dml_rng r = dml_rng_init(seed, DML_RNG_INIT, (uint64_t)i, 0);
    if (i == g->fc_w || i == g->fc_b) {
      float bound = 1.0f / sqrtf((float)net->feat_dim);
      for (size_t k = 0; k < p->n; k++) h[k] = (2 * dml_rng_uniformf(&r) - 1) * bound;
    } else if (p->ndim == 4) {
      for (size_t k = 0; k < p->n; k++) {
        double v;
        do v = dml_rng_normal(&r);
        while (fabs(v) > 2);
        h[k] = (float)(0.01 * v);
      }
    } else {
      float v = strstr(p->name, ".weight") ? 1.0f : 0.0f;
      for (size_t k = 0; k < p->n; k++) h[k] = v;
    }
    ps->be->fn.to_device(ps->be->ctx, p->t.data, h, p->n * sizeof *h);
    free(h);
  }
  dml_network_reset_buffers(net);
}

static struct dml_tensor *bconv(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x, const struct bconv *c) {
  struct dml_params *ps = net->ps, *bs = net->buffers;
  if (!t->record || net->frozen) /* running statistics (inference, or frozen): folded into the conv (+ ReLU) */
    return dml_conv2d_bn(t, x, &ps->p[c->w].t, NULL, c->stride, c->pad, &ps->p[c->g].t, &ps->p[c->b].t,
                         bs->p[c->rm].t.data, bs->p[c->rv].t.data, 1e-3f, 1);
  struct dml_tensor *y = dml_conv2d(t, x, &ps->p[c->w].t, NULL, c->stride, c->pad);
  return dml_batchnorm(t, y, &ps->p[c->g].t, &ps->p[c->b].t, bs->p[c->rm].t.data, bs->p[c->rv].t.data, 1e-3f,
                       0.1f, t->record && !net->frozen, 1);
}

struct dml_tensor *dml_googlenet_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x) {
  struct googlenet *g = net->state;
  struct dml_tensor *h = x;
  if (x->ndim != 4) h = dml_reshape(t, x, 4, (int[]){x->shape[0], net->channels, net->height, net->width});
  /* transform_input: gamma/beta are constants here (their gradient lands in the scratch dgamma/dbeta) */
  struct dml_tensor ga = {.data = g->ti, .grad = g->ti + 12, .ndim = 1, .shape = {3}, .n = 3};
  struct dml_tensor be = {.data = g->ti + 3, .grad = g->ti + 15, .ndim = 1, .shape = {3}, .n = 3};
  struct dml_tensor *gat = dml_tape_tensor(t, 1, (int[]){3}), *bet = dml_tape_tensor(t, 1, (int[]){3});
  *gat = ga, *bet = be; /* headers owned by the tape, data owned by the network */
  h = dml_batchnorm(t, h, gat, bet, g->ti + 6, g->ti + 9, 0.0f, 0.0f, 0, 0);
  h = bconv(net, t, h, &g->conv1);
  h = dml_pool2d(t, h, DML_POOL_MAX, 3, 2, 0, 1);
  h = bconv(net, t, h, &g->conv2);
  h = bconv(net, t, h, &g->conv3);
  h = dml_pool2d(t, h, DML_POOL_MAX, 3, 2, 0, 1);
  for (int i = 0; i < 9; i++) {
    const struct inception *I = &g->inc[i];
    struct dml_tensor *br[4];
    br[0] = bconv(net, t, h, &I->b1);
    br[1] = bconv(net, t, bconv(net, t, h, &I->b2a), &I->b2b);
    br[2] = bconv(net, t, bconv(net, t, h, &I->b3a), &I->b3b);
    br[3] = bconv(net, t, dml_pool2d(t, h, DML_POOL_MAX, 3, 1, 1, 1), &I->b4);
    h = dml_concat(t, br, 4);
    if (i == 1) h = dml_pool2d(t, h, DML_POOL_MAX, 3, 2, 0, 1);
    if (i == 6) h = dml_pool2d(t, h, DML_POOL_MAX, 2, 2, 0, 1);
  }
  struct dml_tensor *f;
  if (net->pool == DML_POOL_AVG || net->pool == DML_POOL_MAX)
    f = dml_global_pool(t, h, net->pool);
  else
    f = dml_add(t, dml_global_pool(t, h, DML_POOL_AVG), dml_global_pool(t, h, DML_POOL_MAX), 0);
  if (net->features_only) return f;
  f = dml_dropout(t, f, net->dropout);
  struct dml_tensor *z = dml_linear(t, f, &net->ps->p[g->fc_w].t, &net->ps->p[g->fc_b].t);
  return net->normalize ? dml_l2norm(t, z) : z;
}
