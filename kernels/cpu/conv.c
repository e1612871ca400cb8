/* conv (CPU) — 2-D convolution forward / backward-data / backward-weights on oneDNN 2.6 primitives.
 *
 * Contract (kernels/ops.h): activations are float32 NCHW (DML_FP32) or bfloat16 NHWC (DML_BF16), weights OIHW
 * float32; every primitive is created with format_tag_any so oneDNN picks its layouts, and we reorder into and out
 * of them around a call where they differ from ours (bf16 on AMX / AVX512-BF16 picks NHWC: no activation
 * reorder). Weights are reordered (and rounded to bf16) into the primitive's layout once per step when the
 * caller brackets steps with step_begin (the tape does), else per call; in bf16 every layout is made from one bf16
 * OIHW copy (one pass over the float32 weights, folded by the batch norm where there is one). In bf16, forward and
 * backward-data run on bf16 weights, backward-weights writes float32 weight and bias gradients.
 * Primitive descriptors, primitives and reorders are created once per convolution shape and cached in the CPU
 * backend context (struct dml_cpu_ctx); blocked intermediates live in the context's growable scratch buffers.
 * Gradients for weights and bias are accumulated (`+=`) after a reorder into plain layout; the input gradient
 * is written directly when the caller allows overwriting, else accumulated through a scratch buffer.
 * bf16 as matmuls (where oneDNN has its brgemm matmul: AVX512-BF16 or AMX; else the convolution primitives stay),
 * because oneDNN 2.6 has no brgemm backward convolution and its jit AMX ones are slow for these shapes. NHWC makes
 * x an (R = B·H·W) × C matrix and dy an R × OC one:
 *  - backward weights: dw = dyᵀ·x for 1×1 stride 1, else Σ over image chunks of dyᵀ·im2col(x) (mm_w); where an
 *    output side is ≤ 64, in conv_bwd_threads fixed parts of the batch side by side (mm_split_rule, mm_w_parts);
 *  - backward data: dx = dy·W for 1×1 stride 1 (W the bf16 OIHW copy, = OC × C; `+=` by the sum post-op, so dx
 *    is rounded once); 1×1 stride > 1: dy·W into a compact float32 scratch scattered onto the sampled pixels;
 *    3×3 with C ≥ 256 and stride 2 or ≤ 64 output pixels: dcol = dy·W (W as OHWI, OC × KH·KW·C) per image chunk,
 *    then col2im (each dx pixel sums its windows in a fixed order, rounded once); other shapes keep oneDNN's jit
 *    kernel, which was faster there (mmd_col_rule: a fixed rule on the shape).
 * A frozen batch norm (+ ReLU) after a convolution is folded into it (conv2d_bn_forward: weights scaled per output
 * channel, a bias, ReLU as a post-op) in training as in inference; its backward masks dy by y > 0 in place (in bf16
 * in the same pass as the bias gradient's column sum), runs backward-data on the folded weights and
 * backward-weights with the bias, and maps the folded gradients back to w, γ and β by the chain rule, so the batch
 * norm costs no pass over the activations and its input is never stored.
 * fp32 1×1 stride 1 without bias as NCHW matmuls (brgemm, AVX-512; f32_mm_rule on the pixels per image), which
 * removes the nChw16c activation reorders around oneDNN's fp32 1×1 kernel: y_b = W·x_b, dx_b = Wᵀ·dy_b (W read in
 * place as OIHW = OC × C; `+=` by the sum post-op), dw = Σ_b dy_b·x_bᵀ (B partial products summed in order).
 * Algorithm: convolution_direct (no Winograd), forward_training propagation (its descriptor hints both
 * backward primitives).
 * Determinism: forward and backward-data give every output element to one thread (no split reduction), but
 * backward-weights splits the reduction over the minibatch across threads, decided from the thread count when its
 * primitive descriptor is created, and the primitive then always runs with that many threads. We create it, and
 * every matmul (whose K split is planned the same way), under a fixed count (struct dml_backend_config's
 * conv_bwd_threads, default 2, recorded by dml-train), so gradients are bitwise the same whatever OMP_NUM_THREADS
 * is (measured: with the count taken from OMP_NUM_THREADS, 1 and 2 threads differ at batch 16); a backward-weights
 * matmul split in parts has that many, each planned for one thread, added in part order; our own passes
 * (col2im, the scatter, column sums) give each output to one thread or sum fixed blocks in order. Every oneDNN
 * call is checked by DNNL_CHECK, which aborts naming the statement: a failure here is a library or programming
 * error, not a user input error (shapes are validated by the caller).
 */
#include <math.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "kernels/cpu/cpu.h"

#if DNNL_VERSION_MAJOR != 2
#error "kernels/cpu/conv.c is written against the oneDNN 2.x C API"
#endif

#define DNNL_CHECK(call)                                                                   \
  do {                                                                                     \
    dnnl_status_t s_ = (call);                                                             \
    if (s_ != dnnl_success) DML_ABORT("oneDNN: %s failed with status %d", #call, (int)s_); \
  } while (0)

/* a tensor as one primitive wants it: same as ours (no reorder) or another layout with a reorder primitive */
struct slot {
  dnnl_memory_desc_t md;
  int same;
  dnnl_primitive_t reo; /* user → md for inputs, md → user for outputs; NULL when same */
  dnnl_primitive_t reo_bf; /* bf16 weights: bf16 OIHW → md, made on first use (NULL until then) */
  size_t bytes;
};

struct conv_entry {
  struct dml_conv_shape s;
  int has_bias;
  int relu;                                   /* 0 plain; batch norm folded (bias): 1 with a ReLU post-op, 2 without */
  dnnl_memory_desc_t u_src, u_wei, u_bias, u_dst;
  dnnl_memory_desc_t u_wei_bf;                /* bf16 OIHW: the step's one bf16 copy of the (folded) weights */
  dnnl_primitive_desc_t fwd_pd, bwd_data_pd, bwd_w_pd;
  dnnl_primitive_t fwd, bwd_data, bwd_w;
  struct slot f_src, f_wei, f_dst;            /* forward */
  struct slot d_ddst, d_wei, d_dsrc;          /* backward data */
  struct slot w_src, w_ddst, w_dwei;          /* backward weights */
  dnnl_primitive_t dsrc_acc;                  /* diff_src blocked → plain with accumulation (sum post-op) */
  dnnl_primitive_t mm_w;                      /* bf16 backward weights as a matmul dyᵀ·x (1×1 stride 1) or, per
                                                 chunk of images, dyᵀ·im2col(x); or NULL */
  int mm_im2col;                              /* images per im2col matmul (a divisor of B), 0: 1×1 stride 1 */
  int mm_parts;                               /* > 1: the reduction split in this many fixed parts of the batch, each
                                                 a matmul planned for one thread, run side by side (mm_split_rule) */
  dnnl_memory_desc_t mm_scr;                  /* a part's oneDNN scratchpad (user mode) */
  dnnl_memory_desc_t mm_a, mm_b, mm_c;        /* dyᵀ (OC × R, a strided view of NHWC dy), x (R × C·KH·KW), dw */
  int mmd;                                    /* bf16 backward data as matmuls (MMD_*), 0: the jit convolution */
  dnnl_primitive_t mmd_set, mmd_acc;          /* dy·W into dx (`=`) and with the sum post-op (`+=`), or into scratch */
  int mmd_nb;                                 /* MMD_COL: images per chunk (a divisor of B) */
  dnnl_memory_desc_t mmd_a, mmd_b, mmd_c;     /* dy (R × OC), W (OC × KH·KW·C), dx / compact dx / dcol */
  struct slot m_wei;                          /* bf16 OIHW (1×1) or OHWI weights of the matmul */
  /* fp32 1×1 stride 1 without bias as NCHW matmuls (x_b a C × HW matrix, y_b OC × HW, W = OIHW = OC × C), each
   * or NULL (the convolution primitive and its activation reorders): forward y_b = W·x_b (batched, W broadcast),
   * backward data dx_b = Wᵀ·dy_b (`=` and `+=` by the sum post-op), backward weights dw = Σ_b dy_b·x_bᵀ (batched
   * into B partial OC × C products in scratch 9, summed over b in order) */
  dnnl_primitive_t f32_fwd, f32_bd_set, f32_bd_acc, f32_bw;
  dnnl_memory_desc_t f32_fa, f32_fb, f32_fc, f32_da, f32_db, f32_dc, f32_wa, f32_wb, f32_wc;
};

/* backward data as matmuls on NHWC bf16 (R = rows of dy, one per output pixel):
 * MMD_1X1     1×1 stride 1: dx (B·H·W × C) = dy·W, written or accumulated by the sum post-op;
 * MMD_STRIDED 1×1 stride > 1: dy·W into a compact float32 scratch, then scattered to the sampled pixels of dx;
 * MMD_COL     any other kernel: dcol = dy·W (W as OC × (KH·KW·C)) per chunk of images into float32, then col2im
 *             (every dx pixel gathers its windows in a fixed order). */
enum { MMD_1X1 = 1, MMD_STRIDED = 2, MMD_COL = 3 };

/* a weight tensor reordered into one primitive's layout, valid for the step it was made in */
struct wcopy {
  const float *w;
  int folded;           /* 1: w scaled per output channel by a frozen batch norm (conv2d_bn_forward) */
  dnnl_memory_desc_t md;
  void *buf;
  size_t bytes;
  unsigned long epoch;
};

#define MAX_PARTS 8

struct dml_cpu_ctx {
  dnnl_engine_t eng;
  dnnl_stream_t st;
  dnnl_stream_t pst[MAX_PARTS]; /* one stream per part of a split backward-weights matmul (made on first use) */
  struct conv_entry *conv;
  int n_conv, cap_conv;
  int bwd_threads;     /* thread count backward-weights primitives are planned (and run) with */
  void *scratch[12];
  size_t scratch_bytes[12]; /* 0 diff_dst, 1 weights/src, 2 blocked outputs, 3 plain dx, 4 plain dw,
                              5 db, 6 diff_dst (weights layout), 7 folded weights, 8 batch-norm scale and shift,
                              9 im2col, dcol or compact dx, 10 column sums' partial blocks, 11 the parts'
                              scratchpads */
  struct wcopy *wc;    /* weight copies (step_begin bumps epoch; epoch 0: no copies kept) */
  int n_wc, cap_wc;
  unsigned long epoch;
  char isa[2][64];     /* per precision: the ISA of the first forward convolution planned */
};

struct dml_cpu_ctx *dml_cpu_ctx_new(void) {
  struct dml_cpu_ctx *c = xcalloc(1, sizeof *c);
  DNNL_CHECK(dnnl_engine_create(&c->eng, dnnl_cpu, 0));
  DNNL_CHECK(dnnl_stream_create(&c->st, c->eng, dnnl_stream_default_flags));
  c->bwd_threads = 2;
  return c;
}

static void conv_cache_clear(struct dml_cpu_ctx *c);
static dnnl_primitive_t mm_create(struct dml_cpu_ctx *c, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                                  const dnnl_memory_desc_t *d, int sum);
static dnnl_primitive_t mm_make(struct dml_cpu_ctx *c, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                                const dnnl_memory_desc_t *d, int sum, int threads, dnnl_memory_desc_t *scr);

void dml_cpu_configure(void *ctx, const struct dml_backend_config *cfg) {
  struct dml_cpu_ctx *c = ctx;
  int n = cfg->conv_bwd_threads > 0 ? cfg->conv_bwd_threads : 2;
  if (n != c->bwd_threads) conv_cache_clear(c); /* primitives planned under the old count */
  c->bwd_threads = n;
}

int dml_cpu_bf16_supported(void *ctx) {
  /* oneDNN 2.6 has bf16 convolutions on avx512_core and above (AMX, AVX512-BF16 natively, plain AVX-512 emulated);
   * below that, descriptor creation reports unimplemented */
  struct dml_cpu_ctx *c = ctx;
  dnnl_memory_desc_t s, w, d;
  dnnl_dims_t sd = {1, 16, 4, 4}, wd = {16, 16, 3, 3}, st = {1, 1}, pad = {1, 1};
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&s, 4, sd, dnnl_bf16, dnnl_nhwc));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_bf16, dnnl_format_tag_any));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d, 4, sd, dnnl_bf16, dnnl_nhwc));
  dnnl_convolution_desc_t cd;
  DNNL_CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &s, &w, NULL, &d,
                                                st, pad, pad));
  dnnl_primitive_desc_t pd = NULL;
  int ok = dnnl_primitive_desc_create(&pd, &cd, NULL, c->eng, NULL) == dnnl_success;
  if (pd) dnnl_primitive_desc_destroy(pd);
  return ok;
}

