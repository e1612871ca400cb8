/* ops — the one op interface of dml: every compute op is a forward/backward pair of plain C functions,
 * reached through a backend's function table, so the same network code runs on the CPU (OpenBLAS, oneDNN,
 * plain C) and on CUDA (cuBLAS, cuDNN, own kernels) without an #ifdef in an op body.
 *
 *   struct dml_backend *be = dml_backend_select("auto", stderr);  // announces its choice in one line
 *   be->fn.linear_forward(be->ctx, y, x, w, b, B, C, OC);
 *   ...
 *   dml_backend_free(be);
 *
 * Argument order (STYLE.md §2): context, outputs, saved-for-backward outputs, inputs, parameters, sizes.
 * Backward functions always `+=` into parameter gradients; each op's comment says whether the input
 * gradient is `=` or `+=`. Pointers are device pointers of the backend (host memory on the CPU).
 * All shapes are row-major.
 */
#ifndef DML_OPS_H
#define DML_OPS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"

enum dml_op {
  DML_OP_LINEAR, DML_OP_RELU, DML_OP_L2NORM, DML_OP_CONV2D, DML_OP_BATCHNORM, DML_OP_POOL2D, DML_OP_GLOBAL_POOL,
  DML_OP_ADD, DML_OP_CONCAT, DML_OP_MUL, DML_OP_BF16, DML_OP_COUNT
};

/* Precision of the convolutional ("conv-family") ops: conv2d, batchnorm, pool2d, global_pool (its input), add,
 * concat and act_convert. Every activation pointer of these ops (x, y and their gradients dx, dy) is a void * in
 * the format `prec` names:
 *   DML_FP32  float32, NCHW (row-major (B, C, H, W));
 *   DML_BF16  bfloat16 (the upper half of a float32, rounded to nearest even: dml_bf16_from_f32), NHWC (channels
 *             last, row-major (B, H, W, C)) — the layout oneDNN's AMX / AVX512-BF16 convolutions read and write
 *             without a reorder.
 * 2-D tensors (B, D) are always float32 (add with DML_FP32). Parameters (conv weights and bias, batch-norm γ/β),
 * their gradients and the batch-norm statistics are always float32: a backend makes its own low-precision weight
 * copies (see step_begin), accumulates in float32 and adds float32 parameter gradients. */
enum dml_prec { DML_FP32 = 0, DML_BF16 = 1 };
const char *dml_prec_name(int prec);            /* "fp32", "bf16" */
int dml_prec_parse(const char *s);              /* "fp32" / "bf16" → DML_FP32 / DML_BF16, -1 otherwise */
static inline size_t dml_prec_size(int prec) { return prec == DML_BF16 ? 2 : 4; } /* bytes per element */

/* bfloat16 ⇄ float32 (round to nearest even, NaN kept quiet; as oneDNN's reorders) */
static inline uint16_t dml_bf16_from_f32(float f) {
  union { float f; uint32_t u; } v = {f};
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40u);
  return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
static inline float dml_bf16_to_f32(uint16_t h) {
  union { uint32_t u; float f; } v = {(uint32_t)h << 16};
  return v.f;
}
static inline float dml_bf16_round(float f) { return dml_bf16_to_f32(dml_bf16_from_f32(f)); }

/* Shape of a 2-D convolution (torch.nn.Conv2d semantics, no dilation/groups; OIHW float32 weights) with its
 * activations in precision `prec` (above; 0 = DML_FP32). OH = (H + 2·PH − KH)/SH + 1, likewise OW. Also used
 * for pooling (C = OC, weights unused). */
struct dml_conv_shape { int B, C, H, W, OC, KH, KW, SH, SW, PH, PW, OH, OW, prec; };

enum dml_pool_kind { DML_POOL_MAX = 1, DML_POOL_AVG = 2 };

/* Options a backend is configured with once, before its first op (dml_backend_configure). They change result
 * bits, so the trainer records them. */
struct dml_backend_config {
  int conv_bwd_threads; /* CPU: thread count oneDNN's convolution backward-weights is planned and run with (> 0) */
};

