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

/* a counting arena (no memory) hands out 64 + offset: sizes only, pointers that must never be dereferenced */
static char *arena_ptr(const struct dml_arena *a, size_t off) { return a->base ? a->base + off : (char *)(uintptr_t)(64 + off); }
static size_t arena_off(const struct dml_arena *a, const void *p) {
  return a->base ? (size_t)((const char *)p - a->base) : (size_t)((uintptr_t)p - 64);
}

static void hole_remove(struct dml_arena *a, int i) {
  memmove(a->holes + i, a->holes + i + 1, (size_t)(a->nholes - i - 1) * sizeof *a->holes);
  a->nholes--;
}

void *dml_arena_alloc(struct dml_arena *a, size_t bytes) {
  size_t need = (bytes + 63) / 64 * 64, off;
  int best = -1;
  for (int i = 0; i < a->nholes; i++) /* best fit; the first (lowest) of equal holes */
    if (a->holes[i].len >= need && (best < 0 || a->holes[i].len < a->holes[best].len)) best = i;
  if (need && best >= 0) {
    off = a->holes[best].off;
    a->holes[best].off += need;
    a->holes[best].len -= need;
    if (!a->holes[best].len) hole_remove(a, best);
  } else {
    /* the top; a hole that ends at the top cannot exist (release merges it into the top) */
    if (a->used + need > a->cap || a->used + need < a->used)
      DML_ABORT("step arena full: %zu of %zu MiB in use, %zu more bytes asked (raise the arena size)",
                a->live >> 20, a->cap >> 20, bytes);
    off = a->used;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
  }
  a->live += need;
  return arena_ptr(a, off);
}

void dml_arena_release(struct dml_arena *a, void *p, size_t bytes) {
  size_t need = (bytes + 63) / 64 * 64;
  if (!p || !need) return;
  size_t off = arena_off(a, p);
  DML_ASSERT(dml_arena_owns(a, p) && off % 64 == 0 && off + need <= a->used && need <= a->live);
  a->live -= need;
  int i = 0; /* the first hole above the block */
  while (i < a->nholes && a->holes[i].off < off) i++;
  DML_ASSERT((i == 0 || a->holes[i - 1].off + a->holes[i - 1].len <= off) &&
             (i == a->nholes || off + need <= a->holes[i].off)); /* not released twice */
  if (i > 0 && a->holes[i - 1].off + a->holes[i - 1].len == off) { /* merge with the hole below */
    i--;
    a->holes[i].len += need;
  } else {
    if (a->nholes == a->capholes) {
      a->capholes = a->capholes ? 2 * a->capholes : 64;
      a->holes = xrealloc(a->holes, (size_t)a->capholes * sizeof *a->holes);
    }
    memmove(a->holes + i + 1, a->holes + i, (size_t)(a->nholes - i) * sizeof *a->holes);
    a->holes[i] = (struct dml_arena_hole){off, need};
    a->nholes++;
  }
  if (i + 1 < a->nholes && a->holes[i].off + a->holes[i].len == a->holes[i + 1].off) { /* and the one above */
    a->holes[i].len += a->holes[i + 1].len;
    hole_remove(a, i + 1);
  }
  if (a->holes[i].off + a->holes[i].len == a->used) { /* the top comes down */
    a->used = a->holes[i].off;
    hole_remove(a, i);
  }
}

int dml_arena_owns(const struct dml_arena *a, const void *p) {
  if (a->base) return (const char *)p >= a->base && (const char *)p < a->base + a->used;
  return (uintptr_t)p >= 64 && (uintptr_t)p - 64 < a->used;
}

void dml_arena_reset(struct dml_arena *a) {
  a->used = 0;
  a->live = 0;
  a->nholes = 0;
}

void dml_arena_free(struct dml_arena *a) {
  if (a->base && a->be) a->be->fn.release(a->be->ctx, a->base);
  a->base = NULL;
  free(a->holes);
  a->holes = NULL;
  a->nholes = a->capholes = 0;
}

