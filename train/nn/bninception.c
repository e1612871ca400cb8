/* bninception — BN-Inception in the layout of the reference's pretrained model (Cadene's pretrainedmodels
 * `bninception`, Caffe weights): every conv has a bias and is followed by BatchNorm2d(eps 1e-5, momentum 0.9 in
 * torch's convention) and ReLU (applied in place there, so the concatenated outputs are the ReLU'd ones);
 * ceil-mode max pools; branch pools are AvgPool2d(3, 1, 1, ceil_mode, count_include_pad) (max in 5b); the
 * reduction blocks 3c and 4e have stride-2 branches and a max-pool branch without projection. Embedding network:
 * features → global average pooling (+ global max with "_double"/max with "_max") → last_linear (1024 → D,
 * "_he": Kaiming normal fan_out weights and zero bias, else nn.Linear's default) → optional L2 normalisation.
 * Tensor names are the pretrained file's ("inception_4a_double_3x3_1_bn.running_var"). "_wN" scales widths. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "train/nn/nn.h"

struct cbr { int w, bias, g, b, rm, rv, stride, pad; };   /* conv(+bias) + BN + ReLU */

struct block {
  int reduction;               /* 3c, 4e */
  int maxpool_branch;          /* 5b: max instead of average pooling in the pool branch */
  struct cbr c1, c3r, c3, d_r, d1, d2, proj;
};

struct bninception {
  struct cbr conv1, conv2r, conv2;
  struct block blk[10];
  int fc_w, fc_b;
};

static int scale(const struct dml_network *net, int ch) {
  int v = (int)((long)ch * net->base_width / 64);
  return v < 1 ? 1 : v;
}

static struct cbr declare(struct dml_network *net, const char *name, int cin, int cout, int k, int stride) {
  char n[160];
  struct cbr c = {.stride = stride, .pad = k / 2};
  snprintf(n, sizeof n, "%s.weight", name);
  c.w = dml_params_declare(net->ps, n, 4, (int[]){cout, cin, k, k}, 1, 0);
  snprintf(n, sizeof n, "%s.bias", name);
  c.bias = dml_params_declare(net->ps, n, 1, (int[]){cout}, 1, 0);
  snprintf(n, sizeof n, "%s_bn", name);
  dml_network_declare_bn(net, n, cout, &c.g, &c.b, &c.rm, &c.rv);
  return c;
}

/* name, 1x1, 3x3 reduce, 3x3, double reduce, double 3x3, pool projection (0: reduction block) */
static const struct { const char *name; int c1, c3r, c3, dr, d, proj; } cfg[10] = {
  {"3a", 64, 64, 64, 64, 96, 32},     {"3b", 64, 64, 96, 64, 96, 64},     {"3c", 0, 128, 160, 64, 96, 0},
  {"4a", 224, 64, 96, 96, 128, 128},  {"4b", 192, 96, 128, 96, 128, 128}, {"4c", 160, 128, 160, 128, 160, 128},
  {"4d", 96, 128, 192, 160, 192, 128}, {"4e", 0, 128, 192, 192, 256, 0},  {"5a", 352, 192, 320, 160, 224, 128},
  {"5b", 352, 192, 320, 192, 224, 128},
};

dml_status dml_bninception_init(struct dml_network *net) {
  struct bninception *m = xcalloc(1, sizeof *m);
  net->state = m;
  m->conv1 = declare(net, "conv1_7x7_s2", 3, scale(net, 64), 7, 2);
  m->conv2r = declare(net, "conv2_3x3_reduce", scale(net, 64), scale(net, 64), 1, 1);
  m->conv2 = declare(net, "conv2_3x3", scale(net, 64), scale(net, 192), 3, 1);
  int in = scale(net, 192);
  char n[64];
  for (int i = 0; i < 10; i++) {
    struct block *b = &m->blk[i];
    b->reduction = cfg[i].proj == 0;
    b->maxpool_branch = i == 9;
    int st = b->reduction ? 2 : 1;
#define NAME(suffix) (snprintf(n, sizeof n, "inception_%s_%s", cfg[i].name, suffix), n)
    if (!b->reduction) b->c1 = declare(net, NAME("1x1"), in, scale(net, cfg[i].c1), 1, 1);
    b->c3r = declare(net, NAME("3x3_reduce"), in, scale(net, cfg[i].c3r), 1, 1);
    b->c3 = declare(net, NAME("3x3"), scale(net, cfg[i].c3r), scale(net, cfg[i].c3), 3, st);
    b->d_r = declare(net, NAME("double_3x3_reduce"), in, scale(net, cfg[i].dr), 1, 1);
    b->d1 = declare(net, NAME("double_3x3_1"), scale(net, cfg[i].dr), scale(net, cfg[i].d), 3, 1);
    b->d2 = declare(net, NAME("double_3x3_2"), scale(net, cfg[i].d), scale(net, cfg[i].d), 3, st);
    if (!b->reduction) b->proj = declare(net, NAME("pool_proj"), in, scale(net, cfg[i].proj), 1, 1);
#undef NAME
    in = b->reduction ? scale(net, cfg[i].c3) + scale(net, cfg[i].d) + in
                      : scale(net, cfg[i].c1) + scale(net, cfg[i].c3) + scale(net, cfg[i].d) + scale(net, cfg[i].proj);
  }
  dml_network_declare_head(net, in, &m->fc_w, &m->fc_b);
  static const enum dml_op ops[] = {DML_OP_LINEAR, DML_OP_L2NORM, DML_OP_CONV2D, DML_OP_BATCHNORM, DML_OP_POOL2D,
                                    DML_OP_GLOBAL_POOL, DML_OP_ADD, DML_OP_CONCAT};
  return dml_backend_require(net->ps->be, ops, (int)(sizeof ops / sizeof *ops));
}

