/* map — the mAP family (spec A10), per query and averaged over all queries, on the neighbour list with the query
 * itself dropped; rel_k = 1 when hit k shares the query's label, Prec@k = (relevant among the first k)/k.
 *   mAP_1000 (variant 0): AP_q = (1/n_q) Σ_{k≤R} Prec@k·rel_k with R = 1000 and n_q the query's class size
 *                         INCLUDING the query (so a perfect ranking scores (n_q−1)/n_q, as the reference);
 *   mAP_lim (1): R = min(1023, N); mAP_c (2): R = n_q (the ICML-era "mAP"); mAP (3): R = N (full ranking);
 *   R is capped by the N−1 retrievable items.
 *   mAP@R (4, Musgrave et al. 2020): R = n_q − 1, AP = (1/R) Σ_{k≤R} Prec@k·rel_k;
 *   r_precision (5): (relevant among the first R)/R with R = n_q − 1. Queries alone in their class are skipped
 *   for 4 and 5 (R = 0), as pytorch-metric-learning does. */
#include <math.h>

#include "eval/eval-impl.h"

static size_t window(const struct dml_eval_ctx *c, int variant, size_t nq) {
  switch (variant) {
    case 0: return 1000;
    case 1: return c->n < 1023 ? c->n : 1023;
    case 2: return nq;
    case 3: return c->n;
    default: return nq - 1;
  }
}

size_t dml_metric_map_depth(const struct dml_eval_ctx *c, int variant) {
  size_t maxc = 0;
  for (int k = 0; k < c->n_classes; k++)
    if ((size_t)c->class_size[k] > maxc) maxc = (size_t)c->class_size[k];
  size_t w = window(c, variant, maxc);
  return w < c->n - 1 ? w : c->n - 1;
}

double dml_metric_map(const struct dml_eval_ctx *c, int metric, int variant) {
  size_t K = c->nn_k[metric];
  double total = 0;
  size_t counted = 0;
  for (size_t q = 0; q < c->n; q++) {
    size_t nq = (size_t)c->class_size[c->cls[q]];
    size_t R = window(c, variant, nq);
    if (R > K) R = K;
    if (variant >= 4 && nq < 2) continue;
    const int64_t *row = c->nn[metric] + q * K;
    double ap = 0;
    size_t rel = 0;
    for (size_t k = 0; k < R; k++) {
      if (row[k] >= 0 && c->cls[row[k]] == c->cls[q]) {
        rel++;
        ap += (double)rel / (double)(k + 1);
      }
    }
    if (variant == 5) total += (double)rel / (double)(nq - 1);
    else if (variant == 4) total += ap / (double)(nq - 1);
    else total += ap / (double)nq;
    counted++;
  }
  return counted ? total / (double)counted : NAN;
}