void dml_cpu_step_begin(void *ctx) { ((struct dml_cpu_ctx *)ctx)->epoch++; }

const char *dml_cpu_conv_isa(void *ctx, int prec) {
  struct dml_cpu_ctx *c = ctx;
  return c->isa[prec == DML_BF16][0] ? c->isa[prec == DML_BF16] : NULL;
}

static void slot_free(struct slot *s) {
  if (s->reo) dnnl_primitive_destroy(s->reo);
  if (s->reo_bf) dnnl_primitive_destroy(s->reo_bf);
}

static void conv_cache_clear(struct dml_cpu_ctx *c) {
  for (int i = 0; i < c->n_conv; i++) {
    struct conv_entry *e = &c->conv[i];
    dnnl_primitive_destroy(e->fwd);
    dnnl_primitive_destroy(e->bwd_data);
    dnnl_primitive_destroy(e->bwd_w);
    dnnl_primitive_desc_destroy(e->fwd_pd);
    dnnl_primitive_desc_destroy(e->bwd_data_pd);
    dnnl_primitive_desc_destroy(e->bwd_w_pd);
    struct slot *sl[] = {&e->f_src, &e->f_wei, &e->f_dst, &e->d_ddst, &e->d_wei, &e->d_dsrc, &e->w_src, &e->w_ddst, &e->w_dwei};
    for (size_t k = 0; k < sizeof sl / sizeof *sl; k++) slot_free(sl[k]);
    if (e->dsrc_acc) dnnl_primitive_destroy(e->dsrc_acc);
    if (e->mm_w) dnnl_primitive_destroy(e->mm_w);
    if (e->mmd_set) dnnl_primitive_destroy(e->mmd_set);
    if (e->mmd_acc) dnnl_primitive_destroy(e->mmd_acc);
    dnnl_primitive_t f32p[] = {e->f32_fwd, e->f32_bd_set, e->f32_bd_acc, e->f32_bw};
    for (size_t k = 0; k < sizeof f32p / sizeof *f32p; k++)
      if (f32p[k]) dnnl_primitive_destroy(f32p[k]);
    slot_free(&e->m_wei);
  }
  c->n_conv = 0;
  for (int i = 0; i < c->n_wc; i++) free(c->wc[i].buf);
  c->n_wc = 0;
}

void dml_cpu_ctx_free(void *ctx) {
  struct dml_cpu_ctx *c = ctx;
  if (!c) return;
  conv_cache_clear(c);
  free(c->conv);
  free(c->wc);
  for (int k = 0; k < 12; k++) free(c->scratch[k]);
  for (int p = 0; p < MAX_PARTS; p++)
    if (c->pst[p]) dnnl_stream_destroy(c->pst[p]);
  dnnl_stream_destroy(c->st);
  dnnl_engine_destroy(c->eng);
  free(c);
}

/* scratch buffer k of at least `bytes` (contents not kept across calls) */
void *dml_cpu_scratch(struct dml_cpu_ctx *c, int k, size_t bytes) {
  if (c->scratch_bytes[k] < bytes) {
    free(c->scratch[k]);
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes)) DML_ABORT("out of memory allocating %zu bytes of conv scratch", bytes);
    c->scratch[k] = p;
    c->scratch_bytes[k] = bytes;
  }
  return c->scratch[k];
}

static void slot_init(struct dml_cpu_ctx *c, struct slot *s, const dnnl_memory_desc_t *user, const dnnl_memory_desc_t *chosen,
                      int input) {
  s->md = *chosen;
  s->same = dnnl_memory_desc_equal(user, chosen);
  s->bytes = dnnl_memory_desc_get_size(chosen);
  s->reo = s->reo_bf = NULL;
  if (s->same) return;
  dnnl_primitive_desc_t pd;
  if (input)
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, user, c->eng, chosen, c->eng, NULL));
  else
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, chosen, c->eng, user, c->eng, NULL));
  DNNL_CHECK(dnnl_primitive_create(&s->reo, pd));
  dnnl_primitive_desc_destroy(pd);
}

static dnnl_memory_t mem(struct dml_cpu_ctx *c, const dnnl_memory_desc_t *md, const void *p) {
  dnnl_memory_t m;
  DNNL_CHECK(dnnl_memory_create(&m, md, c->eng, (void *)p));
  return m;
}

static void run_reorder(struct dml_cpu_ctx *c, dnnl_primitive_t reo, const dnnl_memory_desc_t *from_md, const void *from,
                        const dnnl_memory_desc_t *to_md, void *to) {
  dnnl_memory_t a = mem(c, from_md, from), b = mem(c, to_md, to);
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}};
  DNNL_CHECK(dnnl_primitive_execute(reo, c->st, 2, args));
  DNNL_CHECK(dnnl_stream_wait(c->st));
  dnnl_memory_destroy(a);
  dnnl_memory_destroy(b);
}

static void exec(struct dml_cpu_ctx *c, dnnl_primitive_t p, int n, const int *arg, const dnnl_memory_desc_t *const *md,
                 const void *const *ptr) {
  dnnl_exec_arg_t a[6];
  for (int i = 0; i < n; i++) a[i] = (dnnl_exec_arg_t){arg[i], mem(c, md[i], ptr[i])};
  DNNL_CHECK(dnnl_primitive_execute(p, c->st, n, a));
  DNNL_CHECK(dnnl_stream_wait(c->st));
  for (int i = 0; i < n; i++) dnnl_memory_destroy(a[i].memory);
}

/* exec on stream st with the caller's scratchpad (a primitive made in user scratchpad mode) */
static void exec_on(struct dml_cpu_ctx *c, dnnl_stream_t st, dnnl_primitive_t p, const dnnl_memory_desc_t *const *md,
                    const void *const *ptr, const dnnl_memory_desc_t *scr_md, void *scr) {
  const int arg[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD};
  dnnl_exec_arg_t a[4];
  for (int i = 0; i < 4; i++) a[i] = (dnnl_exec_arg_t){arg[i], mem(c, i < 3 ? md[i] : scr_md, i < 3 ? ptr[i] : scr)};
  DNNL_CHECK(dnnl_primitive_execute(p, st, 4, a));
  DNNL_CHECK(dnnl_stream_wait(st));
  for (int i = 0; i < 4; i++) dnnl_memory_destroy(a[i].memory);
}

