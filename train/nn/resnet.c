/* resnet — torchvision's ResNet-18 (BasicBlock ×[2,2,2,2]) and ResNet-50 (Bottleneck v1.5 ×[3,4,6,3], stride
 * on the 3×3 conv) as an embedding network: conv1 7×7/2 → bn1 → ReLU → maxpool 3/2 → layer1…4 → global pooling
 * (average, max, or their sum) → last_linear (feat → embed_dim) → optional L2 normalisation.
 * Parameter and buffer names are torchvision's ("layer2.0.downsample.1.running_var"), with the head named
 * `last_linear` as in the reference. "_wN" scales every width by N/64 (stem N, stages N, 2N, 4N, 8N planes).
 * Batch norm: batch statistics in training (t->record) unless "_frozen", running statistics otherwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "train/nn/nn.h"

struct cbn {          /* conv (no bias) + batch norm */
  int w, g, b;        /* parameter indices: conv weight, bn weight, bn bias */
  int rm, rv;         /* buffer indices: running mean, running var */
  int stride, pad;
};

struct block {
  struct cbn c[3];
  int nconv;
  int has_down;
  struct cbn down;
};

struct resnet {
  struct cbn stem;
  struct block blocks[16];
  int nblocks;
  int fc_w, fc_b;
};

static struct cbn declare_cbn(struct dml_network *net, const char *conv, const char *bn, int cin, int cout, int k,
                              int stride) {
  char name[160];
  struct cbn c = {.stride = stride, .pad = k / 2};
  snprintf(name, sizeof name, "%s.weight", conv);
  c.w = dml_params_declare(net->ps, name, 4, (int[]){cout, cin, k, k}, 1, 0);
  dml_network_declare_bn(net, bn, cout, &c.g, &c.b, &c.rm, &c.rv);
  return c;
}

dml_status dml_resnet_init(struct dml_network *net) {
  int deep = !strncmp(net->arch, "resnet50", 8);
  static const int depth18[4] = {2, 2, 2, 2}, depth50[4] = {3, 4, 6, 3};
  const int *depth = deep ? depth50 : depth18, exp = deep ? 4 : 1;
  int w0 = net->base_width;
  struct resnet *r = xcalloc(1, sizeof *r);
  net->state = r;
  r->stem = declare_cbn(net, "conv1", "bn1", 3, w0, 7, 2);
  int inpl = w0;
  char a[48], b[48];
  for (int L = 0; L < 4; L++) {
    int planes = w0 << L;
    for (int k = 0; k < depth[L]; k++) {
      int stride = (k == 0 && L > 0) ? 2 : 1;
      struct block *bl = &r->blocks[r->nblocks++];
      if (deep) {
        bl->nconv = 3;
        int cin[3] = {inpl, planes, planes}, cout[3] = {planes, planes, planes * exp}, ks[3] = {1, 3, 1};
        for (int i = 0; i < 3; i++) {
          snprintf(a, sizeof a, "layer%d.%d.conv%d", L + 1, k, i + 1);
          snprintf(b, sizeof b, "layer%d.%d.bn%d", L + 1, k, i + 1);
          bl->c[i] = declare_cbn(net, a, b, cin[i], cout[i], ks[i], i == 1 ? stride : 1);
        }
      } else {
        bl->nconv = 2;
        for (int i = 0; i < 2; i++) {
          snprintf(a, sizeof a, "layer%d.%d.conv%d", L + 1, k, i + 1);
          snprintf(b, sizeof b, "layer%d.%d.bn%d", L + 1, k, i + 1);
          bl->c[i] = declare_cbn(net, a, b, i ? planes : inpl, planes, 3, i == 0 ? stride : 1);
        }
      }
      if (stride != 1 || inpl != planes * exp) {
        bl->has_down = 1;
        snprintf(a, sizeof a, "layer%d.%d.downsample.0", L + 1, k);
        snprintf(b, sizeof b, "layer%d.%d.downsample.1", L + 1, k);
        bl->down = declare_cbn(net, a, b, inpl, planes * exp, 1, stride);
        bl->down.pad = 0;
      }
      inpl = planes * exp;
    }
  }
  dml_network_declare_head(net, inpl, &r->fc_w, &r->fc_b);
  static const enum dml_op ops[] = {DML_OP_LINEAR, DML_OP_RELU, DML_OP_L2NORM, DML_OP_CONV2D, DML_OP_BATCHNORM,
                                    DML_OP_POOL2D, DML_OP_GLOBAL_POOL, DML_OP_ADD};
  return dml_backend_require(net->ps->be, ops, (int)(sizeof ops / sizeof *ops));
}