struct dml_backend_fn {
  /* y (B,OC) = x (B,C) · wᵀ (OC,C) + b (OC); b may be NULL. torch.nn.functional.linear */
  void (*linear_forward)(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C, int OC);
  /* dx (B,C) += dy·w (NULL to skip); dw (OC,C) += dyᵀ·x; db (OC) += Σ_B dy (NULL to skip). */
  void (*linear_backward)(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, int B, int C, int OC);
  /* y = max(x, 0), n float32 elements. torch.nn.functional.relu */
  void (*relu_forward)(void *ctx, float *y, const float *x, size_t n);
  /* dx += dy · [y > 0] */
  void (*relu_backward)(void *ctx, float *dx, const float *dy, const float *y, size_t n);
  /* y (B,D) = x / max(‖x‖, 1e-12) per row; norm (B) saved. torch.nn.functional.normalize(dim=-1) */
  void (*l2norm_forward)(void *ctx, float *y, float *norm, const float *x, int B, int D);
  /* dx += (dy − y·⟨dy, y⟩) / norm per row */
  void (*l2norm_backward)(void *ctx, float *dx, const float *dy, const float *y, const float *norm, int B, int D);
  /* y (B,OC,OH,OW) = conv(x (B,C,H,W), w (OC,C,KH,KW)) + b (OC); b may be NULL; x, y in s->prec. F.conv2d */
  void (*conv2d_forward)(void *ctx, void *y, const void *x, const float *w, const float *b,
                         const struct dml_conv_shape *s);
  /* dx (B,C,H,W): `=` when dx_overwrite, else `+=` (NULL to skip); dw += ; db += (NULL to skip). dx, dy, x in
   * s->prec; dw, db float32. */
  void (*conv2d_backward)(void *ctx, void *dx, float *dw, float *db, const void *dy, const void *x, const float *w,
                          const struct dml_conv_shape *s, int dx_overwrite);
  /* conv (no bias) → batch norm on running statistics (frozen: trainable γ, β) → optional ReLU, in one
   * convolution: y = [max](conv(x, w·γ/√(var+eps)) + β − mean·γ/√(var+eps), 0); x, y in s->prec. Nothing is
   * saved: the backward below needs only x and y. May be NULL: the caller then runs the three ops. */
  void (*conv2d_bn_forward)(void *ctx, void *y, const void *x, const float *w, const float *gamma, const float *beta,
                            const float *mean, const float *var, float eps, const struct dml_conv_shape *s, int relu);
  /* Its backward: with relu, dy is first set to 0 in place where y ≤ 0 (dy is clobbered); then dx (`=` when
   * dx_overwrite, else `+=`; NULL to skip), dw += , dgamma += , dbeta += (float32), by the chain rule through the
   * folded weights and bias. May be NULL (with conv2d_bn_forward NULL, or alone: then training runs the three ops). */
  void (*conv2d_bn_backward)(void *ctx, void *dx, float *dw, float *dgamma, float *dbeta, void *dy, const void *x,
                             const void *y, const float *w, const float *gamma, const float *mean, const float *var,
                             float eps, const struct dml_conv_shape *s, int relu, int dx_overwrite);
  /* Batch norm over (B, C, HW) per channel C, eps; x, y in `prec`. training: batch statistics (biased variance)
   * are used and saved (mean, invstd (C)), running_mean/var (C) are updated in place with `momentum` (unbiased
   * variance, as torch) when not NULL. !training: running statistics are used (F.batch_norm(training=False));
   * mean/invstd receive the running mean and 1/sqrt(var+eps). relu != 0: y = max(bn(x), 0) (fused). */
  void (*batchnorm_forward)(void *ctx, void *y, float *mean, float *invstd, float *running_mean, float *running_var,
                            const void *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                            float momentum, int training, int relu, int prec);
  /* dx: `=` when dx_overwrite, else `+=` (NULL to skip); dgamma += , dbeta += ; mean/invstd as saved by the
   * forward of the same mode; y the forward's output (read only with relu: dy counts where y > 0). */
  void (*batchnorm_backward)(void *ctx, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                             const void *y, const float *mean, const float *invstd, const float *gamma, int B, int C,
                             int HW, int training, int relu, int dx_overwrite, int prec);
  /* Max pooling (saves the argmax index h·W + w per output element in `idx`, ties → first) or average pooling
   * with padding counted (torch's count_include_pad=True: the divisor is the window clipped to the padded input,
   * which is K·K except for ceil_mode's last windows). x (B,C,H,W) → y (B,C,OH,OW) in s->prec; s->OC == s->C;
   * OH/OW are the caller's (floor or ceil mode). */
  void (*pool2d_forward)(void *ctx, void *y, int32_t *idx, const void *x, const struct dml_conv_shape *s, int kind);
  /* dx += */
  void (*pool2d_backward)(void *ctx, void *dx, const void *dy, const int32_t *idx, const struct dml_conv_shape *s,
                          int kind);
  /* Global pooling x (B,C,HW) in `prec` → y (B,C) float32; kind DML_POOL_MAX saves idx (B,C) (the hw index),
   * ties → first. */
  void (*global_pool_forward)(void *ctx, float *y, int32_t *idx, const void *x, int B, int C, int HW, int kind,
                              int prec);
  /* dx (in `prec`) += */
  void (*global_pool_backward)(void *ctx, void *dx, const float *dy, const int32_t *idx, int B, int C, int HW,
                               int kind, int prec);
  /* y = a + b (n elements of `prec`, any layout); with relu != 0, y = max(a + b, 0) (the ResNet block's tail,
   * fused). */
  void (*add_forward)(void *ctx, void *y, const void *a, const void *b, size_t n, int relu, int prec);
  /* da, db (NULL pointers skipped) += dy, or `=` where overwrite has bit 1 (da) / bit 2 (db); with relu, dy
   * counts only where y > 0. */
  void (*add_backward)(void *ctx, void *da, void *db, const void *dy, const void *y, size_t n, int relu,
                       int overwrite, int prec);
  /* Channel concatenation: y (B, Ctot, HW) channels [c0, c0+C) = x (B, C, HW). */
  void (*concat_forward)(void *ctx, void *y, const void *x, int B, int Ctot, int c0, int C, int HW, int prec);
  /* dx (B, C, HW) += dy (B, Ctot, HW) channels [c0, c0+C). */
  void (*concat_backward)(void *ctx, void *dx, const void *dy, int B, int Ctot, int c0, int C, int HW, int prec);
  /* y = x ⊙ m (n float32 elements; dropout with a precomputed mask of 0 and 1/(1−p)). */
  void (*mul_forward)(void *ctx, float *y, const float *x, const float *m, size_t n);
  /* dx += dy ⊙ m */
  void (*mul_backward)(void *ctx, float *dx, const float *dy, const float *m, size_t n);
  /* y (B, C, HW) in yprec = x (B, C, HW) in xprec: layout change and rounding (or a copy when they agree). */
  void (*act_convert)(void *ctx, void *y, int yprec, const void *x, int xprec, int B, int C, int HW);
  /* y = dml_bf16_round(x), n float32 elements (y may be x): bf16 inputs of a float32 GEMM (the linear head). */
  void (*round_bf16)(void *ctx, float *y, const float *x, size_t n);
  /* Parameter memory may have changed (the tape calls it at every reset): derived weight copies (reordered,
   * bf16) are refreshed on their next use. Until the next call, the backend may reuse such a copy for the same
   * weight pointer; a backend never called with step_begin keeps no copies. May be NULL. */
  void (*step_begin)(void *ctx);
  /* Apply `cfg` (before the first op; later calls drop planned primitives). May be NULL. */
  void (*configure)(void *ctx, const struct dml_backend_config *cfg);
  /* The instruction set the backend's convolutions of precision `prec` run on, as the library names it
   * ("avx512_core_amx_bf16", "avx512_core", ...), or NULL before the first such convolution. May be NULL. */
  const char *(*conv_isa)(void *ctx, int prec);
  /* device memory */
  void *(*alloc)(void *ctx, size_t bytes);
  void (*release)(void *ctx, void *p);
  void (*to_device)(void *ctx, void *dst, const void *src, size_t bytes);
  void (*to_host)(void *ctx, void *dst, const void *src, size_t bytes);
  void (*zero)(void *ctx, void *p, size_t bytes);
};

