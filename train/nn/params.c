/* params — the parameter table and its contiguous value/gradient blocks. See nn.h. */
#include <string.h>

#include "common/rng.h"

#include "train/nn/nn.h"

void dml_params_init(struct dml_params *ps, struct dml_backend *be) {
  memset(ps, 0, sizeof *ps);
  ps->be = be;
}

int dml_params_declare(struct dml_params *ps, const char *name, int ndim, const int *shape, int decay, int group) {
  DML_ASSERT(ps->n < DML_MAX_PARAMS && !ps->values);
  struct dml_param *p = &ps->p[ps->n];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->ndim = ndim;
  p->n = 1;
  for (int i = 0; i < ndim; i++) {
    p->shape[i] = shape[i];
    p->n *= (size_t)shape[i];
  }
  /* keep every parameter 16-float aligned inside the block */
  p->offset = ps->total;
  ps->total += (p->n + 15) / 16 * 16;
  p->decay = decay;
  p->group = group;
  return ps->n++;
}

void dml_params_alloc(struct dml_params *ps) {
  struct dml_backend *be = ps->be;
  size_t bytes = (ps->total ? ps->total : 16) * sizeof(float);
  ps->values = be->fn.alloc(be->ctx, bytes);
  ps->grads = be->fn.alloc(be->ctx, bytes);
  be->fn.zero(be->ctx, ps->values, bytes);
  be->fn.zero(be->ctx, ps->grads, bytes);
  for (int i = 0; i < ps->n; i++) {
    struct dml_param *p = &ps->p[i];
    p->t.data = ps->values + p->offset;
    p->t.grad = ps->grads + p->offset;
    p->t.ndim = p->ndim;
    memcpy(p->t.shape, p->shape, sizeof p->shape);
    p->t.n = p->n;
  }
}

void dml_params_zero_grad(struct dml_params *ps) {
  ps->be->fn.zero(ps->be->ctx, ps->grads, (ps->total ? ps->total : 16) * sizeof(float));
}

const struct dml_param *dml_params_find(const struct dml_params *ps, const char *name) {
  for (int i = 0; i < ps->n; i++)
    if (!strcmp(ps->p[i].name, name)) return &ps->p[i];
  return NULL;
}

void dml_params_free(struct dml_params *ps) {
  if (ps->values) ps->be->fn.release(ps->be->ctx, ps->values);
  if (ps->grads) ps->be->fn.release(ps->be->ctx, ps->grads);
  ps->values = ps->grads = NULL;
}

void dml_fill_normal(float *h, size_t n, double sd, const struct dml_rng *g) {
  DML_ASSERT(g->pos == 4 && n <= UINT32_MAX);
#pragma omp parallel for schedule(static)
  for (size_t k = 0; k < n; k++) h[k] = (float)(sd * dml_rng_normal_at(g, (uint32_t)k));
}
