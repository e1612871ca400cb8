/* layers — the convolutional network ops on the tape: reshape (view), conv2d, batch norm, window pooling,
 * global pooling, add(+ReLU). Each forward calls the backend op of kernels/ops.h and, when the tape records,
 * stores what its backward needs; the backward propagates into an input only when that input needs a gradient
 * (made by a recorded op, or a parameter). See nn.h for the semantics (torch.nn equivalents). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "train/nn/nn.h"

static struct dml_tape_entry *last_entry(struct dml_tape *t) { return &t->e[t->n - 1]; }

/* a parameter (its grad block exists) or a recorded op's output */
static int wants_grad(const struct dml_tensor *x) { return x && (x->needs_grad || x->grad); }

float *dml_tape_grad_for_write(struct dml_tape *t, struct dml_tensor *x, int *overwrite) {
  if (x->grad) {
    *overwrite = 0;
  } else {
    x->grad = dml_arena_alloc(&t->arena, x->n * dml_tensor_elem_size(x));
    *overwrite = 1;
  }
  return x->grad;
}

#define BE(t) if (!(t)->count_only) (t)->be->fn /* a backend call, skipped by a counting dry run */

// ---------------------------------------------------------------------------------------------- convert

static void convert_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0], *y = e->out;
  if (!wants_grad(x)) return;
  int ow = 0;
  float *dx = dml_tape_grad_for_write(t, x, &ow);
  int B = x->shape[0], C = y->shape[1], HW = y->shape[2] * y->shape[3];
  if (ow) {
    BE(t).act_convert(t->be->ctx, dx, x->dtype, y->grad, y->dtype, B, C, HW);
  } else {
    void *tmp = dml_arena_alloc(&t->arena, x->n * dml_tensor_elem_size(x));
    BE(t).act_convert(t->be->ctx, tmp, x->dtype, y->grad, y->dtype, B, C, HW);
    BE(t).add_backward(t->be->ctx, dx, NULL, tmp, NULL, x->n, 0, 0, x->dtype);
  }
}

/* x (float32, flat or NCHW) as a 4-D tensor (B, C, H, W) in the tape's precision: x itself, or a converted copy */
static struct dml_tensor *to_act(struct dml_tape *t, struct dml_tensor *x, int ndim, const int *shape) {
  struct dml_tensor *y = dml_tape_tensor_prec(t, ndim, shape, t->prec);
  DML_ASSERT(y->n == x->n);
  BE(t).act_convert(t->be->ctx, y->data, y->dtype, x->data, x->dtype, shape[0], shape[1], shape[2] * shape[3]);
  y->needs_grad = t->record && wants_grad(x);
  if (y->needs_grad) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = convert_bw;
    e->in[0] = x;
    e->unread = DML_UNREAD_OUT | DML_UNREAD_IN(0);
  }
  return y;
}

/* a 4-D operand of a conv-family op in the tape's precision */
static struct dml_tensor *act(struct dml_tape *t, struct dml_tensor *x) {
  return x->dtype == t->prec ? x : to_act(t, x, 4, x->shape);
}

// ---------------------------------------------------------------------------------------------- reshape

static void reshape_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0];
  dml_tape_need_grad(t, x);
  BE(t).add_backward(t->be->ctx, x->grad, NULL, e->out->grad, NULL, x->n, 0, 0, x->dtype);
}

struct dml_tensor *dml_reshape(struct dml_tape *t, struct dml_tensor *x, int ndim, const int *shape) {
  if (ndim == 4 && x->dtype != t->prec) return to_act(t, x, ndim, shape);
  DML_ASSERT(x->dtype == DML_FP32 || ndim == 4);
  struct dml_tensor *y = dml_tape_tensor(t, 0, NULL); /* header only: no data of its own */
  y->ndim = ndim;
  y->n = 1;
  for (int i = 0; i < ndim; i++) {
    y->shape[i] = shape[i];
    y->n *= (size_t)shape[i];
  }
  DML_ASSERT(y->n == x->n);
  y->data = x->data;
  y->dtype = x->dtype;
  y->needs_grad = t->record && wants_grad(x);
  if (y->needs_grad) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = reshape_bw;
    e->in[0] = x;
  }
  return y;
}

