/* clustering — nmi / c_nmi and f1 / c_f1 from a k-means assignment (spec A10).
 * NMI = MI(U, V) / mean(H(U), H(V)) with natural logarithms: sklearn's normalized_mutual_info_score with its
 * default arithmetic averaging (sklearn ≥ 0.22); 1 when both labelings are constant.
 * F1 is the pairwise F-measure: A = Σ_classes C(n_c, 2), B = Σ_clusters C(m_k, 2), T = Σ_{class, cluster} C(n_ck, 2),
 * P = T/A, R = T/B (the reference names them the other way round; F1 is symmetric), F1 = 2PR/(P+R) = 2T/(A+B).
 * The partition is the k-means assignment itself: the reference relabels each cluster by its member closest to the
 * centroid, which renames clusters without changing the partition, so F1 is unchanged.
 * DEVIATION: when no pair agrees (T = 0) we return 0; the reference's 2PR/(P+R) is 0/0 = NaN there. */
#include <math.h>
#include <stdlib.h>

#include "eval/eval-impl.h"

/* contingency counts: sparse, as (class, cluster) pairs sorted — n can be 60k with 11k classes */
static int cmp_pair(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

static int64_t *pairs_sorted(const int32_t *cls, const int64_t *clusters, size_t n) {
  int64_t *p = xmalloc(2 * n * sizeof *p);
  for (size_t i = 0; i < n; i++) {
    p[2 * i] = cls[i];
    p[2 * i + 1] = clusters[i];
  }
  qsort(p, n, 2 * sizeof *p, cmp_pair);
  return p;
}

static double entropy(const long *cnt, int k, size_t n) {
  double h = 0;
  for (int i = 0; i < k; i++)
    if (cnt[i]) h -= (double)cnt[i] / n * log((double)cnt[i] / n);
  return h;
}

double dml_metric_nmi(const int32_t *cls, int n_classes, const int64_t *clusters, int n_clusters, size_t n) {
  long *a = xcalloc((size_t)n_classes, sizeof *a), *b = xcalloc((size_t)n_clusters, sizeof *b);
  for (size_t i = 0; i < n; i++) {
    a[cls[i]]++;
    b[clusters[i]]++;
  }
  int64_t *p = pairs_sorted(cls, clusters, n);
  double mi = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && p[2 * j] == p[2 * i] && p[2 * j + 1] == p[2 * i + 1]) j++;
    double nij = (double)(j - i);
    mi += nij / n * log(nij * n / ((double)a[p[2 * i]] * b[p[2 * i + 1]]));
    i = j;
  }
  double ha = entropy(a, n_classes, n), hb = entropy(b, n_clusters, n);
  free(a);
  free(b);
  free(p);
  if (ha == 0 && hb == 0) return 1.0;
  double denom = (ha + hb) / 2;
  if (mi < 0) mi = 0;
  return denom > 0 ? mi / denom : 0;
}

double dml_metric_f1(const int32_t *cls, int n_classes, const int64_t *clusters, int n_clusters, size_t n) {
  long *a = xcalloc((size_t)n_classes, sizeof *a), *b = xcalloc((size_t)n_clusters, sizeof *b);
  for (size_t i = 0; i < n; i++) {
    a[cls[i]]++;
    b[clusters[i]]++;
  }
  double A = 0, B = 0, T = 0;
  for (int i = 0; i < n_classes; i++) A += a[i] * (a[i] - 1.0) / 2;
  for (int i = 0; i < n_clusters; i++) B += b[i] * (b[i] - 1.0) / 2;
  int64_t *p = pairs_sorted(cls, clusters, n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && p[2 * j] == p[2 * i] && p[2 * j + 1] == p[2 * i + 1]) j++;
    double nij = (double)(j - i);
    T += nij * (nij - 1) / 2;
    i = j;
  }
  free(a);
  free(b);
  free(p);
  return A + B > 0 ? 2 * T / (A + B) : 0;
}