/* an input tensor in the slot's layout: the user pointer, or a reordered copy in scratch k */
static const void *slot_in(struct dml_cpu_ctx *c, struct slot *s, const dnnl_memory_desc_t *user_md, const void *user, int k) {
  if (s->same) return user;
  void *buf = dml_cpu_scratch(c, k, s->bytes);
  run_reorder(c, s->reo, user_md, user, &s->md, buf);
  return buf;
}

/* the buffer of the weight copy keyed by (key, folded, md): kept for the step when steps are bracketed (*fresh
 * = 1 when it was already made in this step; the caller then uses it as is, else fills it), else scratch k */
static void *wcopy_buf(struct dml_cpu_ctx *c, const float *key, int folded, const dnnl_memory_desc_t *md, size_t bytes,
                       int k, int *fresh) {
  *fresh = 0;
  if (!c->epoch) return dml_cpu_scratch(c, k, bytes);
  struct wcopy *x = NULL;
  for (int i = 0; i < c->n_wc && !x; i++)
    if (c->wc[i].w == key && c->wc[i].folded == folded && dnnl_memory_desc_equal(&c->wc[i].md, md)) x = &c->wc[i];
  if (!x) {
    if (c->n_wc == c->cap_wc) {
      c->cap_wc = c->cap_wc ? 2 * c->cap_wc : 64;
      c->wc = xrealloc(c->wc, (size_t)c->cap_wc * sizeof *c->wc);
    }
    x = &c->wc[c->n_wc++];
    *x = (struct wcopy){.w = key, .folded = folded, .md = *md, .bytes = bytes, .epoch = 0};
    if (posix_memalign(&x->buf, 64, bytes)) DML_ABORT("out of memory allocating %zu bytes of weights", bytes);
  }
  *fresh = x->epoch == c->epoch;
  x->epoch = c->epoch;
  return x->buf;
}

/* weights in the slot's layout: a copy made once per step (epoch) when steps are bracketed, else scratch k */
static const void *wei_in_tag(struct dml_cpu_ctx *c, struct slot *s, const dnnl_memory_desc_t *user_md, const float *w,
                              int k, const float *key, int folded) {
  if (s->same && !folded) return w;
  if (!c->epoch) return s->same ? (const void *)w : slot_in(c, s, user_md, w, k);
  int fresh;
  void *buf = wcopy_buf(c, key, folded, &s->md, s->bytes, k, &fresh);
  if (!fresh) {
    if (s->same)
      memcpy(buf, w, s->bytes);
    else
      run_reorder(c, s->reo, user_md, w, &s->md, buf);
  }
  return buf;
}

static const void *wei_in(struct dml_cpu_ctx *c, struct slot *s, const dnnl_memory_desc_t *user_md, const float *w, int k) {
  return wei_in_tag(c, s, user_md, w, k, w, 0);
}

static void md4(dnnl_memory_desc_t *md, int a, int b, int h, int w, dnnl_data_type_t dt, dnnl_format_tag_t tag) {
  dnnl_dims_t d = {a, b, h, w};
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(md, 4, d, dt, tag));
}

/* which fp32 passes of a convolution run as NCHW matmuls (F32_MM_*): 1×1 stride 1, no padding, no bias (the folded
 * frozen batch norm's entries keep the primitive with its bias and ReLU post-ops), and enough pixels per image for
 * the batched matmul's N = H·W. Measured per ResNet-50 1×1 shape (scratch program, batch 16 @ 56/28/14/7 and 64 @
 * 16/8/4/2, 1 thread, CPU time, best of 5, primitive + its nChw16c activation reorders against oneDNN's
 * brg:avx512_core matmul, load 3.4): forward and backward data gain at H·W ≥ 64 (64→256 @56 fwd 19.1 → 19.3,
 * bwd-data 19.4 → 16.7; 512→128 @28 16.0 → 12.2, 14.9 → 13.1; 64→256 @16 6.7 → 4.5, 6.8 → 4.9; 512→128 @8 5.8
 * → 3.9, 5.0 → 4.3) and lose below (2048→512 @7 fwd 11.9 → 15.5, bwd-data 13.1 → 20.0; 1024→256 @4 bwd-data
 * 4.2 → 7.1; @2 up to 8×); backward weights gains at H·W ≥ 196 (64→256 @56 24.1 → 13.6, 1024→256 @14 15.9 →
 * 14.9) and is mixed to worse at 64 and below. A fixed rule on the shape, never a timing. */
enum { F32_MM_FWD = 1, F32_MM_BWD_DATA = 2, F32_MM_BWD_W = 4 };
static int f32_mm_rule(const struct dml_conv_shape *s, int has_bias, int relu) {
  if (s->prec != DML_FP32 || has_bias || relu || s->KH != 1 || s->KW != 1 || s->SH != 1 || s->SW != 1 || s->PH ||
      s->PW)
    return 0;
  const long hw = (long)s->H * s->W;
  return (hw >= 64 ? F32_MM_FWD | F32_MM_BWD_DATA : 0) | (hw >= 196 ? F32_MM_BWD_W : 0);
}

static struct conv_entry *conv_get_relu(struct dml_cpu_ctx *c, const struct dml_conv_shape *s, int has_bias, int relu) {
  for (int i = 0; i < c->n_conv; i++)
    if (!memcmp(&c->conv[i].s, s, sizeof *s) && c->conv[i].has_bias == has_bias && c->conv[i].relu == relu)
      return &c->conv[i];
  if (c->n_conv == c->cap_conv) {
    c->cap_conv = c->cap_conv ? 2 * c->cap_conv : 16;
    c->conv = xrealloc(c->conv, (size_t)c->cap_conv * sizeof *c->conv);
  }
  struct conv_entry *e = &c->conv[c->n_conv++];
  memset(e, 0, sizeof *e);
  e->s = *s;
  e->has_bias = has_bias;
  e->relu = relu;
  const int bf = s->prec == DML_BF16;
  const dnnl_data_type_t adt = bf ? dnnl_bf16 : dnnl_f32;     /* activations and the compute copy of weights */
  md4(&e->u_src, s->B, s->C, s->H, s->W, adt, bf ? dnnl_nhwc : dnnl_nchw);
  md4(&e->u_wei, s->OC, s->C, s->KH, s->KW, dnnl_f32, dnnl_oihw);
  md4(&e->u_wei_bf, s->OC, s->C, s->KH, s->KW, dnnl_bf16, dnnl_oihw);
  md4(&e->u_dst, s->B, s->OC, s->OH, s->OW, adt, bf ? dnnl_nhwc : dnnl_nchw);
  dnnl_dims_t bd = {s->OC};
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->u_bias, 1, bd, dnnl_f32, dnnl_x));
  dnnl_memory_desc_t a_src, a_wei, a_dst;
  md4(&a_src, s->B, s->C, s->H, s->W, adt, dnnl_format_tag_any);
  md4(&a_wei, s->OC, s->C, s->KH, s->KW, adt, dnnl_format_tag_any);
  md4(&a_dst, s->B, s->OC, s->OH, s->OW, adt, dnnl_format_tag_any);
  dnnl_dims_t strides = {s->SH, s->SW}, pad_l = {s->PH, s->PW};
  /* right padding so that the output size is exactly OH × OW (floor mode) */
  dnnl_dims_t pad_r = {(s->OH - 1) * s->SH + s->KH - s->H - s->PH, (s->OW - 1) * s->SW + s->KW - s->W - s->PW};
  const dnnl_memory_desc_t *bias = has_bias ? &e->u_bias : NULL;

  dnnl_convolution_desc_t d;
  DNNL_CHECK(dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &a_src, &a_wei, bias,
                                                &a_dst, strides, pad_l, pad_r));
  dnnl_primitive_attr_t fattr = NULL;
  if (relu == 1) { /* ReLU as an eltwise post-op, applied in the kernel's registers */
    dnnl_post_ops_t po;
    DNNL_CHECK(dnnl_primitive_attr_create(&fattr));
    DNNL_CHECK(dnnl_post_ops_create(&po));
    DNNL_CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(fattr, po));
    dnnl_post_ops_destroy(po);
  }
  DNNL_CHECK(dnnl_primitive_desc_create(&e->fwd_pd, &d, fattr, c->eng, NULL));
  if (fattr) dnnl_primitive_attr_destroy(fattr);
  DNNL_CHECK(dnnl_primitive_create(&e->fwd, e->fwd_pd));
  if (!c->isa[bf][0]) { /* "brgconv:avx512_core_amx_bf16" → "avx512_core_amx_bf16" */
    const char *impl = NULL;
    DNNL_CHECK(dnnl_primitive_desc_query(e->fwd_pd, dnnl_query_impl_info_str, 0, &impl));
    const char *colon = impl ? strrchr(impl, ':') : NULL;
    snprintf(c->isa[bf], sizeof c->isa[bf], "%s", colon ? colon + 1 : impl ? impl : "unknown");
  }
  slot_init(c, &e->f_src, &e->u_src, dnnl_primitive_desc_query_md(e->fwd_pd, dnnl_query_src_md, 0), 1);
  slot_init(c, &e->f_wei, &e->u_wei, dnnl_primitive_desc_query_md(e->fwd_pd, dnnl_query_weights_md, 0), 1);
  slot_init(c, &e->f_dst, &e->u_dst, dnnl_primitive_desc_query_md(e->fwd_pd, dnnl_query_dst_md, 0), 0);
  if (f32_mm_rule(s, has_bias, relu) & F32_MM_FWD) {
    const dnnl_dim_t HW = (dnnl_dim_t)s->H * s->W;
    dnnl_dims_t da = {1, s->OC, s->C}, db = {s->B, s->C, HW}, dc = {s->B, s->OC, HW};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->f32_fa, 3, da, dnnl_f32, dnnl_abc));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->f32_fb, 3, db, dnnl_f32, dnnl_abc));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->f32_fc, 3, dc, dnnl_f32, dnnl_abc));
    e->f32_fwd = mm_create(c, &e->f32_fa, &e->f32_fb, &e->f32_fc, 0);
  }
  return e;
}