// ---------------------------------------------------------------------------------------------- conv2d

static void conv_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
  int ow = 0;
  float *dx = wants_grad(x) ? dml_tape_grad_for_write(t, x, &ow) : NULL;
  BE(t).conv2d_backward(t->be->ctx, dx, w->grad, b ? b->grad : NULL, e->out->grad, x->data, w->data, &e->cs, ow);
}

struct dml_tensor *dml_conv2d(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *w, struct dml_tensor *b,
                              int stride, int pad) {
  DML_ASSERT(x->ndim == 4 && w->ndim == 4 && x->shape[1] == w->shape[1]);
  x = act(t, x);
  struct dml_conv_shape s = {.B = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                             .OC = w->shape[0], .KH = w->shape[2], .KW = w->shape[3], .SH = stride, .SW = stride,
                             .PH = pad, .PW = pad, .prec = t->prec};
  s.OH = (s.H + 2 * pad - s.KH) / stride + 1;
  s.OW = (s.W + 2 * pad - s.KW) / stride + 1;
  struct dml_tensor *y = dml_tape_tensor_prec(t, 4, (int[]){s.B, s.OC, s.OH, s.OW}, t->prec);
  BE(t).conv2d_forward(t->be->ctx, y->data, x->data, w->data, b ? b->data : NULL, &s);
  y->needs_grad = t->record;
  if (t->record) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = conv_bw;
    e->in[0] = x; e->in[1] = w; e->in[2] = b;
    e->cs = s;
    e->unread = DML_UNREAD_OUT;
  }
  return y;
}

static void conv_bn_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0], *w = e->in[1], *g = e->in[2], *b = e->list[0], *cb = e->nlist > 1 ? e->list[1] : NULL;
  int ow = 0;
  void *dx = wants_grad(x) ? dml_tape_grad_for_write(t, x, &ow) : NULL;
  float eps;
  memcpy(&eps, &e->iarg[1], sizeof eps);
  const int OC = e->cs.OC;
  /* with a convolution bias, the folded bias's gradient db' lands in a zeroed buffer first: dβ += db' as without
   * one, and the bias's own gradient is db'·γ/√(var+eps) */
  float *dbf = cb ? xcalloc((size_t)OC, sizeof *dbf) : b->grad;
  /* the output's gradient is consumed here only: the backend may mask it in place (the fused ReLU) */
  BE(t).conv2d_bn_backward(t->be->ctx, dx, w->grad, g->grad, dbf, e->out->grad, x->data, e->out->data, w->data,
                           g->data, e->saved, e->saved2, eps, &e->cs, e->iarg[0], ow);
  if (cb) {
    for (int o = 0; o < OC; o++) {
      b->grad[o] += dbf[o];
      cb->grad[o] += (float)(dbf[o] * (g->data[o] / sqrt((double)e->saved2[o] + eps)));
    }
    free(dbf);
  }
}

