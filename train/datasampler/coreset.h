/* coreset — module-private helpers of the storage samplers (greedy_coreset, d2_coreset, disthist_batchmatch):
 * the random big subset of the storage (with the optional random projection) and squared distances. */
#ifndef DML_DATASAMPLER_CORESET_H
#define DML_DATASAMPLER_CORESET_H
#include "train/methods.h"

/* The flags the coreset samplers share (one flag each in dml-train's table) and their values. */
#define CORESET_FLAGS                                                                                                 \
  DML_METHOD_FLAG(data_batchmatch_bigbs, INT, "512", "big-batch size for the coreset / batch-match samplers"),       \
  DML_METHOD_FLAG(data_sampler_lowproj_dim, INT, "-1",                                                              \
                  "if > 0: random linear projection of the storage before coreset selection")
struct coreset_opts {
  int bigbs, lowproj_dim;
};
/* Read CORESET_FLAGS from opt (--data_batchmatch_bigbs must be ≥ 1). */
dml_status coreset_opts_read(const struct dml_opts *opt, struct coreset_opts *c);
/* min(bigbs, N) distinct storage rows drawn uniformly: returns (n, dim) doubles (projected to lowproj_dim
 * with a N(0, 1/dim) Gaussian matrix when --data_sampler_lowproj_dim > 0); *sub (n) holds the dataset indices. */
double *coreset_subset(const struct dml_sampler *s, const struct coreset_opts *c, struct dml_rng *r, int *n,
                       int *dim, int32_t **sub);
double coreset_sqdist(const double *a, const double *b, int dim);
#endif