/* a matmul d = a·b (d += a·b with `sum`), planned under the fixed backward thread count (a K split must not follow
 * the caller's threads); NULL where oneDNN's matmul is not its brgemm one (bf16: CPUs without AVX512-BF16; fp32:
 * without AVX-512; the convolution primitive stays) */
/* a brgemm matmul a·b → d (`+=` with sum), planned under `threads`; scr != NULL: the scratchpad is the caller's
 * (user mode, its descriptor in *scr), so that one primitive can run on several threads at once */
static dnnl_primitive_t mm_make(struct dml_cpu_ctx *c, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                                const dnnl_memory_desc_t *d, int sum, int threads, dnnl_memory_desc_t *scr) {
  dnnl_matmul_desc_t md;
  DNNL_CHECK(dnnl_matmul_desc_init(&md, a, b, NULL, d));
  dnnl_primitive_attr_t attr;
  DNNL_CHECK(dnnl_primitive_attr_create(&attr));
  if (sum) {
    dnnl_post_ops_t po;
    DNNL_CHECK(dnnl_post_ops_create(&po));
    DNNL_CHECK(dnnl_post_ops_append_sum(po, 1.0f));
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_post_ops_destroy(po);
  }
  if (scr) DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
  int keep = omp_get_max_threads();
  omp_set_num_threads(threads);
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_t p = NULL;
  if (dnnl_primitive_desc_create(&pd, &md, attr, c->eng, NULL) == dnnl_success) {
    const char *impl = NULL;
    DNNL_CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    if (impl && strncmp(impl, "brg", 3) == 0) DNNL_CHECK(dnnl_primitive_create(&p, pd));
    if (scr) *scr = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dnnl_primitive_desc_destroy(pd);
  }
  omp_set_num_threads(keep);
  dnnl_primitive_attr_destroy(attr);
  return p;
}

static dnnl_primitive_t mm_create(struct dml_cpu_ctx *c, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                                  const dnnl_memory_desc_t *d, int sum) {
  return mm_make(c, a, b, d, sum, c->bwd_threads, NULL);
}

/* bf16 backward weights in parts (the reduction over the batch cut into bwd_threads fixed parts, one matmul
 * planned for one thread per part, the parts side by side, their float32 sums added in part order): where one
 * of the matmul's output sides is ≤ 64 — oneDNN 2.6 then splits the work over 2 threads badly. Measured, one
 * matmul planned for 2 threads against 2 halves of K on 1 thread each + their sum (AMX, dyᵀ strided as here,
 * best of 9): 64×12544×576 2.97 → 1.74 ms, 64×50176×147 2.72 → 2.00, 64×50176×256 3.46 → 2.87, 256×50176×64
 * 3.76 → 3.07; and no gain or a loss for 1024×3136×256 (2.37 → 2.44), 512×12544×128 (1.69 → 1.66) and
 * 256×3136×2304 (2.95 → 4.12). A fixed rule on the shape and the recorded conv_bwd_threads: the bits do not
 * depend on OMP_NUM_THREADS (with one thread the parts run one after the other, each the same primitive). */
static int mm_split_rule(const struct dml_cpu_ctx *c, const struct dml_conv_shape *s) {
  const int n = s->C * s->KH * s->KW;
  if (c->bwd_threads < 2 || c->bwd_threads > MAX_PARTS || s->B % c->bwd_threads) return 1;
  return s->OC <= 64 || n <= 64 ? c->bwd_threads : 1;
}

/* does a K×K convolution run its backward data as dcol = dy·W + col2im (MMD_COL)? */
static int mmd_col_rule(const struct dml_conv_shape *s) {
  /* measured per ResNet-50 shape at batch 16 (1 thread, CPU time, best of 4, against oneDNN 2.6's jit AMX kernel,
   * two sessions of a shared machine): the matmul + col2im wins for 3×3/2 256 @28 (40 → 15 ms, then 10.6 → 9.4),
   * 3×3/2 512 @14 (48 → 17, 14.0 → 9.5) and 3×3 512 @7 (29 → 15, 8.4 → 7.7); it loses for 3×3 64 @56 (11 → 25),
   * 128 @28 (9 → 20) and 256 @14 (3.4 → 9–15), and is even for 3×3/2 128 @56. At 2 threads (wall, load 2): 3×3/2
   * 512 @14 23–25 → 7–12, 3×3 512 @7 14.5 → 6–10, 3×3/2 256 @28 15–20 → 8–10, while the jit kernel took 1.7–2.0 ms
   * for 3×3 64 @56, 128 @28 and 256 @14 against 5–10 for the matmul. A fixed rule on the shape, never a timing:
   * the bits must not depend on the machine's load. */
  return s->C >= 256 && (s->SH > 1 || s->SW > 1 || s->OH * s->OW <= 64);
}

/* the backward-data matmuls of a bf16 entry (see MMD_*), or none (e->mmd = 0: the jit convolution) */
static void mmd_init(struct dml_cpu_ctx *c, struct conv_entry *e) {
  const struct dml_conv_shape *s = &e->s;
  const int k1 = s->KH == 1 && s->KW == 1 && s->PH == 0 && s->PW == 0;
  const int kind = k1 ? (s->SH == 1 && s->SW == 1 ? MMD_1X1 : MMD_STRIDED) : mmd_col_rule(s) ? MMD_COL : 0;
  if (!kind) return;
  const size_t rows = (size_t)s->OH * s->OW, K = (size_t)s->KH * s->KW * s->C;
  int nb = s->B; /* MMD_COL: the most images (a divisor of B) whose dcol fits 8 MiB, at least one */
  for (int d = 1; kind == MMD_COL && d <= s->B; d++)
    if (s->B % d == 0 && (d == 1 || (size_t)d * rows * K * sizeof(float) <= ((size_t)8 << 20))) nb = d;
  dnnl_dims_t da = {(dnnl_dim_t)(nb * rows), s->OC}, db = {s->OC, (dnnl_dim_t)K}, dc = {(dnnl_dim_t)(nb * rows), (dnnl_dim_t)K};
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->mmd_a, 2, da, dnnl_bf16, dnnl_ab));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->mmd_b, 2, db, dnnl_bf16, dnnl_ab));
  DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->mmd_c, 2, dc, kind == MMD_1X1 ? dnnl_bf16 : dnnl_f32, dnnl_ab));
  e->mmd_set = mm_create(c, &e->mmd_a, &e->mmd_b, &e->mmd_c, 0);
  if (e->mmd_set && kind == MMD_1X1) e->mmd_acc = mm_create(c, &e->mmd_a, &e->mmd_b, &e->mmd_c, 1);
  if (!e->mmd_set || (kind == MMD_1X1 && !e->mmd_acc)) {
    if (e->mmd_set) dnnl_primitive_destroy(e->mmd_set);
    e->mmd_set = NULL;
    return;
  }
  dnnl_memory_desc_t wmd; /* OC × C for 1×1 (= OIHW), OC × (KH, KW, C) otherwise */
  md4(&wmd, s->OC, s->C, s->KH, s->KW, dnnl_bf16, kind == MMD_COL ? dnnl_ohwi : dnnl_oihw);
  slot_init(c, &e->m_wei, &e->u_wei, &wmd, 1);
  e->mmd = kind;
  e->mmd_nb = nb;
}

/* the backward-data and backward-weights primitives of an entry, made on its first backward (an entry used only
 * for inference never makes them) */
