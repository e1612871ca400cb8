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
  DML_OP_ADD, DML_OP_CONCAT, DML_OP_MUL, DML_OP_COUNT
};

/* Shape of a 2-D convolution (NCHW activations, OIHW weights, torch.nn.Conv2d semantics, no dilation/groups).
 * OH = (H + 2·PH − KH)/SH + 1, likewise OW. Also used for pooling (C = OC, weights unused). */
struct dml_conv_shape { int B, C, H, W, OC, KH, KW, SH, SW, PH, PW, OH, OW; };

enum dml_pool_kind { DML_POOL_MAX = 1, DML_POOL_AVG = 2 };

struct dml_backend_fn {
  /* y (B,OC) = x (B,C) · wᵀ (OC,C) + b (OC); b may be NULL. torch.nn.functional.linear */
  void (*linear_forward)(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C, int OC);
  /* dx (B,C) += dy·w (NULL to skip); dw (OC,C) += dyᵀ·x; db (OC) += Σ_B dy (NULL to skip). */
  void (*linear_backward)(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, int B, int C, int OC);
  /* y = max(x, 0), n elements. torch.nn.functional.relu */
  void (*relu_forward)(void *ctx, float *y, const float *x, size_t n);
  /* dx += dy · [y > 0] */
  void (*relu_backward)(void *ctx, float *dx, const float *dy, const float *y, size_t n);
  /* y (B,D) = x / max(‖x‖, 1e-12) per row; norm (B) saved. torch.nn.functional.normalize(dim=-1) */
  void (*l2norm_forward)(void *ctx, float *y, float *norm, const float *x, int B, int D);
  /* dx += (dy − y·⟨dy, y⟩) / norm per row */
  void (*l2norm_backward)(void *ctx, float *dx, const float *dy, const float *y, const float *norm, int B, int D);
  /* y (B,OC,OH,OW) = conv(x (B,C,H,W), w (OC,C,KH,KW)) + b (OC); b may be NULL. F.conv2d */
  void (*conv2d_forward)(void *ctx, float *y, const float *x, const float *w, const float *b,
                         const struct dml_conv_shape *s);
  /* dx (B,C,H,W): `=` when dx_overwrite, else `+=` (NULL to skip); dw += ; db += (NULL to skip). */
  void (*conv2d_backward)(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                          const struct dml_conv_shape *s, int dx_overwrite);
  /* Batch norm over (B, C, HW) per channel C, eps. training: batch statistics (biased variance) are used and saved
   * (mean, invstd (C)), running_mean/var (C) are updated in place with `momentum` (unbiased variance, as torch)
   * when not NULL. !training: running statistics are used (F.batch_norm(training=False)); mean/invstd receive
   * the running mean and 1/sqrt(var+eps). relu != 0: y = max(bn(x), 0) (fused). */
  void (*batchnorm_forward)(void *ctx, float *y, float *mean, float *invstd, float *running_mean, float *running_var,
                            const float *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                            float momentum, int training, int relu);
  /* dx: `=` when dx_overwrite, else `+=` (NULL to skip); dgamma += , dbeta += ; mean/invstd as saved by the
   * forward of the same mode; y the forward's output (read only with relu: dy counts where y > 0). */
  void (*batchnorm_backward)(void *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *y, const float *mean, const float *invstd, const float *gamma, int B, int C,
                             int HW, int training, int relu, int dx_overwrite);
  /* Max pooling (saves the argmax index per output in `idx`, ties → first) or average pooling with padding
   * counted (torch's count_include_pad=True: the divisor is the window clipped to the padded input, which is
   * K·K except for ceil_mode's last windows). x (B,C,H,W) → y (B,C,OH,OW); s->OC == s->C; OH/OW are the
   * caller's (floor or ceil mode). */
  void (*pool2d_forward)(void *ctx, float *y, int32_t *idx, const float *x, const struct dml_conv_shape *s, int kind);
  /* dx += */
  void (*pool2d_backward)(void *ctx, float *dx, const float *dy, const int32_t *idx, const struct dml_conv_shape *s,
                          int kind);
  /* Global pooling x (B,C,HW) → y (B,C); kind DML_POOL_MAX saves idx (B,C), ties → first. */
  void (*global_pool_forward)(void *ctx, float *y, int32_t *idx, const float *x, int B, int C, int HW, int kind);
  /* dx += */
  void (*global_pool_backward)(void *ctx, float *dx, const float *dy, const int32_t *idx, int B, int C, int HW,
                               int kind);
  /* y = a + b (n); with relu != 0, y = max(a + b, 0) (the ResNet block's tail, fused). */
  void (*add_forward)(void *ctx, float *y, const float *a, const float *b, size_t n, int relu);
  /* da, db (NULL pointers skipped) += dy, or `=` where overwrite has bit 1 (da) / bit 2 (db); with relu, dy
   * counts only where y > 0. */
  void (*add_backward)(void *ctx, float *da, float *db, const float *dy, const float *y, size_t n, int relu,
                       int overwrite);
  /* Channel concatenation: y (B, Ctot, HW) channels [c0, c0+C) = x (B, C, HW). */
  void (*concat_forward)(void *ctx, float *y, const float *x, int B, int Ctot, int c0, int C, int HW);
  /* dx (B, C, HW) += dy (B, Ctot, HW) channels [c0, c0+C). */
  void (*concat_backward)(void *ctx, float *dx, const float *dy, int B, int Ctot, int c0, int C, int HW);
  /* y = x ⊙ m (n elements; dropout with a precomputed mask of 0 and 1/(1−p)). */
  void (*mul_forward)(void *ctx, float *y, const float *x, const float *m, size_t n);
  /* dx += dy ⊙ m */
  void (*mul_backward)(void *ctx, float *dx, const float *dy, const float *m, size_t n);
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
