/* backend (CPU) — fills the op table with the CPU implementations (OpenBLAS, oneDNN, plain C); memory is host
 * memory; the context holds the oneDNN engine/stream and the primitive cache (conv.c). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "kernels/cpu/cpu.h"
#include "kernels/ops.h"

static void *cpu_alloc(void *ctx, size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64)) DML_ABORT("out of memory allocating %zu bytes", bytes);
  return p;
}
static void cpu_release(void *ctx, void *p) { free(p); }
/* large copies and fills in 1 MiB pieces over the threads (one core alone streams about half of what two do
 * here: the gradient zeroing of ResNet-50, 100 MB a step, was one memset on one thread) */
#define PIECE ((size_t)1 << 20)
static void cpu_copy(void *ctx, void *dst, const void *src, size_t bytes) {
  const long n = (long)((bytes + PIECE - 1) / PIECE);
#pragma omp parallel for schedule(static) if (n > 2)
  for (long k = 0; k < n; k++) {
    size_t o = (size_t)k * PIECE;
    memcpy((char *)dst + o, (const char *)src + o, bytes - o < PIECE ? bytes - o : PIECE);
  }
}
static void cpu_zero(void *ctx, void *p, size_t bytes) {
  const long n = (long)((bytes + PIECE - 1) / PIECE);
#pragma omp parallel for schedule(static) if (n > 2)
  for (long k = 0; k < n; k++) {
    size_t o = (size_t)k * PIECE;
    memset((char *)p + o, 0, bytes - o < PIECE ? bytes - o : PIECE);
  }
}

struct dml_backend *dml_backend_cpu_new(void) {
  struct dml_backend *be = xcalloc(1, sizeof *be);
  be->name = "cpu";
  be->fn = (struct dml_backend_fn){
    .linear_forward = dml_cpu_linear_forward,
    .linear_backward = dml_cpu_linear_backward,
    .relu_forward = dml_cpu_relu_forward,
    .relu_backward = dml_cpu_relu_backward,
    .l2norm_forward = dml_cpu_l2norm_forward,
    .l2norm_backward = dml_cpu_l2norm_backward,
    .conv2d_forward = dml_cpu_conv2d_forward,
    .conv2d_backward = dml_cpu_conv2d_backward,
    .conv2d_bn_forward = dml_cpu_conv2d_bn_forward,
    .conv2d_bn_backward = dml_cpu_conv2d_bn_backward,
    .batchnorm_forward = dml_cpu_batchnorm_forward,
    .batchnorm_backward = dml_cpu_batchnorm_backward,
    .pool2d_forward = dml_cpu_pool2d_forward,
    .pool2d_backward = dml_cpu_pool2d_backward,
    .global_pool_forward = dml_cpu_global_pool_forward,
    .global_pool_backward = dml_cpu_global_pool_backward,
    .add_forward = dml_cpu_add_forward,
    .add_backward = dml_cpu_add_backward,
    .concat_forward = dml_cpu_concat_forward,
    .concat_backward = dml_cpu_concat_backward,
    .mul_forward = dml_cpu_mul_forward,
    .mul_backward = dml_cpu_mul_backward,
    .act_convert = dml_cpu_act_convert,
    .round_bf16 = dml_cpu_round_bf16,
    .step_begin = dml_cpu_step_begin,
    .configure = dml_cpu_configure,
    .conv_isa = dml_cpu_conv_isa,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .to_device = cpu_copy,
    .to_host = cpu_copy,
    .zero = cpu_zero,
  };
  be->ctx = dml_cpu_ctx_new();
  if (!dml_cpu_bf16_supported(be->ctx)) be->fn.act_convert = NULL; /* DML_OP_BF16 unsupported: a clear error */
  be->destroy = dml_cpu_ctx_free;
  return be;
}