static void conv_bwd_init(struct dml_cpu_ctx *c, struct conv_entry *e) {
  if (e->bwd_w) return;
  const struct dml_conv_shape *s = &e->s;
  const dnnl_data_type_t adt = s->prec == DML_BF16 ? dnnl_bf16 : dnnl_f32;
  dnnl_memory_desc_t a_src, a_wei, a_dst, a_dwei;
  md4(&a_src, s->B, s->C, s->H, s->W, adt, dnnl_format_tag_any);
  md4(&a_wei, s->OC, s->C, s->KH, s->KW, adt, dnnl_format_tag_any);
  md4(&a_dwei, s->OC, s->C, s->KH, s->KW, dnnl_f32, dnnl_format_tag_any); /* float32 weight gradients */
  md4(&a_dst, s->B, s->OC, s->OH, s->OW, adt, dnnl_format_tag_any);
  dnnl_dims_t strides = {s->SH, s->SW}, pad_l = {s->PH, s->PW};
  dnnl_dims_t pad_r = {(s->OH - 1) * s->SH + s->KH - s->H - s->PH, (s->OW - 1) * s->SW + s->KW - s->W - s->PW};
  const dnnl_memory_desc_t *bias = e->has_bias ? &e->u_bias : NULL;
  dnnl_convolution_desc_t d;
  DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &a_src, &a_wei, &a_dst, strides,
                                                      pad_l, pad_r));
  DNNL_CHECK(dnnl_primitive_desc_create(&e->bwd_data_pd, &d, NULL, c->eng, e->fwd_pd));
  DNNL_CHECK(dnnl_primitive_create(&e->bwd_data, e->bwd_data_pd));
  slot_init(c, &e->d_ddst, &e->u_dst, dnnl_primitive_desc_query_md(e->bwd_data_pd, dnnl_query_diff_dst_md, 0), 1);
  slot_init(c, &e->d_wei, &e->u_wei, dnnl_primitive_desc_query_md(e->bwd_data_pd, dnnl_query_weights_md, 0), 1);
  slot_init(c, &e->d_dsrc, &e->u_src, dnnl_primitive_desc_query_md(e->bwd_data_pd, dnnl_query_diff_src_md, 0), 0);
  if (!e->d_dsrc.same) { /* dx += reorder(diff_src): one pass instead of reorder + add */
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    DNNL_CHECK(dnnl_post_ops_create(&po));
    DNNL_CHECK(dnnl_post_ops_append_sum(po, 1.0f));
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, &e->d_dsrc.md, c->eng, &e->u_src, c->eng, attr));
    DNNL_CHECK(dnnl_primitive_create(&e->dsrc_acc, pd));
    dnnl_primitive_desc_destroy(pd);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
  }

  DNNL_CHECK(dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &a_src, &a_dwei, bias, &a_dst,
                                                         strides, pad_l, pad_r));
  int keep = omp_get_max_threads();
  omp_set_num_threads(c->bwd_threads); /* the reduction split is planned here: make it independent of the caller */
  DNNL_CHECK(dnnl_primitive_desc_create(&e->bwd_w_pd, &d, NULL, c->eng, e->fwd_pd));
  DNNL_CHECK(dnnl_primitive_create(&e->bwd_w, e->bwd_w_pd));
  omp_set_num_threads(keep);
  slot_init(c, &e->w_src, &e->u_src, dnnl_primitive_desc_query_md(e->bwd_w_pd, dnnl_query_src_md, 0), 1);
  slot_init(c, &e->w_ddst, &e->u_dst, dnnl_primitive_desc_query_md(e->bwd_w_pd, dnnl_query_diff_dst_md, 0), 1);
  slot_init(c, &e->w_dwei, &e->u_wei, dnnl_primitive_desc_query_md(e->bwd_w_pd, dnnl_query_diff_weights_md, 0), 0);
  const int pointwise = s->KH == 1 && s->KW == 1 && s->SH == 1 && s->SW == 1 && s->PH == 0 && s->PW == 0;
  if (s->prec == DML_BF16) {
    /* NHWC makes x an (R = B·H·W) × C matrix and dy an R × OC one: for a 1×1 stride-1 convolution dw (OC × C,
     * = OIHW) = dyᵀ·x, one bf16 GEMM with float32 output (oneDNN 2.6's AMX brgemm matmul runs it 2–7× faster
     * than its backward-weights convolution for ResNet-50's 1×1 shapes, and writes the plain layout: no
     * reorder). Any other shape: the same on im2col(x) (rows (b, oh, ow), columns (kh, kw, c)) of a few images
     * at a time (at most 16 MiB: against 4, 1 thread, 3×3 512 @7 took 9.3–10.0 ms instead of 10.6–11.2 and
     * 3×3/2 512 @14 9.6–10.1 instead of 11.3–11.7, the small-C shapes the same), accumulated over the chunks in
     * order by the sum post-op, then OHWI → OIHW: for ResNet-50 bf16 at 16 × 224² this halves the backward's CPU time against
     * the jit backward-weights convolution (the stem, C = 3, ran at 0.02 TFLOP/s there). Planned under the
     * same fixed thread count as the convolution (its K split must not follow the caller's threads); where
     * oneDNN has no brgemm matmul (CPUs without AVX512-BF16) the convolution primitive stays. */
    const dnnl_dim_t K = (dnnl_dim_t)s->C * s->KH * s->KW;
    const int parts = mm_split_rule(c, s), bp = s->B / parts; /* images per part */
    int nb = 0; /* im2col: the most images (a divisor of a part's) whose im2col fits 16 MiB, at least one */
    for (int d = 1; !pointwise && d <= bp; d++)
      if (bp % d == 0 && (d == 1 || (size_t)d * s->OH * s->OW * K * 2 <= ((size_t)16 << 20))) nb = d;
    e->mm_im2col = nb;
    const dnnl_dim_t R = pointwise ? (dnnl_dim_t)bp * s->H * s->W : (dnnl_dim_t)nb * s->OH * s->OW;
    dnnl_dims_t da = {s->OC, R}, sa = {1, s->OC}, db = {R, K}, dc = {s->OC, K};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&e->mm_a, 2, da, dnnl_bf16, sa));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->mm_b, 2, db, dnnl_bf16, dnnl_ab));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->mm_c, 2, dc, dnnl_f32, dnnl_ab));
    e->mm_parts = parts;
    e->mm_w = mm_make(c, &e->mm_a, &e->mm_b, &e->mm_c, e->mm_im2col != 0, parts > 1 ? 1 : c->bwd_threads,
                      parts > 1 ? &e->mm_scr : NULL); /* a part: planned for one thread, the caller's scratchpad */
    mmd_init(c, e);
  }
  const int f32mm = f32_mm_rule(s, e->has_bias, e->relu);
  const dnnl_dim_t HW = (dnnl_dim_t)s->H * s->W;
  if (f32mm & F32_MM_BWD_DATA) { /* dx_b (C × HW) = Wᵀ (a strided view of OC × C) · dy_b (OC × HW) */
    dnnl_dims_t da = {1, s->C, s->OC}, sa = {(dnnl_dim_t)s->OC * s->C, 1, s->C}, db = {s->B, s->OC, HW},
                dc = {s->B, s->C, HW};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&e->f32_da, 3, da, dnnl_f32, sa));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->f32_db, 3, db, dnnl_f32, dnnl_abc));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->f32_dc, 3, dc, dnnl_f32, dnnl_abc));
    e->f32_bd_set = mm_create(c, &e->f32_da, &e->f32_db, &e->f32_dc, 0);
    e->f32_bd_acc = e->f32_bd_set ? mm_create(c, &e->f32_da, &e->f32_db, &e->f32_dc, 1) : NULL;
    if (!e->f32_bd_acc && e->f32_bd_set) {
      dnnl_primitive_destroy(e->f32_bd_set);
      e->f32_bd_set = NULL;
    }
  }
  if (f32mm & F32_MM_BWD_W) { /* dw_b (OC × C) = dy_b (OC × HW) · x_bᵀ (a strided view of C × HW), per image */
    dnnl_dims_t da = {s->B, s->OC, HW}, db = {s->B, HW, s->C}, sb = {(dnnl_dim_t)s->C * HW, 1, HW},
                dc = {s->B, s->OC, s->C};
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->f32_wa, 3, da, dnnl_f32, dnnl_abc));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&e->f32_wb, 3, db, dnnl_f32, sb));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&e->f32_wc, 3, dc, dnnl_f32, dnnl_abc));
    e->f32_bw = mm_create(c, &e->f32_wa, &e->f32_wb, &e->f32_wc, 0);
  }
}

/* im2col of images b0 … b0+nb−1 of NHWC x: row (b, oh, ow) holds the window's (kh, kw, c) values, 0 in the
 * padding */
static void im2col_bf16(uint16_t *col, const uint16_t *x, const struct dml_conv_shape *s, int b0, int nb) {
  const int C = s->C, KW = s->KW, K = s->KH * KW * C;
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < nb * s->OH; bh++)
    for (int ow = 0; ow < s->OW; ow++) {
      const int b = bh / s->OH, oh = bh % s->OH;
      const uint16_t *xb = x + (size_t)(b0 + b) * s->H * s->W * C;
      uint16_t *row = col + ((size_t)bh * s->OW + ow) * K;
      const int w0 = ow * s->SW - s->PW, wa = w0 < 0 ? 0 : w0, wb = w0 + KW > s->W ? s->W : w0 + KW;
      for (int kh = 0; kh < s->KH; kh++) {
        const int h = oh * s->SH - s->PH + kh;
        uint16_t *d = row + (size_t)kh * KW * C;
        if (h < 0 || h >= s->H || wa >= wb) {
          memset(d, 0, (size_t)KW * C * sizeof *d);
          continue;
        }
        memset(d, 0, (size_t)(wa - w0) * C * sizeof *d);
        memcpy(d + (size_t)(wa - w0) * C, xb + ((size_t)h * s->W + wa) * C, (size_t)(wb - wa) * C * sizeof *d);
        memset(d + (size_t)(wb - w0) * C, 0, (size_t)(w0 + KW - wb) * C * sizeof *d);
      }
    }
}

/* row h of image dx from the dcol rows of its image (rows (oh, ow), columns (kh, kw, c), float32): every pixel sums
 * the windows that cover it, kh then kw ascending (a fixed order), in float32, and is rounded to bf16 once — written
 * (`=`) or added to dx (`+=`). t: W·C floats of scratch. */
DML_CPU_CLONES static void col2im_row(uint16_t *restrict d, const float *restrict col, const struct dml_conv_shape *s,
                                      int h, int acc, float *restrict t) {
  const int C = s->C, K = s->KH * s->KW * C;
  const size_t n = (size_t)s->W * C;
  memset(t, 0, n * sizeof *t);
  for (int kh = 0; kh < s->KH; kh++) {
    const int hn = h + s->PH - kh, oh = hn / s->SH;
    if (hn < 0 || hn % s->SH || oh >= s->OH) continue;
    for (int w = 0; w < s->W; w++)
      for (int kw = 0; kw < s->KW; kw++) {
        const int wn = w + s->PW - kw, ow = wn / s->SW;
        if (wn < 0 || wn % s->SW || ow >= s->OW) continue;
        const float *src = col + ((size_t)oh * s->OW + ow) * K + (size_t)(kh * s->KW + kw) * C;
        float *tt = t + (size_t)w * C;
        for (int ci = 0; ci < C; ci++) tt[ci] += src[ci];
      }
  }
  if (acc)
    for (size_t i = 0; i < n; i++) d[i] = dml_bf16_from_f32(dml_bf16_to_f32(d[i]) + t[i]);
  else
    for (size_t i = 0; i < n; i++) d[i] = dml_bf16_from_f32(t[i]);
}