void dml_bninception_reset(struct dml_network *net, uint64_t seed) {
  /* PyTorch's defaults (the module has no init of its own): conv and linear U(±1/√fan_in) for weight and bias
   * (kaiming_uniform a=√5), BN 1 / 0; "_he": last_linear Kaiming normal (fan_out) and zero bias */
  struct dml_params *ps = net->ps;
  struct bninception *m = net->state;
  int he = strstr(net->arch, "_he") != NULL;
  for (int i = 0; i < ps->n; i++) {
    struct dml_param *p = &ps->p[i];
    float *h = xmalloc(p->n * sizeof *h);
    struct dml_rng r = dml_rng_init(seed, DML_RNG_INIT, (uint64_t)i, 0);
    int is_bn = strstr(p->name, "_bn.") != NULL;
    if (he && i == m->fc_w) {
      double sd = sqrt(2.0 / p->shape[0]);
      dml_fill_normal(h, p->n, sd, &r);
    } else if (he && i == m->fc_b) {
      memset(h, 0, p->n * sizeof *h);
    } else if (is_bn) {
      float v = strstr(p->name, ".weight") ? 1.0f : 0.0f;
      for (size_t k = 0; k < p->n; k++) h[k] = v;
    } else {
      /* fan_in of the layer this weight or bias belongs to */
      const struct dml_param *w = p->ndim >= 2 ? p : &ps->p[i - 1];
      size_t fan_in = w->n / (size_t)w->shape[0];
      float bound = 1.0f / sqrtf((float)fan_in);
      for (size_t k = 0; k < p->n; k++) h[k] = (2 * dml_rng_uniformf(&r) - 1) * bound;
    }
    ps->be->fn.to_device(ps->be->ctx, p->t.data, h, p->n * sizeof *h);
    free(h);
  }
  dml_network_reset_buffers(net);
}

static struct dml_tensor *cbr(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x, const struct cbr *c) {
  struct dml_params *ps = net->ps, *bs = net->buffers;
  if (!t->record || net->frozen) /* running statistics (inference, or frozen): folded into the conv (+ ReLU) */
    return dml_conv2d_bn(t, x, &ps->p[c->w].t, &ps->p[c->bias].t, c->stride, c->pad, &ps->p[c->g].t, &ps->p[c->b].t,
                         bs->p[c->rm].t.data, bs->p[c->rv].t.data, 1e-5f, 1);
  struct dml_tensor *y = dml_conv2d(t, x, &ps->p[c->w].t, &ps->p[c->bias].t, c->stride, c->pad);
  return dml_batchnorm(t, y, &ps->p[c->g].t, &ps->p[c->b].t, bs->p[c->rm].t.data, bs->p[c->rv].t.data, 1e-5f, 0.9f,
                       t->record && !net->frozen, 1);
}

struct dml_tensor *dml_bninception_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x) {
  struct bninception *m = net->state;
  struct dml_tensor *h = x;
  if (x->ndim != 4) h = dml_reshape(t, x, 4, (int[]){x->shape[0], net->channels, net->height, net->width});
  h = dml_pool2d(t, cbr(net, t, h, &m->conv1), DML_POOL_MAX, 3, 2, 0, 1);
  h = dml_pool2d(t, cbr(net, t, cbr(net, t, h, &m->conv2r), &m->conv2), DML_POOL_MAX, 3, 2, 0, 1);
  for (int i = 0; i < 10; i++) {
    const struct block *b = &m->blk[i];
    struct dml_tensor *br[4];
    int nb = 0;
    if (!b->reduction) br[nb++] = cbr(net, t, h, &b->c1);
    br[nb++] = cbr(net, t, cbr(net, t, h, &b->c3r), &b->c3);
    br[nb++] = cbr(net, t, cbr(net, t, cbr(net, t, h, &b->d_r), &b->d1), &b->d2);
    if (b->reduction)
      br[nb++] = dml_pool2d(t, h, DML_POOL_MAX, 3, 2, 0, 1);
    else
      br[nb++] = cbr(net, t, dml_pool2d(t, h, b->maxpool_branch ? DML_POOL_MAX : DML_POOL_AVG, 3, 1, 1, 1), &b->proj);
    h = dml_concat(t, br, nb);
  }
  struct dml_tensor *f;
  if (net->pool == DML_POOL_AVG || net->pool == DML_POOL_MAX)
    f = dml_global_pool(t, h, net->pool);
  else
    f = dml_add(t, dml_global_pool(t, h, DML_POOL_AVG), dml_global_pool(t, h, DML_POOL_MAX), 0);
  if (net->features_only) return f;
  struct dml_tensor *z = dml_linear(t, f, &net->ps->p[m->fc_w].t, &net->ps->p[m->fc_b].t);
  return net->normalize ? dml_l2norm(t, z) : z;
}
