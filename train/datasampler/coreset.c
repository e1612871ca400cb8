/* coreset — helpers of the storage samplers (see coreset.h). */
#include "train/datasampler/coreset.h"

#include <math.h>
#include <stdlib.h>

dml_status coreset_opts_read(const struct dml_opts *opt, struct coreset_opts *c) {
  c->bigbs = dml_opts_int(opt, "data_batchmatch_bigbs");
  c->lowproj_dim = dml_opts_int(opt, "data_sampler_lowproj_dim");
  if (c->bigbs < 1) return dml_error(DML_ERR_ARG, "--data_batchmatch_bigbs must be >= 1");
  return DML_OK;
}

double *coreset_subset(const struct dml_sampler *s, const struct coreset_opts *c, struct dml_rng *r, int *n,
                       int *dim, int32_t **sub) {
  int cnt = c->bigbs < s->data.n ? c->bigbs : s->data.n, D = s->storage_dim;
  *sub = xmalloc((size_t)cnt * sizeof **sub);
  dml_sampler_subset(s, r, cnt, *sub);
  int P = c->lowproj_dim > 0 ? c->lowproj_dim : D;
  double *x = xmalloc((size_t)cnt * P * sizeof *x);
  if (c->lowproj_dim > 0) {
    double *W = xmalloc((size_t)D * P * sizeof *W);
    for (long k = 0; k < (long)D * P; k++) W[k] = dml_rng_normal(r) / sqrt((double)P);
    for (int i = 0; i < cnt; i++)
      for (int p = 0; p < P; p++) {
        double acc = 0;
        for (int k = 0; k < D; k++) acc += s->storage[(size_t)(*sub)[i] * D + k] * W[(size_t)k * P + p];
        x[(size_t)i * P + p] = acc;
      }
    free(W);
  } else {
    for (int i = 0; i < cnt; i++)
      for (int k = 0; k < D; k++) x[(size_t)i * D + k] = s->storage[(size_t)(*sub)[i] * D + k];
  }
  *n = cnt;
  *dim = P;
  return x;
}

double coreset_sqdist(const double *a, const double *b, int dim) {
  double acc = 0;
  for (int k = 0; k < dim; k++) acc += (a[k] - b[k]) * (a[k] - b[k]);
  return acc;
}