/* images b0 … b0+nb−1 of NHWC dx from their dcol (col2im_row), parallel over rows (each written by one thread) */
static void col2im_bf16(uint16_t *dx, const float *col, const struct dml_conv_shape *s, int b0, int nb, int acc) {
  const size_t rows = (size_t)s->OH * s->OW, K = (size_t)s->KH * s->KW * s->C, n = (size_t)s->W * s->C;
#pragma omp parallel
  {
    float *t = xmalloc(n * sizeof *t);
#pragma omp for schedule(static)
    for (int bh = 0; bh < nb * s->H; bh++) {
      const int b = bh / s->H, h = bh % s->H;
      col2im_row(dx + ((size_t)(b0 + b) * s->H + h) * n, col + (size_t)b * rows * K, s, h, acc, t);
    }
    free(t);
  }
}

/* dx (`=`, or `+=` when !overwrite) by the entry's backward-data matmuls; wei: W in the m_wei layout */
static void mmd_run(struct dml_cpu_ctx *c, struct conv_entry *e, void *dx, const void *dy, const void *wei,
                    int overwrite) {
  const struct dml_conv_shape *s = &e->s;
  const int arg[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
  const dnnl_memory_desc_t *md[3] = {&e->mmd_a, &e->mmd_b, &e->mmd_c};
  if (e->mmd == MMD_1X1) {
    exec(c, overwrite ? e->mmd_set : e->mmd_acc, 3, arg, md, (const void *[]){dy, wei, dx});
    return;
  }
  const size_t rows = (size_t)s->OH * s->OW, K = (size_t)s->KH * s->KW * s->C;
  float *col = dml_cpu_scratch(c, 9, (size_t)e->mmd_nb * rows * K * sizeof *col);
  for (int b = 0; b < s->B; b += e->mmd_nb) {
    exec(c, e->mmd_set, 3, arg, md, (const void *[]){(const uint16_t *)dy + (size_t)b * rows * s->OC, wei, col});
    col2im_bf16(dx, col, s, b, e->mmd_nb, !overwrite);
  }
}

#define COLSUM_ROWS 256

/* db (OC, `=`) = Σ over the R rows of dy (R × OC bf16): fixed blocks of COLSUM_ROWS rows summed in float32, the
 * blocks added in order in double (independent of the thread count). With y (R × OC bf16, a ReLU's output), dy is
 * first masked in place where y ≤ 0, in the same pass. */
DML_CPU_CLONES static void colsum_block(float *restrict out, uint16_t *restrict dy, const uint16_t *restrict y, int OC,
                                        size_t r0, size_t r1) {
  for (int o = 0; o < OC; o++) out[o] = 0.0f;
  for (size_t r = r0; r < r1; r++) {
    uint16_t *row = dy + r * OC;
    if (y) {
      const uint16_t *yr = y + r * OC;
      for (int o = 0; o < OC; o++) {
        const uint16_t v = dml_bf16_relu_keep(yr[o], row[o]);
        row[o] = v;
        out[o] += dml_bf16_to_f32(v);
      }
    } else {
      for (int o = 0; o < OC; o++) out[o] += dml_bf16_to_f32(row[o]);
    }
  }
}

static void colsum_bf16(struct dml_cpu_ctx *c, float *db, uint16_t *dy, const uint16_t *y, size_t R, int OC) {
  const long nblk = (long)((R + COLSUM_ROWS - 1) / COLSUM_ROWS);
  float *part = dml_cpu_scratch(c, 10, (size_t)nblk * OC * sizeof *part); /* not malloc: an mmap per call */
#pragma omp parallel for schedule(static)
  for (long k = 0; k < nblk; k++) {
    size_t r0 = (size_t)k * COLSUM_ROWS, r1 = r0 + COLSUM_ROWS < R ? r0 + COLSUM_ROWS : R;
    colsum_block(part + (size_t)k * OC, dy, y, OC, r0, r1);
  }
  for (int o = 0; o < OC; o++) {
    double acc = 0;
    for (long k = 0; k < nblk; k++) acc += part[(size_t)k * OC + o];
    db[o] = (float)acc;
  }
}

static struct conv_entry *conv_get(struct dml_cpu_ctx *c, const struct dml_conv_shape *s, int has_bias) {
  return conv_get_relu(c, s, has_bias, 0);
}


/* d[i] = Σ_b part[b·n + i], b ascending (a fixed order whatever the thread count) */
DML_CPU_CLONES static void sum_parts_range(float *restrict d, const float *restrict part, size_t B, size_t n, size_t i0,
                                           size_t i1) {
  for (size_t i = i0; i < i1; i++) d[i] = part[i];
  for (size_t b = 1; b < B; b++)
    for (size_t i = i0; i < i1; i++) d[i] += part[b * n + i];
}

static void sum_parts(float *d, const float *part, size_t B, size_t n) {
  const long nch = (long)((n + 4095) / 4096);
#pragma omp parallel for schedule(static) if (B * n > 65536)
  for (long k = 0; k < nch; k++) {
    const size_t i0 = (size_t)k * 4096, i1 = i0 + 4096 < n ? i0 + 4096 : n;
    sum_parts_range(d, part, B, n, i0, i1);
  }
}

static void add_into(float *restrict d, const float *restrict s, size_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) d[i] += s[i];
}

DML_CPU_CLONES static void add_into_bf16(uint16_t *restrict d, const uint16_t *restrict s, size_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (size_t i = 0; i < n; i++) d[i] = dml_bf16_from_f32(dml_bf16_to_f32(d[i]) + dml_bf16_to_f32(s[i]));
}

/* d (OC × per, bf16) = w·scale[o] (w when scale is NULL), rounded once to nearest even, as oneDNN's f32 → bf16
 * reorder rounds */
DML_CPU_CLONES static void fold_row(uint16_t *restrict d, const float *restrict w, float sc, size_t n) {
  for (size_t k = 0; k < n; k++) d[k] = dml_bf16_from_f32(w[k] * sc);
}

static void fold_bf16(uint16_t *d, const float *w, const float *scale, int OC, size_t per) {
#pragma omp parallel for schedule(static) if (OC * per > 65536)
  for (int o = 0; o < OC; o++) fold_row(d + (size_t)o * per, w + (size_t)o * per, scale ? scale[o] : 1.0f, per);
}

/* bf16 weights (scaled per output channel by `scale` unless NULL) in `sl`'s layout, all made from one bf16 OIHW copy
 * per step (the 1×1 backward-data matmul reads that copy as is; every other layout is a bf16 → bf16 reorder of it),
 * kept like every weight copy, keyed by the original pointer: one pass over the float32 weights per step */
static const void *wei_bf16(struct dml_cpu_ctx *c, struct conv_entry *e, struct slot *sl, const float *w,
                            const float *scale) {
  const struct dml_conv_shape *s = &e->s;
  const size_t per = (size_t)s->C * s->KH * s->KW, n = (size_t)s->OC * per;
  const int direct = dnnl_memory_desc_equal(&sl->md, &e->u_wei_bf);
  int fresh = 0;
  void *d = direct ? NULL : wcopy_buf(c, w, scale != NULL, &sl->md, sl->bytes, 1, &fresh);
  if (fresh) return d;
  /* the OIHW copy is kept for the step only where a backward will read it again (an entry with backward primitives,
   * from its second step on): forward-only use (inference) keeps just the primitive's layout */
  uint16_t *b = direct || e->bwd_w ? wcopy_buf(c, w, scale != NULL, &e->u_wei_bf, n * sizeof *b, 7, &fresh)
                                   : dml_cpu_scratch(c, 7, n * sizeof *b);
  if (!fresh) fold_bf16(b, w, scale, s->OC, per);
  if (direct) return b;
  if (!sl->reo_bf) {
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, &e->u_wei_bf, c->eng, &sl->md, c->eng, NULL));
    DNNL_CHECK(dnnl_primitive_create(&sl->reo_bf, pd));
    dnnl_primitive_desc_destroy(pd);
  }
  run_reorder(c, sl->reo_bf, &e->u_wei_bf, b, &sl->md, d);
  return d;
}

void dml_cpu_conv2d_forward(void *ctx, void *y, const void *x, const float *w, const float *b,
                            const struct dml_conv_shape *s) {
  struct dml_cpu_ctx *c = ctx;
  struct conv_entry *e = conv_get(c, s, b != NULL);
  if (e->f32_fwd) { /* y_b = W·x_b, NCHW as is */
    exec(c, e->f32_fwd, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
         (const dnnl_memory_desc_t *[]){&e->f32_fa, &e->f32_fb, &e->f32_fc}, (const void *[]){w, x, y});
    return;
  }
  const void *src = slot_in(c, &e->f_src, &e->u_src, x, 0);
  const void *wei = s->prec == DML_BF16 ? wei_bf16(c, e, &e->f_wei, w, NULL) : wei_in(c, &e->f_wei, &e->u_wei, w, 1);
  void *dst = e->f_dst.same ? (void *)y : dml_cpu_scratch(c, 2, e->f_dst.bytes);
  if (b)
    exec(c, e->fwd, 4, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST},
         (const dnnl_memory_desc_t *[]){&e->f_src.md, &e->f_wei.md, &e->u_bias, &e->f_dst.md},
         (const void *[]){src, wei, b, dst});
  else
    exec(c, e->fwd, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
         (const dnnl_memory_desc_t *[]){&e->f_src.md, &e->f_wei.md, &e->f_dst.md}, (const void *[]){src, wei, dst});
  if (!e->f_dst.same) run_reorder(c, e->f_dst.reo, &e->f_dst.md, dst, &e->u_dst, y);
}

