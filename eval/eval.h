/* eval — every reference metric on embeddings (spec A10), keyed exactly as the reference logs them.
 *
 *   const char *keys[] = {"e_recall@1", "nmi", "mAP_c"};
 *   struct dml_metric_result res[3];
 *   struct dml_eval_opts o = {.kmeans_k = n_train_classes};
 *   if ((st = dml_eval_metrics(emb, labels, n, d, keys, 3, &o, res))) ...;
 *   ... res[i].key, res[i].value (NaN for array metrics: res[i].array, res[i].array_len) ...
 *   dml_eval_results_free(res, 3);
 *
 * Work is shared: one exact kNN search (faiss) serves every recall/mAP key of a metric (L2 or cosine), one
 * k-means serves nmi and f1 (and c_nmi, c_f1), one exact SVD every rho_spectrum key. Results are deterministic
 * whatever the thread count (bitwise; tests/eval checks 1 vs 2 threads).
 * Keys: e_recall@k, c_recall@k (any k >= 1), nmi, c_nmi, f1, c_f1, mAP_1000, mAP_lim, mAP_c, mAP (and c_
 * variants), mAP@R, r_precision (Musgrave et al. 2020; and c_ variants), dists@intra, dists@inter,
 * dists@intra_over_inter, rho_spectrum@m for any integer m (m = 0: the normalised spectrum as an array).
 * Definitions, quirks and the few documented deviations: eval/metrics/<family>.c headers and spec A10.
 * rho_spectrum follows the reference CPU path (the top d-1 singular values), recorded in `definition`.
 */
#ifndef DML_EVAL_H
#define DML_EVAL_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct dml_eval_opts {
  int kmeans_k;        /* clusters for nmi/f1; <= 0: number of distinct labels. The reference uses the number of TRAINING classes */
  int n_threads;       /* <= 0: leave the OpenMP default */
  int on_gpu;          /* exact kNN on the GPU (kernels/cuda/knn.cu) instead of faiss; k-means stays on the CPU */
};

struct dml_metric_result {
  char key[64];            /* e.g. "e_recall@1" */
  double value;            /* NaN for array metrics */
  const char *definition;  /* static string naming the definition version, e.g. "mAP_c/revisit-A10" */
  double *array;           /* rho_spectrum@0: the normalised spectrum (heap), else NULL */
  size_t array_len;
};

/* Is `key` a metric we can compute? */
int dml_eval_known_metric(const char *key);
/* Compute every key on (n,d) float32 embeddings with int32 labels; out has n_keys entries in the order of keys.
 * Errors: unknown key (named, with the closest known), n < 2, a single class, NaN/Inf in embeddings. */
dml_status dml_eval_metrics(const float *emb, const int32_t *labels, size_t n, size_t d, const char *const *keys,
                            size_t n_keys, const struct dml_eval_opts *opts, struct dml_metric_result *out);
/* Frees the arrays inside r[0..n) (not r itself). */
void dml_eval_results_free(struct dml_metric_result *r, size_t n);
/* Query/gallery mode (In-Shop): every query row is retrieved from the separate gallery (nothing excluded);
 * recall@k and the mAP keys only (any other key is a DML_ERR_ARG). The mAP normaliser and R are the number of
 * gallery items sharing the query's label; queries without any count as recall misses and are left out of the mAP
 * means. */
dml_status dml_eval_metrics_qg(const float *query, const int32_t *qlabels, size_t nq, const float *gallery,
                               const int32_t *glabels, size_t ng, size_t d, const char *const *keys, size_t n_keys,
                               const struct dml_eval_opts *opts, struct dml_metric_result *out);
#endif