struct dml_tensor *dml_conv2d_bn(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *w, struct dml_tensor *bias,
                                  int stride, int pad, struct dml_tensor *gamma, struct dml_tensor *beta,
                                  float *running_mean, float *running_var, float eps, int relu) {
  /* a backend without the fused form, or without its backward when recording: the three ops; a convolution bias is
   * folded on the host, so only where tensors live in host memory (the CPU backend) */
  if (!t->be->fn.conv2d_bn_forward || (t->record && !t->be->fn.conv2d_bn_backward) ||
      (bias && strcmp(t->be->name, "cpu") != 0))
    return dml_batchnorm(t, dml_conv2d(t, x, w, bias, stride, pad), gamma, beta, running_mean, running_var, eps, 0, 0,
                         relu);
  DML_ASSERT(x->ndim == 4 && w->ndim == 4 && x->shape[1] == w->shape[1] && (int)gamma->n == w->shape[0]);
  x = act(t, x);
  struct dml_conv_shape s = {.B = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                             .OC = w->shape[0], .KH = w->shape[2], .KW = w->shape[3], .SH = stride, .SW = stride,
                             .PH = pad, .PW = pad, .prec = t->prec};
  s.OH = (s.H + 2 * pad - s.KH) / stride + 1;
  s.OW = (s.W + 2 * pad - s.KW) / stride + 1;
  /* a convolution bias b shifts what the batch norm subtracts: BN(conv(x) + b) = BN'(conv(x)) with mean' = mean − b */
  float *mean = running_mean;
  if (bias) {
    DML_ASSERT(bias->n == (size_t)s.OC);
    mean = dml_arena_alloc(&t->arena, (size_t)s.OC * sizeof *mean);
    for (int o = 0; o < s.OC && !t->count_only; o++) mean[o] = running_mean[o] - bias->data[o];
  }
  struct dml_tensor *y = dml_tape_tensor_prec(t, 4, (int[]){s.B, s.OC, s.OH, s.OW}, t->prec);
  BE(t).conv2d_bn_forward(t->be->ctx, y->data, x->data, w->data, gamma->data, beta->data, mean, running_var, eps, &s,
                          relu);
  y->needs_grad = t->record;
  if (t->record) { /* saved: x, y and the (frozen) running statistics */
    struct dml_tape_entry *e = last_entry(t);
    e->backward = conv_bn_bw;
    e->in[0] = x; e->in[1] = w; e->in[2] = gamma;
    e->list = xmalloc(2 * sizeof *e->list);
    e->list[0] = beta;
    e->list[1] = bias;
    e->nlist = bias ? 2 : 1;
    e->saved = mean;
    e->saved2 = running_var;
    e->iarg[0] = relu;
    memcpy(&e->iarg[1], &eps, sizeof eps);
    e->cs = s;
    e->unread = (relu ? 0u : DML_UNREAD_OUT) | DML_UNREAD_LIST; /* y only for the ReLU's mask; β's, b's data never */
  }
  return y;
}

// ---------------------------------------------------------------------------------------------- batch norm

static void bn_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0], *g = e->in[1], *b = e->in[2];
  int ow = 0;
  float *dx = wants_grad(x) ? dml_tape_grad_for_write(t, x, &ow) : NULL;
  int B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
  BE(t).batchnorm_backward(t->be->ctx, dx, g->grad, b->grad, e->out->grad, x->data, e->out->data, e->saved,
                           e->saved2, g->data, B, C, HW, e->iarg[0], e->iarg[1], ow, x->dtype);
}

struct dml_tensor *dml_batchnorm(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *gamma,
                                 struct dml_tensor *beta, float *running_mean, float *running_var, float eps,
                                 float momentum, int training, int relu) {
  DML_ASSERT(x->ndim == 4 && (int)gamma->n == x->shape[1]);
  x = act(t, x);
  int B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
  float *mean = dml_arena_alloc(&t->arena, 2 * (size_t)C * sizeof(float)), *invstd = mean + C;
  struct dml_tensor *y = dml_tape_tensor_prec(t, 4, x->shape, x->dtype);
  BE(t).batchnorm_forward(t->be->ctx, y->data, mean, invstd, running_mean, running_var, x->data, gamma->data,
                          beta->data, B, C, HW, eps, momentum, training, relu, x->dtype);
  y->needs_grad = t->record;
  if (t->record) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = bn_bw;
    e->in[0] = x; e->in[1] = gamma; e->in[2] = beta;
    e->saved = mean;
    e->saved2 = invstd;
    e->iarg[0] = training;
    e->iarg[1] = relu;
    e->unread = relu ? 0u : DML_UNREAD_OUT; /* y only for the fused ReLU's mask */
  }
  return y;
}

// ---------------------------------------------------------------------------------------------- pooling

static void pool_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0];
  if (!wants_grad(x)) return;
  dml_tape_need_grad(t, x);
  BE(t).pool2d_backward(t->be->ctx, x->grad, e->out->grad, e->isaved, &e->cs, e->iarg[0]);
}