/* backward data (into dx, `=` or `+=`) and backward weights of an entry: the weight gradient lands in plain OIHW
 * float32 in scratch 4 (`=`) and, with a bias, its gradient in scratch 5 (`=`; already there when db_done); returns
 * the weight gradient. `wei` is the weights in the backward-data layout (m_wei for the matmuls, else d_wei). */
/* dw (OIHW) by the backward-weights matmul in e->mm_parts parts (mm_split_rule): part p reduces images
 * [p·B/P, (p+1)·B/P) into its own float32 OC × K sum (1×1: one matmul; else its im2col chunks in order, added by
 * the sum post-op), on its own stream, scratchpad and im2col buffer, one part per thread; then dw = Σ_p in part
 * order (OHWI → OIHW on the way for im2col) */
static void mm_w_parts(struct dml_cpu_ctx *c, struct conv_entry *e, float *dw, const void *dy, const void *x) {
  const struct dml_conv_shape *s = &e->s;
  const int P = e->mm_parts, bp = s->B / P, nb = e->mm_im2col;
  const size_t rows = (size_t)s->OH * s->OW, K = (size_t)s->C * s->KH * s->KW, khw = (size_t)s->KH * s->KW;
  const size_t ncol = (size_t)nb * rows * K, nacc = (size_t)s->OC * K;
  const size_t scr = (dnnl_memory_desc_get_size(&e->mm_scr) + 63) / 64 * 64;
  uint16_t *col = nb ? dml_cpu_scratch(c, 9, P * ncol * sizeof *col) : NULL;
  float *acc = dml_cpu_scratch(c, 3, P * nacc * sizeof *acc);
  char *pad = dml_cpu_scratch(c, 11, P * scr + 64); /* + 64: a buffer even where the scratchpad is empty */
  for (int p = 0; p < P; p++)
    if (!c->pst[p]) DNNL_CHECK(dnnl_stream_create(&c->pst[p], c->eng, dnnl_stream_default_flags));
  const dnnl_memory_desc_t *md[3] = {&e->mm_a, &e->mm_b, &e->mm_c};
#pragma omp parallel for schedule(static)
  for (int p = 0; p < P; p++) {
    float *ap = acc + (size_t)p * nacc;
    if (!nb) { /* rows of the part's images: dyᵀ and x from row p·bp·H·W */
      const size_t r0 = (size_t)p * bp * rows;
      exec_on(c, c->pst[p], e->mm_w, md,
              (const void *[]){(const uint16_t *)dy + r0 * s->OC, (const uint16_t *)x + r0 * s->C, ap}, &e->mm_scr,
              pad + (size_t)p * scr);
      continue;
    }
    uint16_t *cp = col + (size_t)p * ncol;
    memset(ap, 0, nacc * sizeof *ap);
    for (int b = p * bp; b < (p + 1) * bp; b += nb) {
      im2col_bf16(cp, x, s, b, nb); /* inside this parallel loop: on this thread */
      exec_on(c, c->pst[p], e->mm_w, md, (const void *[]){(const uint16_t *)dy + (size_t)b * rows * s->OC, cp, ap},
              &e->mm_scr, pad + (size_t)p * scr);
    }
  }
#pragma omp parallel for schedule(static) if (nacc > 65536)
  for (int o = 0; o < s->OC; o++)
    for (size_t k = 0; k < khw; k++)
      for (int ci = 0; ci < s->C; ci++) {
        const size_t from = (size_t)o * K + k * s->C + ci;
        float v = acc[from];
        for (int p = 1; p < P; p++) v += acc[(size_t)p * nacc + from];
        dw[((size_t)o * s->C + ci) * khw + k] = v;
      }
}

