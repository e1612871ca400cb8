/* tape — the step arena and the autograd tape: each differentiable op records (backward fn, tensors);
 * dml_tape_backward replays the backward functions of kernels/ops.h in reverse. See nn.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "train/nn/nn.h"

// ---------------------------------------------------------------------------------------------- arena

void dml_arena_init(struct dml_arena *a, struct dml_backend *be, size_t bytes) {
  memset(a, 0, sizeof *a);
  a->be = be;
  a->cap = bytes;
  a->base = be ? be->fn.alloc(be->ctx, bytes) : NULL;
}

void *dml_arena_alloc(struct dml_arena *a, size_t bytes) {
  size_t need = (bytes + 63) / 64 * 64;
  if (!a->base) { /* a counting arena (no memory): sizes only, pointers that must never be dereferenced */
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return (void *)(uintptr_t)(64 + a->used - need);
  }
  if (a->used + need > a->cap)
    DML_ABORT("step arena full: %zu of %zu MiB used, %zu more bytes asked (raise the arena size)",
              a->used >> 20, a->cap >> 20, bytes);
  void *p = a->base + a->used;
  a->used += need;
  if (a->used > a->peak) a->peak = a->used;
  return p;
}

void dml_arena_reset(struct dml_arena *a) { a->used = 0; }

void dml_arena_free(struct dml_arena *a) {
  if (a->base && a->be) a->be->fn.release(a->be->ctx, a->base);
  a->base = NULL;
}

// ---------------------------------------------------------------------------------------------- tape

void dml_tape_init(struct dml_tape *t, struct dml_backend *be, size_t arena_bytes) {
  memset(t, 0, sizeof *t);
  t->be = be;
  dml_arena_init(&t->arena, be, arena_bytes);
  t->cap = 64;
  t->e = xcalloc((size_t)t->cap, sizeof *t->e);
  t->record = 1;
  if (be->fn.step_begin) be->fn.step_begin(be->ctx);
}

void dml_tape_init_counting(struct dml_tape *t, struct dml_backend *be, int prec) {
  memset(t, 0, sizeof *t);
  t->be = be;
  dml_arena_init(&t->arena, NULL, SIZE_MAX);
  t->cap = 64;
  t->e = xcalloc((size_t)t->cap, sizeof *t->e);
  t->record = 1;
  t->prec = prec;
  t->count_only = 1;
}

void dml_tape_reset(struct dml_tape *t) {
  /* free the host headers of every arena tensor of the step */
  for (int i = 0; i < t->n; i++) {
    free(t->e[i].out);
    free(t->e[i].list);
  }
  t->n = 0;
  t->calls = 0;
  dml_arena_reset(&t->arena);
  /* parameters may have changed since the last step (optimizer, loading): weight copies are refreshed */
  if (!t->count_only && t->be && t->be->fn.step_begin) t->be->fn.step_begin(t->be->ctx);
}

void dml_tape_free(struct dml_tape *t) {
  dml_tape_reset(t);
  dml_arena_free(&t->arena);
  free(t->e);
  t->e = NULL;
}

size_t dml_tensor_elem_size(const struct dml_tensor *x) { return dml_prec_size(x->dtype); }

struct dml_tensor *dml_tape_tensor(struct dml_tape *t, int ndim, const int *shape) {
  return dml_tape_tensor_prec(t, ndim, shape, DML_FP32);
}

struct dml_tensor *dml_tape_tensor_prec(struct dml_tape *t, int ndim, const int *shape, int prec) {
  /* the tensor header lives in host memory even for a device backend: one small malloc-free slot */
  struct dml_tensor *x = (struct dml_tensor *)xcalloc(1, sizeof *x);
  x->ndim = ndim;
  x->n = 1;
  for (int i = 0; i < ndim; i++) {
    x->shape[i] = shape[i];
    x->n *= (size_t)shape[i];
  }
  x->dtype = prec;
  x->data = dml_arena_alloc(&t->arena, x->n * dml_prec_size(prec));
  /* headers are freed with the entries that own them; inputs are tracked as entries without backward */
  if (t->n == t->cap) {
    t->cap *= 2;
    t->e = xrealloc(t->e, (size_t)t->cap * sizeof *t->e);
  }
  t->e[t->n++] = (struct dml_tape_entry){.backward = NULL, .out = x, .list = NULL};
  return x;
}

struct dml_tensor *dml_tape_input(struct dml_tape *t, const float *host, int B, int D) {
  struct dml_tensor *x = dml_tape_tensor(t, 2, (int[]){B, D});
  if (!t->count_only) t->be->fn.to_device(t->be->ctx, x->data, host, x->n * sizeof(float));
  return x;
}

