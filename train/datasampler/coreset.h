/* coreset — module-private helpers of the storage samplers (greedy_coreset, d2_coreset, disthist_batchmatch):
 * the random big subset of the storage (with the optional random projection) and squared distances. */
#ifndef DML_DATASAMPLER_CORESET_H
#define DML_DATASAMPLER_CORESET_H
#include "train/train.h"

/* min(bigbs, N) distinct storage rows drawn uniformly: returns (n, dim) doubles (projected to lowproj_dim
 * with a N(0, 1/dim) Gaussian matrix when --data_sampler_lowproj_dim > 0); *sub (n) holds the dataset indices. */
double *coreset_subset(const struct dml_sampler *s, struct dml_rng *r, int *n, int *dim, int32_t **sub);
double coreset_sqdist(const double *a, const double *b, int dim);
#endif
