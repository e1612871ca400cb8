/* backend — the backend registry: the only place that knows whether CUDA was compiled in. */
#include "kernels/ops.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

const char *const dml_op_names[DML_OP_COUNT] = {
  [DML_OP_LINEAR] = "linear", [DML_OP_RELU] = "relu", [DML_OP_L2NORM] = "l2norm",
  [DML_OP_CONV2D] = "conv2d", [DML_OP_BATCHNORM] = "batchnorm", [DML_OP_POOL2D] = "pool2d",
  [DML_OP_GLOBAL_POOL] = "global_pool", [DML_OP_ADD] = "add", [DML_OP_CONCAT] = "concat", [DML_OP_MUL] = "mul", [DML_OP_BF16] = "bf16 activations",
};

int dml_backend_supports(const struct dml_backend *be, enum dml_op op) {
  switch (op) {
    case DML_OP_LINEAR: return be->fn.linear_forward && be->fn.linear_backward;
    case DML_OP_RELU: return be->fn.relu_forward && be->fn.relu_backward;
    case DML_OP_L2NORM: return be->fn.l2norm_forward && be->fn.l2norm_backward;
    case DML_OP_CONV2D: return be->fn.conv2d_forward && be->fn.conv2d_backward;
    case DML_OP_BATCHNORM: return be->fn.batchnorm_forward && be->fn.batchnorm_backward;
    case DML_OP_POOL2D: return be->fn.pool2d_forward && be->fn.pool2d_backward;
    case DML_OP_GLOBAL_POOL: return be->fn.global_pool_forward && be->fn.global_pool_backward;
    case DML_OP_ADD: return be->fn.add_forward && be->fn.add_backward;
    case DML_OP_CONCAT: return be->fn.concat_forward && be->fn.concat_backward;
    case DML_OP_MUL: return be->fn.mul_forward && be->fn.mul_backward;
    case DML_OP_BF16: return be->fn.act_convert && be->fn.round_bf16;
    default: return 0;
  }
}

dml_status dml_backend_require(const struct dml_backend *be, const enum dml_op *ops, int n) {
  for (int i = 0; i < n; i++)
    if (!dml_backend_supports(be, ops[i]))
      return dml_error(DML_ERR_STATE, "backend %s does not implement op %s (use --backend cpu)", be->name,
                       dml_op_names[ops[i]]);
  return DML_OK;
}

#ifdef DML_HAVE_CUDA
int dml_cuda_count_devices(void);
int dml_cuda_knn(const float *base, size_t nb, const float *q, size_t nq, size_t d, size_t k, int metric, int64_t *idx,
                 float *dist, char *err, size_t cap);
#endif

const char *dml_prec_name(int prec) { return prec == DML_BF16 ? "bf16" : "fp32"; }

int dml_prec_parse(const char *s) {
  if (!strcmp(s, "fp32")) return DML_FP32;
  if (!strcmp(s, "bf16")) return DML_BF16;
  return -1;
}

void dml_backend_configure(struct dml_backend *be, const struct dml_backend_config *cfg) {
  if (be->fn.configure) be->fn.configure(be->ctx, cfg);
}

const char *dml_backend_conv_isa(const struct dml_backend *be, int prec) {
  return be->fn.conv_isa ? be->fn.conv_isa(be->ctx, prec) : NULL;
}

int dml_cuda_device_count(void) {
#ifdef DML_HAVE_CUDA
  return dml_cuda_count_devices();
#else
  return 0;
#endif
}

int dml_gpu_knn(const float *base, size_t nb, const float *q, size_t nq, size_t d, size_t k, int metric, int64_t *idx,
                float *dist, char *err, size_t cap) {
#ifdef DML_HAVE_CUDA
  if (dml_cuda_count_devices() > 0) return dml_cuda_knn(base, nb, q, nq, d, k, metric, idx, dist, err, cap);
  snprintf(err, cap, "GPU kNN: no CUDA device is visible");
#else
  (void)base, (void)nb, (void)q, (void)nq, (void)d, (void)k, (void)metric, (void)idx, (void)dist;
  snprintf(err, cap, "GPU kNN: this build has no CUDA backend");
#endif
  return -1;
}

struct dml_backend *dml_backend_select(const char *want, FILE *log) {
  struct dml_backend *be = NULL;
  int ndev = dml_cuda_device_count();
  if (!strcmp(want, "cuda") || !strcmp(want, "gpu")) {
    if (ndev == 0) {
      dml_error(DML_ERR_ARG, "backend 'cuda' requested but no CUDA device is available%s",
#ifdef DML_HAVE_CUDA
                ""
#else
                " (this build has no CUDA support)"
#endif
      );
      return NULL;
    }
#ifdef DML_HAVE_CUDA
    be = dml_backend_cuda_new();
#endif
  } else if (!strcmp(want, "auto")) {
#ifdef DML_HAVE_CUDA
    if (ndev > 0) be = dml_backend_cuda_new();
#endif
    if (!be) {
      be = dml_backend_cpu_new();
      if (log) fprintf(log, "backend: cpu (%s)\n", ndev ? "CUDA backend failed to start" :
#ifdef DML_HAVE_CUDA
                       "no CUDA device found"
#else
                       "built without CUDA"
#endif
      );
      return be;
    }
  } else if (!strcmp(want, "cpu")) {
    be = dml_backend_cpu_new();
  } else {
    dml_error(DML_ERR_ARG, "unknown backend '%s' (known: auto, cpu, cuda)", want);
    return NULL;
  }
  if (be && log) fprintf(log, "backend: %s\n", be->name);
  /* the ops of the foundation slice are required of every backend; the others are checked by the network that
   * uses them (dml_backend_require), so a backend may grow op by op */
  for (int op = 0; be && op <= DML_OP_L2NORM; op++)
    if (!dml_backend_supports(be, op)) DML_ABORT("backend %s lacks op %s", be->name, dml_op_names[op]);
  return be;
}

void dml_backend_free(struct dml_backend *be) {
  if (!be) return;
  if (be->destroy) be->destroy(be->ctx);
  free(be);
}