// ---------------------------------------------------------------------------------------------- tape

/* $DML_TAPE_KEEP set and not "0": keep every tensor until the reset (the memory of the bump arena before) */
static int keep_from_env(void) {
  const char *v = getenv("DML_TAPE_KEEP");
  return v && *v && strcmp(v, "0") != 0;
}

void dml_tape_init(struct dml_tape *t, struct dml_backend *be, size_t arena_bytes) {
  memset(t, 0, sizeof *t);
  t->be = be;
  dml_arena_init(&t->arena, be, arena_bytes);
  t->cap = 64;
  t->e = xcalloc((size_t)t->cap, sizeof *t->e);
  t->record = 1;
  t->keep = keep_from_env();
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
  t->keep = keep_from_env();
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
  size_t bytes = x->n * dml_prec_size(prec);
  x->data = dml_arena_alloc(&t->arena, bytes);
  /* headers are freed with the entries that own them; inputs are tracked as entries without backward */
  if (t->n == t->cap) {
    t->cap *= 2;
    t->e = xrealloc(t->e, (size_t)t->cap * sizeof *t->e);
  }
  t->e[t->n++] = (struct dml_tape_entry){.backward = NULL, .out = x, .list = NULL, .mem = x->data, .mem_bytes = bytes};
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
  /* the roots: tensors whose gradient the caller set (no recorded op writes a gradient before this call) */
  unsigned char *root = xcalloc((size_t)t->n + 1, 1);
  for (int i = 0; i < t->n; i++) root[i] = t->e[i].out->grad != NULL;
  for (int i = t->n - 1; i >= 0; i--) {
    struct dml_tape_entry *e = &t->e[i];
    if (e->backward && e->out->grad) e->backward(t, e);
    if (t->keep || !e->backward || root[i]) continue;
    /* entry i was the last user of e->out: its consumers (entries > i) have run */
    struct dml_tensor *y = e->out;
    size_t bytes = y->n * dml_tensor_elem_size(y);
    if (y->grad && dml_arena_owns(&t->arena, y->grad)) {
      dml_arena_release(&t->arena, y->grad, bytes);
      y->grad = NULL;
    }
    /* the block made with the header: the data, or for a view (whose data its source releases) a stub */
    if (e->mem) dml_arena_release(&t->arena, e->mem, e->mem_bytes);
    if (y->data == e->mem || dml_arena_owns(&t->arena, y->data)) y->data = NULL;
    e->mem = NULL;
  }
  free(root);
}

void dml_tape_done(struct dml_tape *t, struct dml_tensor *x) {
  if (t->keep || !x) return;
  int i = t->n - 1;
  while (i >= 0 && t->e[i].out != x) i--;
  if (i < 0) return;
  struct dml_tape_entry *p = &t->e[i];
  if (!p->mem || x->data != p->mem) return; /* a view, or released already */
  if (t->record) {
    if (!p->backward || !(p->unread & DML_UNREAD_OUT)) return; /* a leaf (the caller's), or its backward reads it */
    for (int j = i + 1; j < t->n; j++) {
      const struct dml_tape_entry *c = &t->e[j];
      if (!c->backward) continue; /* nothing of it runs in the backward */
      for (int k = 0; k < 3; k++)
        if (c->in[k] == x && !(c->unread & DML_UNREAD_IN(k))) return;
      for (int k = 0; k < c->nlist; k++)
        if (c->list[k] == x && !(c->unread & DML_UNREAD_LIST)) return;
    }
  }
  dml_arena_release(&t->arena, p->mem, p->mem_bytes);
  p->mem = NULL;
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
    e->unread = DML_UNREAD_OUT | (xr ? DML_UNREAD_IN(0) : 0u); /* under bf16 the GEMM reads the rounded copy */
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
    e->unread = DML_UNREAD_IN(0);
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
    e->unread = DML_UNREAD_IN(0);
    e->saved = norm;
  }
  return y;
}
