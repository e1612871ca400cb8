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
#include <stdio.h>

enum dml_op { DML_OP_LINEAR, DML_OP_RELU, DML_OP_L2NORM, DML_OP_COUNT };

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
/* Does the backend implement op? (A NULL entry is reported by name by dml_backend_check.) */
int dml_backend_supports(const struct dml_backend *be, enum dml_op op);
/* "cpu", "cuda" or "auto" (CUDA when a device is present, else CPU). Announces the choice on `log` (may be
 * NULL). Returns NULL with a dml_error when the requested backend cannot be had. */
struct dml_backend *dml_backend_select(const char *want, FILE *log);
void dml_backend_free(struct dml_backend *be);
/* Number of CUDA devices visible (0 without CUDA support or without a device). */
int dml_cuda_device_count(void);

/* Backend constructors (kernels/cpu/backend.c, kernels/cuda/backend.c). */
struct dml_backend *dml_backend_cpu_new(void);
struct dml_backend *dml_backend_cuda_new(void);
#endif
