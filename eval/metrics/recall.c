/* recall — e_recall@k / c_recall@k (spec A10): the fraction of queries whose label appears among their k nearest
 * neighbours, the query itself excluded (the reference drops the first column of a k+1 search). */
#include "eval/eval-impl.h"

double dml_metric_recall(const struct dml_eval_ctx *c, int metric, int k) {
  size_t K = c->nn_k[metric], hits = 0;
  if ((size_t)k > K) k = (int)K;
  for (size_t q = 0; q < c->n; q++) {
    const int64_t *row = c->nn[metric] + q * K;
    for (int j = 0; j < k; j++)
      if (row[j] >= 0 && c->cls[row[j]] == c->cls[q]) {
        hits++;
        break;
      }
  }
  return (double)hits / (double)c->n;
}