struct dml_backend {
  const char *name;             /* "cpu" or "cuda" */
  struct dml_backend_fn fn;
  void *ctx;                    /* backend state: library handles, cached plans, streams */
  void (*destroy)(void *ctx);
};

extern const char *const dml_op_names[DML_OP_COUNT];
/* Does the backend implement op? */
int dml_backend_supports(const struct dml_backend *be, enum dml_op op);
/* DML_OK when the backend implements every op of `ops` (n entries); else DML_ERR_STATE
 * naming the first missing op and the backend. Networks call this with the ops they use. */
dml_status dml_backend_require(const struct dml_backend *be, const enum dml_op *ops, int n);
/* "cpu", "cuda" or "auto" (CUDA when a device is present, else CPU). Announces the choice on `log` (may be
 * NULL). Returns NULL with a dml_error when the requested backend cannot be had. */
struct dml_backend *dml_backend_select(const char *want, FILE *log);
void dml_backend_free(struct dml_backend *be);
/* Pass cfg to the backend (no-op for a backend without options). */
void dml_backend_configure(struct dml_backend *be, const struct dml_backend_config *cfg);
/* "<isa>" of be->fn.conv_isa, or NULL (no convolution of that precision yet, or a backend that cannot say). */
const char *dml_backend_conv_isa(const struct dml_backend *be, int prec);
/* Number of CUDA devices visible (0 without CUDA support or without a device). */
int dml_cuda_device_count(void);
/* Exact kNN on the GPU (kernels/cuda/knn.cu) with the contract of eval/faiss_bridge.h's dml_faiss_knn: metric 0 =
 * squared L2 ascending, 1 = inner product descending; idx (nq, k), dist (nq, k) or NULL; host pointers; k ≤ 2048.
 * Returns 0, or -1 with a message in err (no device, a CPU-only build, k out of range, a CUDA error). */
int dml_gpu_knn(const float *base, size_t nb, const float *q, size_t nq, size_t d, size_t k, int metric, int64_t *idx,
                float *dist, char *err, size_t cap);

/* Backend constructors (kernels/cpu/backend.c, kernels/cuda/backend.c). */
struct dml_backend *dml_backend_cpu_new(void);
struct dml_backend *dml_backend_cuda_new(void);
#endif
