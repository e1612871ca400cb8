/* map — the mAP family (spec A10), per query and averaged over all queries, on the neighbour list without the
 * query. Self-exclusion (standard mode) follows two rules, documented in docs/deviations.md:
 *   mAP_1000, mAP_lim, mAP_c, mAP (and e_recall@k): the reference's — the FIRST neighbour is dropped as the query
 *   (with an exact duplicate of another label ranked first, the duplicate is dropped and the query itself counts);
 *   mAP@R, r_precision: pytorch-metric-learning's — the query's own INDEX is dropped wherever it ranks.
 * rel_k = 1 when hit k shares the query's label; Prec@k = (relevant among the first k) / k.
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
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

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
  if (variant == DML_MAP_FULL) return 0;
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

/* ---------------------------------------------------------------------------------------------------------------- */
/* mAP over the full ranking (DML_MAP_FULL) without a kNN list: N neighbours per query would need N² stored indices
 * (14.6 GB at SOP size; the reference's k = N+1 faiss search needs more still). Instead, per block of queries, the
 * scores against every gallery row come from one sgemm (L2: ‖g‖² − 2 q·g, the query's own norm being constant;
 * cosine: −q·g on the normalised rows), and the rank of each relevant row is counted directly:
 * rank_r = 1 + #{j ≠ q : s_j < s_r, or s_j = s_r and j < r}; AP = (1/n_q) Σ_k k / rank_(k) over the relevant rows
 * sorted by rank — the same value as Σ Prec@k·rel_k over the whole list. Ties: by gallery index (faiss's heap may
 * order exactly equal distances differently). Parallel over queries, per-query APs summed in order afterwards. */
struct scored { float s; int32_t j; };

static int scored_before(const struct scored *a, const struct scored *b) {
  return a->s < b->s || (a->s == b->s && a->j < b->j);
}

static int cmp_scored(const void *pa, const void *pb) {
  const struct scored *a = pa, *b = pb;
  return scored_before(a, b) ? -1 : scored_before(b, a) ? 1 : 0;
}

double dml_metric_map_full(const float *q, size_t nq, const float *g, size_t ng, size_t d, int metric,
                           const int32_t *qcls, const int32_t *gcls, int n_classes, const int32_t *n_norm,
                           int exclude_self) {
  /* gallery rows of every class (CSR) */
  size_t *start = xcalloc((size_t)n_classes + 1, sizeof *start);
  for (size_t j = 0; j < ng; j++) start[gcls[j] + 1]++;
  for (int c = 0; c < n_classes; c++) start[c + 1] += start[c];
  int32_t *rows = xmalloc((ng ? ng : 1) * sizeof *rows), *fill = xmalloc(((size_t)n_classes + 1) * sizeof *fill);
  for (int c = 0; c < n_classes; c++) fill[c] = (int32_t)start[c];
  for (size_t j = 0; j < ng; j++) rows[fill[gcls[j]]++] = (int32_t)j;
  free(fill);
  float *gn = xcalloc(ng ? ng : 1, sizeof *gn); /* (ng) squared norms for L2 */
  if (metric == 0)
    for (size_t j = 0; j < ng; j++) {
      double s = 0;
      for (size_t k = 0; k < d; k++) s += (double)g[j * d + k] * g[j * d + k];
      gn[j] = (float)s;
    }
  double *ap = xcalloc(nq ? nq : 1, sizeof *ap); /* (nq) */
  const size_t B = 256;
  float *sc = xmalloc(B * (ng ? ng : 1) * sizeof *sc); /* (B, ng) */
  for (size_t q0 = 0; q0 < nq; q0 += B) {
    size_t m = nq - q0 < B ? nq - q0 : B;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)ng, (int)d, 1.0f, q + q0 * d, (int)d, g,
                (int)d, 0.0f, sc, (int)ng);
#pragma omp parallel for schedule(dynamic, 8)
    for (size_t i = 0; i < m; i++) {
      size_t qi = q0 + i;
      int32_t c = qcls[qi];
      if (c < 0 || n_norm[qi] <= 0) continue;
      float *row = sc + i * ng;
      for (size_t j = 0; j < ng; j++) row[j] = metric == 0 ? gn[j] - 2.0f * row[j] : -row[j];
      /* self-exclusion as the reference's kNN path does it: the first-ranked row is dropped (normally the query;
       * with an exact duplicate ranked first, the duplicate) */
      size_t self = qi;
      if (exclude_self)
        for (size_t j = 0; j < ng; j++) {
          struct scored a = {row[j], (int32_t)j}, b = {row[self], (int32_t)self};
          if (scored_before(&a, &b)) self = j;
        }
      size_t nr = 0, cap = start[c + 1] - start[c];
      struct scored *rel = malloc((cap ? cap : 1) * sizeof *rel);
      size_t *ahead = calloc(cap + 1, sizeof *ahead);
      if (!rel || !ahead) DML_ABORT("out of memory in mAP");
      for (size_t t = start[c]; t < start[c + 1]; t++)
        if (!(exclude_self && (size_t)rows[t] == self)) rel[nr++] = (struct scored){row[rows[t]], rows[t]};
      qsort(rel, nr, sizeof *rel, cmp_scored);
      /* every other row j lies ahead of the relevant rows from the first one it precedes onwards */
      for (size_t j = 0; j < ng; j++) {
        if (exclude_self && j == self) continue;
        struct scored sj = {row[j], (int32_t)j};
        size_t lo = 0, hi = nr; /* first relevant r with sj before r */
        while (lo < hi) {
          size_t mid = (lo + hi) / 2;
          if (scored_before(&sj, &rel[mid])) hi = mid;
          else lo = mid + 1;
        }
        ahead[lo]++;
      }
      double s = 0;
      size_t before = 0;
      for (size_t k = 0; k < nr; k++) {
        before += ahead[k];                 /* rows strictly ahead of the k-th relevant one (itself excluded) */
        s += (double)(k + 1) / (double)(before + 1);
      }
      ap[qi] = s / (double)n_norm[qi];
      free(rel);
      free(ahead);
    }
  }
  double total = 0;
  size_t counted = 0;
  for (size_t qi = 0; qi < nq; qi++)
    if (qcls[qi] >= 0 && n_norm[qi] > 0) {
      total += ap[qi];
      counted++;
    }
  free(sc);
  free(ap);
  free(gn);
  free(rows);
  free(start);
  return counted ? total / (double)counted : NAN;
}
