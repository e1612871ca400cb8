/* map — the mAP family (spec A10), per query and averaged over all queries, on the neighbour list with the query
 * itself dropped. rel_k = 1 when hit k shares the query's label; Prec@k = (relevant among the first k) / k.
 *
 *   AP_q = (1/n_q) Σ_{k≤R} Prec@k·rel_k, n_q = the query's class size INCLUDING the query (reference QUIRK E2:
 *   a perfect ranking scores (n_q−1)/n_q), with the window R:
 *     mAP_1000 (DML_MAP_1000): R = 1000;   mAP_lim: R = min(1023, N);   mAP_c: R = n_q (the ICML-era "mAP");
 *     mAP (DML_MAP_FULL): R = N.
 *   Every window is capped by the N−1 items a query can retrieve. DEVIATION (documented): where the reference asks
 *   faiss for more neighbours than exist (N ≤ 1000 for mAP_1000, N ≤ 1023 for mAP_lim, always for mAP), faiss pads
 *   with index −1 and numpy then reads the LAST sample's label there; we never count a padded slot as relevant.
 *
 *   mAP@R (Musgrave et al. 2020, "A Metric Learning Reality Check"): R = n_q − 1 (the other members of the class),
 *   AP@R = (1/R) Σ_{k≤R} Prec@k·rel_k;  r_precision = (relevant among the first R) / R. Queries with R = 0 are
 *   left out of the mean, as pytorch-metric-learning does.
 *
 * Query/gallery mode: n_q = R = the number of same-label gallery items; queries without any are left out of every
 * mAP variant (their AP is undefined). */
#include <math.h>

#include "eval/eval-impl.h"

static size_t window(int variant, size_t norm, size_t n_total) {
  switch (variant) {
    case DML_MAP_1000: return 1000;
    case DML_MAP_LIM: return n_total < 1023 ? n_total : 1023;
    case DML_MAP_C: return norm;
    case DML_MAP_FULL: return n_total;
    default: return norm; /* mAP@R, r_precision: R = n_rel, which is ≤ n_norm */
  }
}

size_t dml_metric_map_depth(int variant, size_t max_norm, size_t n_total, size_t n_retrievable) {
  size_t w = window(variant, max_norm, n_total);
  return w < n_retrievable ? w : n_retrievable;
}

double dml_metric_map(const struct dml_eval_ranking *r, int variant) {
  double total = 0;
  size_t counted = 0;
  for (size_t q = 0; q < r->nq; q++) {
    size_t norm = (size_t)r->n_norm[q], rel_n = (size_t)r->n_rel[q];
    if (variant >= DML_MAP_AT_R ? rel_n == 0 : norm == 0) continue;
    size_t R = variant >= DML_MAP_AT_R ? rel_n : window(variant, norm, r->n_total);
    if (R > r->n_retrievable) R = r->n_retrievable;
    if (R > r->k) R = r->k; /* never: the search depth covers every window */
    const int32_t *row = r->nn + q * r->k;
    int32_t c = r->qcls[q];
    double ap = 0;
    size_t rel = 0;
    for (size_t k = 0; k < R; k++)
      if (row[k] >= 0 && r->gcls[row[k]] == c) {
        rel++;
        ap += (double)rel / (double)(k + 1);
      }
    if (variant == DML_R_PRECISION) total += (double)rel / (double)rel_n;
    else if (variant == DML_MAP_AT_R) total += ap / (double)rel_n;
    else total += ap / (double)norm;
    counted++;
  }
  return counted ? total / (double)counted : NAN;
}
