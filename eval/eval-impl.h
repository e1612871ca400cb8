/* eval-impl — what the metric family files share (internal to eval/). */
#ifndef DML_EVAL_IMPL_H
#define DML_EVAL_IMPL_H
#include <stddef.h>
#include <stdint.h>

#include "eval/eval.h"

/* The data and the shared pre-computations of one evaluation. Index 0 = Euclidean (L2 on F), 1 = cosine
 * (inner product on row-normalised F). */
struct dml_eval_ctx {
  const float *emb;       /* (n, d) */
  float *emb_cos;         /* (n, d) row-normalised copy */
  size_t n, d;
  int32_t *cls;           /* (n) dense class id 0..n_classes-1 */
  int n_classes;
  int *class_size;        /* (n_classes) */
  int64_t *nn[2];         /* (n, nn_k[m]) neighbours with the first hit (self) dropped */
  size_t nn_k[2];
  int64_t *clusters[2];   /* (n) k-means assignment */
  int kmeans_k;
};

/* recall.c */
double dml_metric_recall(const struct dml_eval_ctx *c, int metric, int k);
/* clustering.c */
double dml_metric_nmi(const int32_t *cls, int n_classes, const int64_t *clusters, int n_clusters, size_t n);
double dml_metric_f1(const int32_t *cls, int n_classes, const int64_t *clusters, int n_clusters, size_t n);
/* map.c: variant 0 mAP_1000, 1 mAP_lim, 2 mAP_c, 3 mAP (full), 4 mAP@R, 5 r_precision. Needed kNN depth: */
double dml_metric_map(const struct dml_eval_ctx *c, int metric, int variant);
size_t dml_metric_map_depth(const struct dml_eval_ctx *c, int variant);
/* dists.c: which 0 intra, 1 inter */
double dml_metric_dists(const struct dml_eval_ctx *c, int which);
/* rho_spectrum.c: m != 0 → KL value; m == 0 → *array (heap) and *len, returns NaN. Returns NaN + sets
 * *err on a LAPACK failure. */
double dml_metric_rho_spectrum(const struct dml_eval_ctx *c, int m, double **array, size_t *len, int *err);
#endif
