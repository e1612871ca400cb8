/* eval-impl — what the metric family files share (internal to eval/; tests may include it to reach the
 * family functions directly).
 *
 * A ranking is the neighbour list of every query with the query itself already removed, plus the per-query
 * counts the metrics need. The standard mode (one set, every sample queries the others) and the query/gallery
 * mode fill the same struct, so the recall and mAP families have one code path. */
#ifndef DML_EVAL_IMPL_H
#define DML_EVAL_IMPL_H
#include <stddef.h>
#include <stdint.h>

#include "eval/eval.h"

struct dml_eval_ranking {
  size_t nq;               /* queries */
  size_t k;                /* neighbours kept per query */
  const int32_t *nn;       /* (nq, k) gallery row of each hit, nearest first, self excluded */
  const int32_t *qcls;     /* (nq) query class id; -1 = a class absent from the gallery */
  const int32_t *gcls;     /* (ng) gallery class id of every gallery row */
  const int32_t *n_norm;   /* (nq) the mAP normaliser n_{y_q}: standard mode = class size INCLUDING the query
                              (reference QUIRK E2); query/gallery mode = same-class gallery items */
  const int32_t *n_rel;    /* (nq) relevant items that can be retrieved: class size − 1, or the gallery count */
  size_t n_total;          /* N in the window formulas (mAP_lim = min(1023, N), mAP = N): standard = n, qg = ng */
  size_t n_retrievable;    /* rows a query can retrieve: standard n − 1, qg ng; windows are capped by it */
};

/* recall.c: fraction of queries with a same-class item among the first k (k capped by r->k). */
double dml_metric_recall(const struct dml_eval_ranking *r, int k);

/* map.c: variant 0 mAP_1000, 1 mAP_lim, 2 mAP_c, 3 mAP (full ranking), 4 mAP@R, 5 r_precision. */
enum { DML_MAP_1000, DML_MAP_LIM, DML_MAP_C, DML_MAP_FULL, DML_MAP_AT_R, DML_R_PRECISION, DML_MAP_N_VARIANTS };
double dml_metric_map(const struct dml_eval_ranking *r, int variant);
/* DML_MAP_FULL straight from the embeddings (no neighbour list): query rows q (nq, d) against gallery rows g (ng, d)
 * (the same array in the standard mode, with exclude_self = 1: query i is gallery row i); metric 0 L2, 1 inner
 * product (pass row-normalised rows for cosine). */
double dml_metric_map_full(const float *q, size_t nq, const float *g, size_t ng, size_t d, int metric,
                           const int32_t *qcls, const int32_t *gcls, int n_classes, const int32_t *n_norm,
                           int exclude_self);
/* The neighbour depth a variant needs, given the largest n_norm over the queries (0 for DML_MAP_FULL). */
size_t dml_metric_map_depth(int variant, size_t max_norm, size_t n_total, size_t n_retrievable);

/* clustering.c: cls (n) in 0..n_classes-1, clusters (n) in 0..n_clusters-1. */
double dml_metric_nmi(const int32_t *cls, int n_classes, const int64_t *clusters, int n_clusters, size_t n);
double dml_metric_f1(const int32_t *cls, int n_classes, const int64_t *clusters, int n_clusters, size_t n);

/* dists.c: on the raw embeddings emb (n, d), cosine distance 1 − cos. */
double dml_metric_dists_intra(const float *emb, const int32_t *cls, const int32_t *class_size, int n_classes,
                              size_t n, size_t d);
double dml_metric_dists_inter(const float *emb, const int32_t *cls, int n_classes, size_t n, size_t d);

/* rho_spectrum.c (libdml_spectrum, shared with reports/): see eval/spectrum.h */
#include "eval/spectrum.h"
#endif
