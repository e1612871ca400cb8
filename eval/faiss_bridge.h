/* faiss_bridge — the C face of faiss (Debian's libfaiss.a has no C API symbols). Exact search and k-means with
 * the reference's settings; nothing else in dml includes a faiss header. Returns 0 on success, -1 with a message
 * in err (cap bytes) when faiss throws. */
#ifndef DML_FAISS_BRIDGE_H
#define DML_FAISS_BRIDGE_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/* Exact k nearest neighbours of every row of q (nq, d) among the rows of base (nb, d): metric 0 = L2 (squared
 * distances), 1 = inner product (largest first). idx (nq, k) int64, dist (nq, k) float (may be NULL). */
int dml_faiss_knn(const float *base, size_t nb, const float *q, size_t nq, size_t d, size_t k, int metric,
                  int64_t *idx, float *dist, char *err, size_t cap);
/* k-means as the reference: faiss Clustering, niter 20, min_points_per_centroid 1, max_points_per_centroid 1e9,
 * seed 1234, nredo 1; centroids (k, d) out; assignment (n) = nearest centroid by L2. */
int dml_faiss_kmeans(const float *x, size_t n, size_t d, size_t k, float *centroids, int64_t *assign, char *err,
                     size_t cap);
/* Nearest centroid (by L2, metric 0, or max inner product, metric 1) of every row. */
int dml_faiss_assign(const float *centroids, size_t k, const float *x, size_t n, size_t d, int metric, int64_t *assign,
                     char *err, size_t cap);
/* 1 when the faiss found at build time has GPU index headers (the GPU search path is not implemented yet: Debian's
 * faiss has none, so nothing could build or test it); 0 otherwise. */
int dml_faiss_has_gpu(void);
#ifdef __cplusplus
}
#endif
#endif
