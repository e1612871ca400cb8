/* recall — e_recall@k / c_recall@k (spec A10): the fraction of queries whose label appears among their k nearest
 * neighbours, the query itself excluded (the reference searches k+1 and drops the first column). Query/gallery
 * mode: the fraction of queries with a same-label gallery item among the first k (a query whose label is absent
 * from the gallery counts as a miss). */
#include "eval/eval-impl.h"

double dml_metric_recall(const struct dml_eval_ranking *r, int k) {
  size_t kk = (size_t)k < r->k ? (size_t)k : r->k, hits = 0;
  for (size_t q = 0; q < r->nq; q++) {
    const int32_t *row = r->nn + q * r->k;
    for (size_t j = 0; j < kk; j++)
      if (row[j] >= 0 && r->gcls[row[j]] == r->qcls[q]) {
        hits++;
        break;
      }
  }
  return r->nq ? (double)hits / (double)r->nq : 0.0 / 0.0;
}