/* torch's pooling output size: floor or ceil, and in ceil mode the last window must start inside the input or
 * the left padding */
static int pool_out(int H, int k, int s, int p, int ceil_mode) {
  int o = (H + 2 * p - k + (ceil_mode ? s - 1 : 0)) / s + 1;
  if (ceil_mode && (o - 1) * s >= H + p) o--;
  return o;
}

struct dml_tensor *dml_pool2d(struct dml_tape *t, struct dml_tensor *x, int kind, int k, int stride, int pad,
                              int ceil_mode) {
  DML_ASSERT(x->ndim == 4);
  x = act(t, x);
  struct dml_conv_shape s = {.B = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                             .OC = x->shape[1], .KH = k, .KW = k, .SH = stride, .SW = stride, .PH = pad, .PW = pad,
                             .prec = x->dtype};
  s.OH = pool_out(s.H, k, stride, pad, ceil_mode);
  s.OW = pool_out(s.W, k, stride, pad, ceil_mode);
  int32_t *idx = kind == DML_POOL_MAX
                     ? dml_arena_alloc(&t->arena, (size_t)s.B * s.C * s.OH * s.OW * sizeof(int32_t)) : NULL;
  struct dml_tensor *y = dml_tape_tensor_prec(t, 4, (int[]){s.B, s.C, s.OH, s.OW}, x->dtype);
  BE(t).pool2d_forward(t->be->ctx, y->data, idx, x->data, &s, kind);
  y->needs_grad = t->record;
  if (t->record) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = pool_bw;
    e->in[0] = x;
    e->unread = DML_UNREAD_OUT | DML_UNREAD_IN(0); /* indices or the window geometry only */
    e->isaved = idx;
    e->iarg[0] = kind;
    e->cs = s;
  }
  return y;
}

static void gpool_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0];
  if (!wants_grad(x)) return;
  dml_tape_need_grad(t, x);
  BE(t).global_pool_backward(t->be->ctx, x->grad, e->out->grad, e->isaved, x->shape[0], x->shape[1],
                             x->shape[2] * x->shape[3], e->iarg[0], x->dtype);
}

struct dml_tensor *dml_global_pool(struct dml_tape *t, struct dml_tensor *x, int kind) {
  DML_ASSERT(x->ndim == 4);
  int B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
  int32_t *idx = kind == DML_POOL_MAX ? dml_arena_alloc(&t->arena, (size_t)B * C * sizeof(int32_t)) : NULL;
  struct dml_tensor *y = dml_tape_tensor(t, 2, (int[]){B, C}); /* float32 features */
  BE(t).global_pool_forward(t->be->ctx, y->data, idx, x->data, B, C, HW, kind, x->dtype);
  y->needs_grad = t->record;
  if (t->record) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = gpool_bw;
    e->in[0] = x;
    e->unread = DML_UNREAD_OUT | DML_UNREAD_IN(0);
    e->isaved = idx;
    e->iarg[0] = kind;
  }
  return y;
}

// ---------------------------------------------------------------------------------------------- add

static void add_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *a = e->in[0], *b = e->in[1];
  float *da = NULL, *db = NULL;
  int owa = 0, owb = 0;
  if (wants_grad(a)) da = dml_tape_grad_for_write(t, a, &owa);
  if (wants_grad(b)) db = dml_tape_grad_for_write(t, b, &owb);
  BE(t).add_backward(t->be->ctx, da, db, e->out->grad, e->out->data, e->out->n, e->iarg[0], owa | owb << 1,
                     e->out->dtype);
}

struct dml_tensor *dml_add(struct dml_tape *t, struct dml_tensor *a, struct dml_tensor *b, int relu) {
  DML_ASSERT(a->n == b->n && a->ndim == b->ndim);
  if (a->ndim == 4) {
    a = act(t, a);
    b = act(t, b);
  }
  DML_ASSERT(a->dtype == b->dtype);
  struct dml_tensor *y = dml_tape_tensor_prec(t, a->ndim, a->shape, a->dtype);
  BE(t).add_forward(t->be->ctx, y->data, a->data, b->data, a->n, relu, a->dtype);
  y->needs_grad = t->record;
  if (t->record) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = add_bw;
    e->in[0] = a; e->in[1] = b;
    e->iarg[0] = relu;
    e->unread = DML_UNREAD_IN(0) | DML_UNREAD_IN(1) | (relu ? 0u : DML_UNREAD_OUT);
  }
  return y;
}