static float *conv_bwd_run(struct dml_cpu_ctx *c, struct conv_entry *e, void *dx, const void *dy, const void *x,
                           const void *wei, int dx_overwrite, float **db_out, int db_done) {
  const struct dml_conv_shape *s = &e->s;
  conv_bwd_init(c, e);
  size_t nx = (size_t)s->B * s->C * s->H * s->W, nw = (size_t)s->OC * s->C * s->KH * s->KW;
  if (dx && e->mmd) {
    mmd_run(c, e, dx, dy, wei, dx_overwrite);
  } else if (dx && e->f32_bd_set) {
    exec(c, dx_overwrite ? e->f32_bd_set : e->f32_bd_acc, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
         (const dnnl_memory_desc_t *[]){&e->f32_da, &e->f32_db, &e->f32_dc}, (const void *[]){wei, dy, dx});
  } else if (dx) {
    const void *ddst = slot_in(c, &e->d_ddst, &e->u_dst, dy, 0);
    /* where the diff_src lands: blocked in scratch 2, then reordered into dx (`=`) or added to it by the
     * sum-post-op reorder (`+=`); in our layout: directly in dx (`=`) or in scratch 3, then added */
    void *plain = dx_overwrite || !e->d_dsrc.same ? dx : dml_cpu_scratch(c, 3, nx * dml_prec_size(s->prec));
    void *dsrc = e->d_dsrc.same ? (void *)plain : dml_cpu_scratch(c, 2, e->d_dsrc.bytes);
    exec(c, e->bwd_data, 3, (int[]){DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
         (const dnnl_memory_desc_t *[]){&e->d_ddst.md, &e->d_wei.md, &e->d_dsrc.md}, (const void *[]){ddst, wei, dsrc});
    if (!e->d_dsrc.same)
      run_reorder(c, dx_overwrite ? e->d_dsrc.reo : e->dsrc_acc, &e->d_dsrc.md, dsrc, &e->u_src, dx);
    else if (!dx_overwrite && s->prec == DML_BF16)
      add_into_bf16(dx, plain, nx);
    else if (!dx_overwrite)
      add_into(dx, plain, nx);
  }
  float *dw_plain = dml_cpu_scratch(c, 4, nw * sizeof(float));
  float *db_tmp = e->has_bias ? dml_cpu_scratch(c, 5, (size_t)s->OC * sizeof(float)) : NULL;
  if (db_out) *db_out = db_tmp;
  if (e->f32_bw) { /* B partial products, then dw = Σ_b in order (each element by one thread) */
    const size_t B = (size_t)s->B;
    float *part = dml_cpu_scratch(c, 9, B * nw * sizeof *part);
    exec(c, e->f32_bw, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
         (const dnnl_memory_desc_t *[]){&e->f32_wa, &e->f32_wb, &e->f32_wc}, (const void *[]){dy, x, part});
    sum_parts(dw_plain, part, B, nw);
    return dw_plain;
  }
  if (e->mm_w && e->mm_parts > 1) {
    mm_w_parts(c, e, dw_plain, dy, x);
  } else if (e->mm_w && !e->mm_im2col) {
    exec(c, e->mm_w, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
         (const dnnl_memory_desc_t *[]){&e->mm_a, &e->mm_b, &e->mm_c}, (const void *[]){dy, x, dw_plain});
  } else if (e->mm_w) { /* Σ over images of dyᵀ·im2col(x) into (OC, KH, KW, C), then OHWI → OIHW */
    const size_t rows = (size_t)s->OH * s->OW, K = (size_t)s->C * s->KH * s->KW, khw = (size_t)s->KH * s->KW;
    const int nb = e->mm_im2col;
    uint16_t *col = dml_cpu_scratch(c, 9, nb * rows * K * sizeof *col);
    float *acc = dml_cpu_scratch(c, 3, (size_t)s->OC * K * sizeof *acc);
    memset(acc, 0, (size_t)s->OC * K * sizeof *acc);
    for (int b = 0; b < s->B; b += nb) {
      im2col_bf16(col, x, s, b, nb);
      exec(c, e->mm_w, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
           (const dnnl_memory_desc_t *[]){&e->mm_a, &e->mm_b, &e->mm_c},
           (const void *[]){(const uint16_t *)dy + (size_t)b * rows * s->OC, col, acc});
    }
#pragma omp parallel for schedule(static) if (s->OC * K > 65536)
    for (int o = 0; o < s->OC; o++)
      for (int ci = 0; ci < s->C; ci++)
        for (size_t k = 0; k < khw; k++) dw_plain[((size_t)o * s->C + ci) * khw + k] = acc[(size_t)o * K + k * s->C + ci];
  }
  if (e->mm_w) {
    if (db_tmp && !db_done) colsum_bf16(c, db_tmp, (uint16_t *)dy, NULL, (size_t)s->B * s->OH * s->OW, s->OC);
    return dw_plain;
  }
  /* diff_dst in the backward-weights layout: reuse the backward-data reorder when the layouts agree */
  const void *ddst;
  if (dx && !e->mmd && !e->f32_bd_set && !e->d_ddst.same && dnnl_memory_desc_equal(&e->d_ddst.md, &e->w_ddst.md))
    ddst = c->scratch[0];
  else
    ddst = slot_in(c, &e->w_ddst, &e->u_dst, dy, 6);
  const void *src = slot_in(c, &e->w_src, &e->u_src, x, 1);
  void *dwei = e->w_dwei.same ? (void *)dw_plain : dml_cpu_scratch(c, 2, e->w_dwei.bytes);
  if (db_tmp)
    exec(c, e->bwd_w, 4, (int[]){DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS},
         (const dnnl_memory_desc_t *[]){&e->w_src.md, &e->w_ddst.md, &e->w_dwei.md, &e->u_bias},
         (const void *[]){src, ddst, dwei, db_tmp});
  else
    exec(c, e->bwd_w, 3, (int[]){DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS},
         (const dnnl_memory_desc_t *[]){&e->w_src.md, &e->w_ddst.md, &e->w_dwei.md}, (const void *[]){src, ddst, dwei});
  if (!e->w_dwei.same) run_reorder(c, e->w_dwei.reo, &e->w_dwei.md, dwei, &e->u_wei, dw_plain);
  return dw_plain;
}

void dml_cpu_conv2d_backward(void *ctx, void *dx, float *dw, float *db, const void *dy, const void *x, const float *w,
                             const struct dml_conv_shape *s, int dx_overwrite) {
  struct dml_cpu_ctx *c = ctx;
  struct conv_entry *e = conv_get(c, s, db != NULL);
  conv_bwd_init(c, e);
  struct slot *sl = e->mmd ? &e->m_wei : &e->d_wei;
  const void *wei = !dx                    ? NULL
                    : e->f32_bd_set        ? (const void *)w /* OIHW, read as Wᵀ */
                    : s->prec == DML_BF16 ? wei_bf16(c, e, sl, w, NULL)
                                           : wei_in(c, sl, &e->u_wei, w, 1);
  float *db_tmp = NULL;
  float *dw_plain = conv_bwd_run(c, e, dx, dy, x, wei, dx_overwrite, &db_tmp, 0);
  add_into(dw, dw_plain, (size_t)s->OC * s->C * s->KH * s->KW);
  if (db) add_into(db, db_tmp, (size_t)s->OC);
}

/* the frozen batch norm's per-channel scale γ/√(var+eps) and shift β − mean·γ/√(var+eps) (bias may be NULL) */
static void bn_fold(float *scale, float *bias, const float *gamma, const float *beta, const float *mean,
                    const float *var, float eps, int OC) {
  for (int o = 0; o < OC; o++) {
    double sc = gamma[o] / sqrt((double)var[o] + eps);
    scale[o] = (float)sc;
    if (bias) bias[o] = (float)(beta[o] - mean[o] * sc);
  }
}

/* the weights scaled per output channel by the frozen batch norm, in `slot`'s layout: made once per step (epoch)
 * and kept like every weight copy, keyed by the original pointer */
static const void *folded_wei(struct dml_cpu_ctx *c, struct conv_entry *e, struct slot *sl, const float *w,
                              const float *scale) {
  const struct dml_conv_shape *s = &e->s;
  if (s->prec == DML_BF16) return wei_bf16(c, e, sl, w, scale);
  const size_t per = (size_t)s->C * s->KH * s->KW;
  int cached = 0;
  for (int i = 0; c->epoch && i < c->n_wc && !cached; i++)
    cached = c->wc[i].w == w && c->wc[i].folded && c->wc[i].epoch == c->epoch &&
             dnnl_memory_desc_equal(&c->wc[i].md, &sl->md);
  float *fw = NULL;
  if (!cached) {
    fw = dml_cpu_scratch(c, 7, (size_t)s->OC * per * sizeof *fw);
#pragma omp parallel for schedule(static) if (s->OC * per > 65536)
    for (int o = 0; o < s->OC; o++)
      for (size_t k = 0; k < per; k++) fw[(size_t)o * per + k] = w[(size_t)o * per + k] * scale[o];
  }
  return wei_in_tag(c, sl, &e->u_wei, fw, 1, w, 1);
}

void dml_cpu_conv2d_bn_forward(void *ctx, void *y, const void *x, const float *w, const float *gamma, const float *beta,
                               const float *mean, const float *var, float eps, const struct dml_conv_shape *s,
                               int relu) {
  /* batch norm on running statistics folded into the convolution: w'[o] = w[o]·γ[o]/√(var[o]+eps),
   * b'[o] = β[o] − mean[o]·γ[o]/√(var[o]+eps); the ReLU is the primitive's post-op */
  struct dml_cpu_ctx *c = ctx;
  struct conv_entry *e = conv_get_relu(c, s, 1, relu ? 1 : 2);
  float *bias = dml_cpu_scratch(c, 8, 2 * (size_t)s->OC * sizeof *bias), *scale = bias + s->OC;
  bn_fold(scale, bias, gamma, beta, mean, var, eps, s->OC);
  const void *wei = folded_wei(c, e, &e->f_wei, w, scale);
  const void *src = slot_in(c, &e->f_src, &e->u_src, x, 0);
  void *dst = e->f_dst.same ? y : dml_cpu_scratch(c, 2, e->f_dst.bytes);
  exec(c, e->fwd, 4, (int[]){DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST},
       (const dnnl_memory_desc_t *[]){&e->f_src.md, &e->f_wei.md, &e->u_bias, &e->f_dst.md},
       (const void *[]){src, wei, bias, dst});
  if (!e->f_dst.same) run_reorder(c, e->f_dst.reo, &e->f_dst.md, dst, &e->u_dst, y);
}

/* dy = 0 where y ≤ 0 (the ReLU's backward, in place) */
DML_CPU_CLONES static void relu_mask_f32(float *restrict dy, const float *restrict y, size_t i0, size_t i1) {
  for (size_t i = i0; i < i1; i++) dy[i] = y[i] > 0 ? dy[i] : 0.0f;
}
DML_CPU_CLONES static void relu_mask_bf16(uint16_t *restrict dy, const uint16_t *restrict y, size_t i0, size_t i1) {
  for (size_t i = i0; i < i1; i++) dy[i] = dml_bf16_relu_keep(y[i], dy[i]);
}

/* d += g·sc over one output channel's n weights; returns Σ w·g in double, in CHAIN_LANES fixed partial sums (k mod
 * CHAIN_LANES, then added pairwise in a fixed order, then the tail): independent accumulators instead of one
 * serial chain, the same bits whatever the thread count. Not target-cloned: an FMA-contracted d += g·sc would
 * change the float32 bits between ISAs. */
#define CHAIN_LANES 8
static double chain_row(float *restrict d, const float *restrict g, const float *restrict w, float sc,
                                       size_t n) {
  double a[CHAIN_LANES] = {0}, tail = 0;
  size_t k = 0;
  for (; k + CHAIN_LANES <= n; k += CHAIN_LANES)
    for (int l = 0; l < CHAIN_LANES; l++) {
      d[k + l] += g[k + l] * sc;
      a[l] += (double)w[k + l] * g[k + l];
    }
  for (; k < n; k++) {
    d[k] += g[k] * sc;
    tail += (double)w[k] * g[k];
  }
  return (((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))) + tail;
}

void dml_cpu_conv2d_bn_backward(void *ctx, void *dx, float *dw, float *dgamma, float *dbeta, void *dy, const void *x,
                                const void *y, const float *w, const float *gamma, const float *mean, const float *var,
                                float eps, const struct dml_conv_shape *s, int relu, int dx_overwrite) {
  /* the chain rule through the folded parameters w' = w·sc, b' = β − mean·sc, sc = γ/√(var+eps):
   * dw = dw'·sc, dβ = db', dγ = (Σ_k w·dw' − mean·db')/√(var+eps) */
  struct dml_cpu_ctx *c = ctx;
  struct conv_entry *e = conv_get_relu(c, s, 1, relu ? 1 : 2);
  conv_bwd_init(c, e);
  const size_t ny = (size_t)s->B * s->OC * s->OH * s->OW, chunk = 16384;
  /* bf16 with the bias gradient summed by us (the matmul backward weights): the ReLU mask and that sum in one pass */
  const int fused = relu && s->prec == DML_BF16 && e->mm_w;
  if (fused) {
    colsum_bf16(c, dml_cpu_scratch(c, 5, (size_t)s->OC * sizeof(float)), dy, y, (size_t)s->B * s->OH * s->OW, s->OC);
  } else if (relu) {
    const long nch = (long)((ny + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (nch > 2)
    for (long k = 0; k < nch; k++) {
      size_t i0 = (size_t)k * chunk, i1 = i0 + chunk < ny ? i0 + chunk : ny;
      if (s->prec == DML_BF16)
        relu_mask_bf16(dy, y, i0, i1);
      else
        relu_mask_f32(dy, y, i0, i1);
    }
  }
  float *scale = dml_cpu_scratch(c, 8, (size_t)s->OC * sizeof *scale);
  bn_fold(scale, NULL, gamma, NULL, mean, var, eps, s->OC);
  const void *wei = dx ? folded_wei(c, e, e->mmd ? &e->m_wei : &e->d_wei, w, scale) : NULL;
  float *dbp = NULL;
  const float *dwp = conv_bwd_run(c, e, dx, dy, x, wei, dx_overwrite, &dbp, fused);
  const size_t per = (size_t)s->C * s->KH * s->KW;
#pragma omp parallel for schedule(static) if (s->OC * per > 65536)
  for (int o = 0; o < s->OC; o++) {
    const double acc = chain_row(dw + (size_t)o * per, dwp + (size_t)o * per, w + (size_t)o * per, scale[o], per);
    dbeta[o] += dbp[o];
    dgamma[o] += (float)((acc - (double)mean[o] * dbp[o]) / sqrt((double)var[o] + eps));
  }
}