static void put(struct dml_params *ps, int i, const float *host) {
  struct dml_param *p = &ps->p[i];
  ps->be->fn.to_device(ps->be->ctx, p->t.data, host, p->n * sizeof *host);
}

void dml_resnet_reset(struct dml_network *net, uint64_t seed) {
  struct dml_params *ps = net->ps;
  size_t most = 0;
  for (int i = 0; i < ps->n; i++) most = ps->p[i].n > most ? ps->p[i].n : most;
  float *h = xmalloc(most * sizeof *h);
  struct resnet *r = net->state;
  for (int i = 0; i < ps->n; i++) {
    struct dml_param *p = &ps->p[i];
    struct dml_rng g = dml_rng_init(seed, DML_RNG_INIT, (uint64_t)i, 0);
    if (p->ndim == 4) { /* kaiming_normal_(mode="fan_out", nonlinearity="relu") */
      double sd = sqrt(2.0 / ((double)p->shape[0] * p->shape[2] * p->shape[3]));
      dml_fill_normal(h, p->n, sd, &g);
    } else if (i == r->fc_w || i == r->fc_b) { /* nn.Linear default: U(±1/√fan_in) */
      float bound = 1.0f / sqrtf((float)ps->p[r->fc_w].shape[1]);
      for (size_t k = 0; k < p->n; k++) h[k] = (2 * dml_rng_uniformf(&g) - 1) * bound;
    } else { /* batch norm: weight 1, bias 0 */
      float v = strstr(p->name, ".weight") ? 1.0f : 0.0f;
      for (size_t k = 0; k < p->n; k++) h[k] = v;
    }
    put(ps, i, h);
  }
  dml_network_reset_buffers(net);
  free(h);
}

static struct dml_tensor *run_cbn(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x,
                                  const struct cbn *c, int relu) {
  struct dml_params *ps = net->ps, *bs = net->buffers;
  if (!t->record || net->frozen) /* running statistics (inference, or frozen): folded into the convolution */
    return dml_conv2d_bn(t, x, &ps->p[c->w].t, NULL, c->stride, c->pad, &ps->p[c->g].t, &ps->p[c->b].t,
                         bs->p[c->rm].t.data, bs->p[c->rv].t.data, 1e-5f, relu);
  struct dml_tensor *y = dml_conv2d(t, x, &ps->p[c->w].t, NULL, c->stride, c->pad);
  int training = !net->frozen;
  return dml_batchnorm(t, y, &ps->p[c->g].t, &ps->p[c->b].t, bs->p[c->rm].t.data, bs->p[c->rv].t.data, 1e-5f,
                       0.1f, training, relu);
}

struct dml_tensor *dml_resnet_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x) {
  struct resnet *r = net->state;
  struct dml_tensor *h = x;
  if (x->ndim != 4) h = dml_reshape(t, x, 4, (int[]){x->shape[0], net->channels, net->height, net->width});
  h = run_cbn(net, t, h, &r->stem, 1);
  struct dml_tensor *stem = h;
  h = dml_pool2d(t, h, DML_POOL_MAX, 3, 2, 1, 0);
  /* last uses (dml_tape_done): in training only what no backward reads is freed (the last batch norm's output and
   * the downsample's, read by the add alone); in inference every tensor once its consumers have run */
  dml_tape_done(t, stem);
  for (int i = 0; i < r->nblocks; i++) {
    const struct block *bl = &r->blocks[i];
    struct dml_tensor *o = h;
    for (int k = 0; k < bl->nconv; k++) {
      struct dml_tensor *prev = o;
      o = run_cbn(net, t, o, &bl->c[k], k + 1 < bl->nconv);
      if (prev != h) dml_tape_done(t, prev);
    }
    struct dml_tensor *id = bl->has_down ? run_cbn(net, t, h, &bl->down, 0) : h, *in = h;
    h = dml_add(t, o, id, 1);
    dml_tape_done(t, o);
    if (bl->has_down) dml_tape_done(t, id);
    dml_tape_done(t, in);
  }
  struct dml_tensor *f;
  if (net->pool == DML_POOL_AVG || net->pool == DML_POOL_MAX)
    f = dml_global_pool(t, h, net->pool);
  else
    f = dml_add(t, dml_global_pool(t, h, DML_POOL_AVG), dml_global_pool(t, h, DML_POOL_MAX), 0);
  if (net->features_only) return f;
  struct dml_tensor *z = dml_linear(t, f, &net->ps->p[r->fc_w].t, &net->ps->p[r->fc_b].t);
  return net->normalize ? dml_l2norm(t, z) : z;
}