// ---------------------------------------------------------------------------------------------- concat

static void concat_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *y = e->out;
  int B = y->shape[0], Ctot = y->shape[1], HW = y->shape[2] * y->shape[3], c0 = 0;
  for (int i = 0; i < e->nlist; i++) {
    struct dml_tensor *x = e->list[i];
    if (wants_grad(x)) {
      dml_tape_need_grad(t, x);
      BE(t).concat_backward(t->be->ctx, x->grad, y->grad, B, Ctot, c0, x->shape[1], HW, y->dtype);
    }
    c0 += x->shape[1];
  }
}

struct dml_tensor *dml_concat(struct dml_tape *t, struct dml_tensor *const *xs_in, int n) {
  DML_ASSERT(n >= 1 && n <= 64 && xs_in[0]->ndim == 4);
  struct dml_tensor *xs[64];
  for (int i = 0; i < n; i++) xs[i] = act(t, xs_in[i]);
  int Ctot = 0;
  for (int i = 0; i < n; i++) {
    DML_ASSERT(xs[i]->ndim == 4 && xs[i]->shape[0] == xs[0]->shape[0] && xs[i]->shape[2] == xs[0]->shape[2] &&
               xs[i]->shape[3] == xs[0]->shape[3]);
    Ctot += xs[i]->shape[1];
  }
  int B = xs[0]->shape[0], H = xs[0]->shape[2], W = xs[0]->shape[3];
  struct dml_tensor *y = dml_tape_tensor_prec(t, 4, (int[]){B, Ctot, H, W}, t->prec);
  for (int i = 0, c0 = 0; i < n; c0 += xs[i]->shape[1], i++)
    BE(t).concat_forward(t->be->ctx, y->data, xs[i]->data, B, Ctot, c0, xs[i]->shape[1], H * W, t->prec);
  y->needs_grad = t->record;
  if (t->record) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = concat_bw;
    e->list = xmalloc((size_t)n * sizeof *e->list);
    memcpy(e->list, xs, (size_t)n * sizeof *e->list);
    e->nlist = n;
    e->unread = DML_UNREAD_OUT | DML_UNREAD_LIST;
  }
  return y;
}

// ---------------------------------------------------------------------------------------------- dropout

static void dropout_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0];
  if (!wants_grad(x)) return;
  dml_tape_need_grad(t, x);
  BE(t).mul_backward(t->be->ctx, x->grad, e->out->grad, e->saved, x->n);
}

struct dml_tensor *dml_dropout(struct dml_tape *t, struct dml_tensor *x, float p) {
  if (!t->record || p <= 0) return x;
  DML_ASSERT(p < 1 && x->dtype == DML_FP32);
  float *host = xmalloc(x->n * sizeof *host), keep = 1.0f / (1.0f - p);
  struct dml_rng r = dml_rng_init(t->seed, DML_RNG_DROPOUT, t->step, t->calls++);
  for (size_t i = 0; i < x->n; i++) host[i] = dml_rng_uniformf(&r) < p ? 0.0f : keep;
  float *mask = dml_arena_alloc(&t->arena, x->n * sizeof *mask);
  BE(t).to_device(t->be->ctx, mask, host, x->n * sizeof *mask);
  free(host);
  struct dml_tensor *y = dml_tape_tensor(t, x->ndim, x->shape);
  BE(t).mul_forward(t->be->ctx, y->data, x->data, mask, x->n);
  y->needs_grad = 1;
  struct dml_tape_entry *e = last_entry(t);
  e->backward = dropout_bw;
  e->in[0] = x;
  e->unread = DML_UNREAD_OUT | DML_UNREAD_IN(0);
  e->saved = mask;
  return y;
}