void dml_tape_need_grad(struct dml_tape *t, struct dml_tensor *x) {
  if (x->grad) return;
  x->grad = dml_arena_alloc(&t->arena, x->n * dml_tensor_elem_size(x));
  if (!t->count_only) t->be->fn.zero(t->be->ctx, x->grad, x->n * dml_tensor_elem_size(x));
}

/* Record the backward of the entry that produced the most recent tensor. */
static struct dml_tape_entry *last_entry(struct dml_tape *t) { return &t->e[t->n - 1]; }

void dml_tape_backward(struct dml_tape *t) {
  for (int i = t->n - 1; i >= 0; i--) {
    struct dml_tape_entry *e = &t->e[i];
    if (e->backward && e->out->grad) e->backward(t, e);
  }
}

// ---------------------------------------------------------------------------------------------- ops

static void linear_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0], *w = e->in[1], *b = e->in[2];
  int B = x->shape[0], C = x->shape[1], OC = w->shape[0];
  if (e->iarg[0]) dml_tape_need_grad(t, x);
  if (t->count_only) return;
  /* under bf16 the forward's rounded copies (saved, saved2) are the GEMM's operands */
  t->be->fn.linear_backward(t->be->ctx, e->iarg[0] ? x->grad : NULL, w->grad, b ? b->grad : NULL, e->out->grad,
                            e->saved ? e->saved : x->data, e->saved2 ? e->saved2 : w->data, B, C, OC);
}

struct dml_tensor *dml_linear(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *w, struct dml_tensor *b) {
  int B = x->shape[0], C = x->shape[1], OC = w->shape[0];
  DML_ASSERT(w->shape[1] == C && x->dtype == DML_FP32);
  const float *xd = x->data, *wd = w->data;
  float *xr = NULL, *wr = NULL;
  if (t->prec == DML_BF16) { /* bf16 input and weight copy, float32 accumulation and output */
    xr = dml_arena_alloc(&t->arena, x->n * sizeof(float));
    wr = dml_arena_alloc(&t->arena, w->n * sizeof(float));
    if (!t->count_only) {
      t->be->fn.round_bf16(t->be->ctx, xr, x->data, x->n);
      t->be->fn.round_bf16(t->be->ctx, wr, w->data, w->n);
    }
    xd = xr;
    wd = wr;
  }
  struct dml_tensor *y = dml_tape_tensor(t, 2, (int[]){B, OC});
  if (!t->count_only) t->be->fn.linear_forward(t->be->ctx, y->data, xd, wd, b ? b->data : NULL, B, C, OC);
  struct dml_tape_entry *e = last_entry(t);
  y->needs_grad = t->record;
  if (t->record) {
    e->backward = linear_bw;
    e->in[0] = x; e->in[1] = w; e->in[2] = b;
    e->saved = xr;
    e->saved2 = wr;
    /* the network input needs no gradient: only propagate into tensors made by a recorded op */
    e->iarg[0] = 0;
    for (int i = 0; i < t->n - 1; i++)
      if (t->e[i].out == x && t->e[i].backward) e->iarg[0] = 1;
  }
  return y;
}

static void relu_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  dml_tape_need_grad(t, e->in[0]);
  if (!t->count_only) t->be->fn.relu_backward(t->be->ctx, e->in[0]->grad, e->out->grad, e->out->data, e->out->n);
}

struct dml_tensor *dml_relu(struct dml_tape *t, struct dml_tensor *x) {
  DML_ASSERT(x->dtype == DML_FP32);
  struct dml_tensor *y = dml_tape_tensor(t, x->ndim, x->shape);
  if (!t->count_only) t->be->fn.relu_forward(t->be->ctx, y->data, x->data, x->n);
  y->needs_grad = t->record;
  if (t->record) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = relu_bw;
    e->in[0] = x;
  }
  return y;
}

static void l2norm_bw(struct dml_tape *t, struct dml_tape_entry *e) {
  struct dml_tensor *x = e->in[0];
  dml_tape_need_grad(t, x);
  if (!t->count_only) t->be->fn.l2norm_backward(t->be->ctx, x->grad, e->out->grad, e->out->data, e->saved, x->shape[0], x->shape[1]);
}

struct dml_tensor *dml_l2norm(struct dml_tape *t, struct dml_tensor *x) {
  int B = x->shape[0], D = x->shape[1];
  float *norm = dml_arena_alloc(&t->arena, (size_t)B * sizeof(float));
  struct dml_tensor *y = dml_tape_tensor(t, 2, (int[]){B, D});
  if (!t->count_only) t->be->fn.l2norm_forward(t->be->ctx, y->data, norm, x->data, B, D);
  y->needs_grad = t->record;
  if (t->record) {
    struct dml_tape_entry *e = last_entry(t);
    e->backward = l2norm_bw;
    e->in[0] = x;
    e->saved = norm;
  }
  return y;
}
