/* eval — key parsing, the shared pre-computations and dispatch to the metric family files in eval/metrics/.
 * See eval.h for the contract.
 *
 * Shared work (spec A10), each done at most once per call and only when a requested key needs it:
 *   - dense class ids and class sizes;
 *   - per metric kind (0 = Euclidean on F, 1 = cosine = inner product on the row-normalised F_cos) ONE exact
 *     kNN search, deep enough for the deepest recall/mAP key of that kind; every key slices it;
 *   - ONE k-means on F (faiss, the reference settings) for nmi and f1; c_nmi/c_f1 re-assign F_cos to the
 *     row-normalised Euclidean centroids by inner product (reference QUIRK: the cosine k-means the reference also
 *     trains is never used, so we skip it);
 *   - ONE exact singular-value decomposition for every rho_spectrum key.
 * Determinism: faiss's exact search and k-means, OpenBLAS sgemm and our own loops parallelise over independent
 * outputs only, so results do not depend on the thread count (tests/eval checks 1 vs 2 threads bitwise). */
#include "eval/eval.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "eval/eval-impl.h"
#include "eval/faiss_bridge.h"
#include "kernels/ops.h"

enum kind { K_RECALL, K_NMI, K_F1, K_MAP, K_DISTS, K_RHO };

struct req {
  enum kind kind;
  int metric; /* 0 Euclidean, 1 cosine */
  int arg;    /* recall k; map variant; dists which (0 intra, 1 inter, 2 ratio); rho m */
};

static const char *const map_names[DML_MAP_N_VARIANTS] = {"mAP_1000", "mAP_lim", "mAP_c", "mAP", "mAP@R",
                                                          "r_precision"};
static const char *const known_list =
    "e_recall@k, c_recall@k (k >= 1), nmi, c_nmi, f1, c_f1, mAP_1000, mAP_lim, mAP_c, mAP, mAP@R, r_precision "
    "(and c_ variants of the mAP keys), dists@intra, dists@inter, dists@intra_over_inter, rho_spectrum@m (integer m)";

/* ---------------------------------------------------------------------------------------------------------------- */
/* keys */

static int parse_int(const char *s, int *v) {
  char *end;
  long x = strtol(s, &end, 10);
  if (!*s || *end || x > 1000000000L || x < -1000000000L) return 0;
  *v = (int)x;
  return 1;
}

static int parse_key(const char *key, struct req *r) {
  memset(r, 0, sizeof *r);
  if (!key) return 0;
  if (!strncmp(key, "e_recall@", 9) || !strncmp(key, "c_recall@", 9)) {
    r->kind = K_RECALL;
    r->metric = key[0] == 'c';
    return parse_int(key + 9, &r->arg) && r->arg >= 1;
  }
  if (!strncmp(key, "rho_spectrum@", 13)) {
    r->kind = K_RHO;
    return parse_int(key + 13, &r->arg);
  }
  if (!strcmp(key, "dists@intra")) { r->kind = K_DISTS; r->arg = 0; return 1; }
  if (!strcmp(key, "dists@inter")) { r->kind = K_DISTS; r->arg = 1; return 1; }
  if (!strcmp(key, "dists@intra_over_inter")) { r->kind = K_DISTS; r->arg = 2; return 1; }
  const char *k = key;
  if (!strncmp(k, "c_", 2)) { r->metric = 1; k += 2; }
  if (!strcmp(k, "nmi")) { r->kind = K_NMI; return 1; }
  if (!strcmp(k, "f1")) { r->kind = K_F1; return 1; }
  for (int i = 0; i < DML_MAP_N_VARIANTS; i++)
    if (!strcmp(k, map_names[i])) { r->kind = K_MAP; r->arg = i; return 1; }
  return 0;
}

int dml_eval_known_metric(const char *key) {
  struct req r;
  return parse_key(key, &r);
}

static const char *definition(const struct req *r) {
  switch (r->kind) {
    case K_RECALL: return "recall@k/A10-v1 (first neighbour dropped as self)";
    case K_NMI: return "nmi/A10-v1 (sklearn arithmetic normalisation; faiss k-means niter 20 seed 1234, k = kmeans_k)";
    case K_F1: return "f1/A10-v1 (pairwise F-measure of the k-means partition)";
    case K_MAP:
      switch (r->arg) {
        case DML_MAP_1000: return "mAP_1000/A10-v1 (R = 1000, normaliser = class size incl. query)";
        case DML_MAP_LIM: return "mAP_lim/A10-v1 (R = min(1023, N), normaliser = class size incl. query)";
        case DML_MAP_C: return "mAP_c/A10-v1 (R = class size incl. query; the ICML-era 'mAP')";
        case DML_MAP_FULL: return "mAP/A10-v1 (R = N, normaliser = class size incl. query)";
        case DML_MAP_AT_R: return "mAP@R/musgrave2020-v2 (the query excluded by index)";
        default: return "r_precision/musgrave2020-v2 (the query excluded by index)";
      }
    case K_DISTS: return "dists/A10-v1 (cosine distance; intra NaN fill from elements 0/1 as the reference)";
    case K_RHO: return "rho_spectrum/cpu-top(d-1) (reference CPU path: top d-1 singular values of uncentred F; exact, dsyev on the float64 Gram matrix)";
  }
  return "";
}

static dml_status unknown_key(const char *key) {
  static const char *const cands[] = {"e_recall@1", "c_recall@1", "nmi", "c_nmi", "f1", "c_f1", "mAP_1000",
                                      "mAP_lim", "mAP_c", "mAP", "mAP@R", "r_precision", "c_mAP_1000", "c_mAP_lim",
                                      "c_mAP_c", "c_mAP", "c_mAP@R", "c_r_precision", "dists@intra", "dists@inter",
                                      "dists@intra_over_inter", "rho_spectrum@0", "rho_spectrum@2"};
  size_t best = (size_t)-1;
  const char *b = cands[0];
  for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
    size_t d = dml_edit_distance(key ? key : "", cands[i]);
    if (d < best) { best = d; b = cands[i]; }
  }
  return dml_error(DML_ERR_ARG, "unknown metric '%s' (closest: %s; known: %s)", key ? key : "(null)", b, known_list);
}

void dml_eval_results_free(struct dml_metric_result *r, size_t n) {
  if (!r) return;
  for (size_t i = 0; i < n; i++) {
    free(r[i].array);
    r[i].array = NULL;
    r[i].array_len = 0;
  }
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* shared pre-computations */

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Sorted distinct labels (heap) and their count. */
static int32_t *distinct_labels(const int32_t *labels, size_t n, int *n_distinct) {
  int32_t *u = xmalloc((n ? n : 1) * sizeof *u);
  memcpy(u, labels, n * sizeof *u);
  qsort(u, n, sizeof *u, cmp_i32);
  int nu = 0;
  for (size_t i = 0; i < n; i++)
    if (!nu || u[i] != u[nu - 1]) u[nu++] = u[i];
  *n_distinct = nu;
  return u;
}

/* Index of `label` in the sorted distinct list, or -1. */
static int32_t class_of(const int32_t *uniq, int nu, int32_t label) {
  int lo = 0, hi = nu - 1;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (uniq[mid] < label) lo = mid + 1;
    else hi = mid;
  }
  return nu && uniq[lo] == label ? lo : -1;
}

static float *row_normalised(const float *x, size_t n, size_t d) {
  float *y = xmalloc(n * d * sizeof *y);
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
    s = sqrt(s) > 1e-12 ? sqrt(s) : 1e-12; /* torch.nn.functional.normalize's eps */
    for (size_t j = 0; j < d; j++) y[i * d + j] = (float)(x[i * d + j] / s);
  }
  return y;
}

/* Finite values near ±FLT_MAX overflow every squared distance to Inf, and faiss then assigns k-means cluster −1
 * or asserts (issue 15). Every metric here is invariant under one positive scale of all embeddings (rankings,
 * cluster assignments, distance ratios, normalised spectra), so embeddings larger than 2^40 in magnitude are
 * scaled by a power of two, which is exact in float32 (only values below 2^-149 of the new scale flush to 0).
 * Returns the factor (1 when nothing needs scaling). */
static float tame_factor(const float *x, size_t count) {
  float m = 0;
  for (size_t i = 0; i < count; i++)
    if (fabsf(x[i]) > m) m = fabsf(x[i]);
  if (!(m > 0x1p40f)) return 1.0f;
  int e;
  frexpf(m, &e); /* m = f · 2^e, f in [0.5, 1) */
  return ldexpf(1.0f, -e);
}

static float *scaled_copy(const float *x, size_t count, float f) {
  float *y = xmalloc((count ? count : 1) * sizeof *y);
  for (size_t i = 0; i < count; i++) y[i] = x[i] * f;
  return y;
}

static dml_status check_finite(const float *x, size_t n, size_t d, const char *what) {
  for (size_t i = 0; i < n * d; i++)
    if (!isfinite(x[i]))
      return dml_error(DML_ERR_NUMERIC, "%s row %zu has a non-finite value (%g) in dimension %zu", what, i / d,
                       (double)x[i], i % d);
  return DML_OK;
}

/* Exact kNN of the nq query rows among the nb base rows with faiss; keeps k columns per query, dropping the first
 * hit when drop_first (the reference's self-exclusion). Queries go to faiss in blocks that are multiples of faiss's
 * own 4096-query block (the last block absorbs a short tail, so no call falls under faiss's 20-query BLAS
 * threshold unless the whole set does): the distances are then computed exactly as one big search would compute
 * them, and the output is stored as int32 (N < 2^31) to halve the memory. */
static dml_status knn(const float *base, size_t nb, const float *q, size_t nq, size_t d, size_t k, int drop_first,
                      int metric, int gpu, int32_t **out) {
  /* --evaluate_on_gpu: the same exhaustive search on the GPU (kernels/cuda/knn.cu), faiss's contract */
  int (*search)(const float *, size_t, const float *, size_t, size_t, size_t, int, int64_t *, float *, char *,
                size_t) = gpu ? dml_gpu_knn : dml_faiss_knn;
  size_t kk = k + (drop_first ? 1 : 0);
  if (kk > nb) kk = nb;
  size_t keep = kk - (drop_first ? 1 : 0);
  const size_t QB = 2 * 4096;
  size_t blk = nq < QB ? nq : QB;
  int64_t *idx = xmalloc(blk * kk * sizeof *idx + 8); /* (blk + tail, kk) reused per block */
  float *dist = xmalloc(blk * kk * sizeof *dist + 8);
  *out = xmalloc(nq * keep * sizeof **out + 8);
  char err[512];
  for (size_t q0 = 0; q0 < nq;) {
    size_t m = nq - q0 < QB ? nq - q0 : QB;
    if (nq - q0 - m > 0 && nq - q0 - m < 4096) m = nq - q0; /* absorb the tail */
    if (m > blk) {
      blk = m;
      idx = xrealloc(idx, blk * kk * sizeof *idx + 8);
      dist = xrealloc(dist, blk * kk * sizeof *dist + 8);
    }
    if (search(base, nb, q + q0 * d, m, d, kk, metric, idx, dist, err, sizeof err)) {
      free(idx);
      free(dist);
      free(*out);
      *out = NULL;
      return dml_error(DML_ERR_STATE, "%s", err);
    }
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < keep; j++) (*out)[(q0 + i) * keep + j] = (int32_t)idx[i * kk + j + (drop_first ? 1 : 0)];
    q0 += m;
  }
  free(idx);
  free(dist);
  return DML_OK;
}

/* Self-excluded neighbour lists from the n × kk list `raw` of every sample against all (itself included), keeping
 * `keep` ≤ kk − 1 columns: by_index = 0 drops the first hit (the reference's rule for e_recall@k and the mAP_*
 * family: with an exact duplicate of another label ranked first, the duplicate is dropped and the query itself
 * stays in the list); by_index = 1 drops the query's own index wherever it appears (pytorch-metric-learning's
 * rule, for mAP@R and r_precision; when the query is not among the kk hits, the last hit is dropped). */
static int32_t *self_excluded(const int32_t *raw, size_t n, size_t kk, size_t keep, int by_index) {
  int32_t *out = xmalloc(n * keep * sizeof *out + 8);
  for (size_t i = 0; i < n; i++) {
    const int32_t *row = raw + i * kk;
    size_t skip = 0;
    if (by_index) {
      skip = kk - 1;
      for (size_t j = 0; j < kk; j++)
        if (row[j] == (int32_t)i) {
          skip = j;
          break;
        }
    }
    for (size_t j = 0, o = 0; j < kk && o < keep; j++)
      if (j != skip) out[i * keep + o++] = row[j];
  }
  return out;
}

/* k-means assignments: clusters[0] (Euclidean, on F) and, when want_cos, clusters[1] (F_cos against the
 * row-normalised Euclidean centroids by inner product: the reference's quirk). */
static dml_status kmeans(const float *emb, const float *emb_cos, size_t n, size_t d, int k, int want_cos,
                         int64_t *clusters[2]) {
  char err[512];
  float *cent = xmalloc((size_t)k * d * sizeof *cent); /* (k, d) */
  clusters[0] = xmalloc(n * sizeof(int64_t));
  if (dml_faiss_kmeans(emb, n, d, (size_t)k, cent, clusters[0], err, sizeof err)) {
    free(cent);
    return dml_error(DML_ERR_STATE, "%s", err);
  }
  dml_status st = DML_OK;
  if (want_cos) {
    float *cn = row_normalised(cent, (size_t)k, d);
    clusters[1] = xmalloc(n * sizeof(int64_t));
    if (dml_faiss_assign(cn, (size_t)k, emb_cos, n, d, 1, clusters[1], err, sizeof err))
      st = dml_error(DML_ERR_STATE, "%s", err);
    free(cn);
  }
  free(cent);
  /* faiss marks a sample it could not assign (non-finite distances) with −1: never use it as an index */
  for (int m = 0; m < (want_cos ? 2 : 1) && !st; m++)
    for (size_t i = 0; i < n; i++)
      if (clusters[m][i] < 0 || clusters[m][i] >= k) {
        st = dml_error(DML_ERR_NUMERIC, "k-means assigned no cluster to embedding %zu (cluster %lld): the distances are not "
                       "finite", i, (long long)clusters[m][i]);
        break;
      }
  return st;
}

/* Restores the caller's OpenMP thread count on every exit path. */
struct threads { int saved, changed; };
static struct threads threads_set(const struct dml_eval_opts *o) {
  struct threads t = {omp_get_max_threads(), 0};
  if (o && o->n_threads > 0 && o->n_threads != t.saved) {
    omp_set_num_threads(o->n_threads);
    t.changed = 1;
  }
  return t;
}
static void threads_restore(struct threads t) {
  if (t.changed) omp_set_num_threads(t.saved);
}

static dml_status parse_all(const char *const *keys, size_t n_keys, struct req **rq) {
  *rq = xcalloc(n_keys + 1, sizeof **rq);
  for (size_t i = 0; i < n_keys; i++)
    if (!parse_key(keys[i], &(*rq)[i])) {
      free(*rq);
      *rq = NULL;
      return unknown_key(keys[i]);
    }
  return DML_OK;
}

static void fill_header(struct dml_metric_result *o, const char *key, const struct req *r) {
  memset(o, 0, sizeof *o);
  snprintf(o->key, sizeof o->key, "%s", key);
  o->definition = definition(r);
  o->value = NAN;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* standard mode: every sample queries all the others */

dml_status dml_eval_metrics(const float *emb, const int32_t *labels, size_t n, size_t d, const char *const *keys,
                            size_t n_keys, const struct dml_eval_opts *opts, struct dml_metric_result *out) {
  struct req *rq;
  dml_status st = parse_all(keys, n_keys, &rq);
  if (st) return st;
  if (n < 2) st = dml_error(DML_ERR_ARG, "evaluation needs at least 2 embeddings, got %zu", n);
  else if (d < 1) st = dml_error(DML_ERR_ARG, "the embeddings have dimension 0");
  else if (n > INT32_MAX) st = dml_error(DML_ERR_ARG, "too many embeddings (%zu)", n);
  else st = check_finite(emb, n, d, "embedding");
  float *emb_scaled = NULL; /* (n, d), only for embeddings beyond 2^40 in magnitude */
  if (!st) {
    float f = tame_factor(emb, n * d);
    if (f != 1.0f) emb = emb_scaled = scaled_copy(emb, n * d, f);
  }
  int nu = 0;
  int32_t *uniq = st ? NULL : distinct_labels(labels, n, &nu);
  if (!st && nu < 2)
    st = dml_error(DML_ERR_ARG, "evaluation needs at least 2 classes; all %zu embeddings have label %d", n,
                   (int)labels[0]);
  if (st) {
    free(uniq);
    free(rq);
    free(emb_scaled);
    return st;
  }
  struct threads th = threads_set(opts);

  int32_t *cls = xmalloc(n * sizeof *cls);                     /* (n) dense class id */
  int32_t *class_size = xcalloc((size_t)nu, sizeof *class_size); /* (nu) */
  for (size_t i = 0; i < n; i++) {
    cls[i] = class_of(uniq, nu, labels[i]);
    class_size[cls[i]]++;
  }
  free(uniq);
  size_t max_class = 0;
  for (int c = 0; c < nu; c++)
    if ((size_t)class_size[c] > max_class) max_class = (size_t)class_size[c];
  int32_t *n_norm = xmalloc(n * sizeof *n_norm), *n_rel = xmalloc(n * sizeof *n_rel); /* (n) */
  for (size_t i = 0; i < n; i++) {
    n_norm[i] = class_size[cls[i]];
    n_rel[i] = class_size[cls[i]] - 1;
  }

  /* what is needed */
  /* two neighbour lists per metric: [0] with the first hit dropped (e_recall@k, mAP_*: the reference), [1] with
   * the query's own index dropped (mAP@R, r_precision: pytorch-metric-learning) */
  size_t depth[2][2] = {{0, 0}, {0, 0}};
  int need_knn[2][2] = {{0, 0}, {0, 0}}, need_km[2] = {0, 0}, need_cos = 0, need_rho = 0;
  for (size_t i = 0; i < n_keys; i++) {
    const struct req *r = &rq[i];
    if (r->kind == K_RECALL || r->kind == K_MAP) {
      size_t dd = r->kind == K_RECALL ? (size_t)r->arg : dml_metric_map_depth(r->arg, max_class, n, n - 1);
      int by_index = r->kind == K_MAP && r->arg >= DML_MAP_AT_R;
      if (dd > n - 1) dd = n - 1;
      if (dd) need_knn[r->metric][by_index] = 1;
      if (dd > depth[r->metric][by_index]) depth[r->metric][by_index] = dd;
    }
    if (r->kind == K_NMI || r->kind == K_F1) need_km[r->metric] = 1;
    if (r->kind == K_RHO) need_rho = 1;
    if (r->metric) need_cos = 1;
  }
  float *emb_cos = need_cos ? row_normalised(emb, n, d) : NULL; /* (n, d) */
  int32_t *nn[2][2] = {{NULL, NULL}, {NULL, NULL}};             /* (n, depth[m][s]) */
  for (int m = 0; m < 2 && !st; m++) {
    if (!need_knn[m][0] && !need_knn[m][1]) continue;
    size_t kk = (depth[m][0] > depth[m][1] ? depth[m][0] : depth[m][1]) + 1; /* ≤ n: depths are ≤ n − 1 */
    int32_t *raw = NULL;                                                         /* (n, kk), self included */
    st = knn(m ? emb_cos : emb, n, m ? emb_cos : emb, n, d, kk, 0, m, opts && opts->on_gpu, &raw);
    for (int s = 0; s < 2 && !st; s++)
      if (need_knn[m][s]) nn[m][s] = self_excluded(raw, n, kk, depth[m][s], s);
    free(raw);
  }
  int64_t *clusters[2] = {NULL, NULL};
  int kk = opts && opts->kmeans_k > 0 ? opts->kmeans_k : nu;
  if ((size_t)kk > n) kk = (int)n; /* faiss needs at least k points; the reference would stop here */
  if (!st && (need_km[0] || need_km[1])) st = kmeans(emb, emb_cos, n, d, kk, need_km[1], clusters);
  double *sv = NULL; /* (d) singular values, largest first */
  if (!st && need_rho) {
    sv = xmalloc(d * sizeof *sv);
    int info = dml_metric_singular_values(emb, n, d, sv);
    if (info) st = dml_error(DML_ERR_NUMERIC, "rho_spectrum: LAPACK dsyev failed (info %d)", info);
  }
  double intra = NAN, inter = NAN;
  int have_intra = 0, have_inter = 0;

  for (size_t i = 0; i < n_keys && !st; i++) {
    const struct req *r = &rq[i];
    struct dml_metric_result *o = &out[i];
    fill_header(o, keys[i], r);
    int by_index = r->kind == K_MAP && r->arg >= DML_MAP_AT_R;
    struct dml_eval_ranking rk = {.nq = n, .k = depth[r->metric][by_index], .nn = nn[r->metric][by_index],
                                  .qcls = cls, .gcls = cls, .n_norm = n_norm, .n_rel = n_rel, .n_total = n,
                                  .n_retrievable = n - 1};
    switch (r->kind) {
      case K_RECALL: o->value = dml_metric_recall(&rk, r->arg); break;
      case K_MAP:
        o->value = r->arg == DML_MAP_FULL ? dml_metric_map_full(r->metric ? emb_cos : emb, n, r->metric ? emb_cos : emb,
                                                                n, d, r->metric, cls, cls, nu, n_norm, 1)
                                          : dml_metric_map(&rk, r->arg);
        break;
      case K_NMI: o->value = dml_metric_nmi(cls, nu, clusters[r->metric], kk, n); break;
      case K_F1: o->value = dml_metric_f1(cls, nu, clusters[r->metric], kk, n); break;
      case K_DISTS:
        if (r->arg != 1 && !have_intra) {
          intra = dml_metric_dists_intra(emb, cls, class_size, nu, n, d);
          have_intra = 1;
        }
        if (r->arg != 0 && !have_inter) {
          inter = dml_metric_dists_inter(emb, cls, nu, n, d);
          have_inter = 1;
        }
        o->value = r->arg == 0 ? intra : r->arg == 1 ? inter : intra / fmax(inter, 1e-8);
        break;
      case K_RHO: {
        size_t len = dml_rho_spectrum_len(d); /* the reference CPU path: top d−1 values */
        o->value = dml_metric_rho(sv, len, r->arg, &o->array, &o->array_len);
        break;
      }
    }
  }
  if (st) dml_eval_results_free(out, n_keys);
  threads_restore(th);
  free(sv);
  free(emb_cos);
  free(nn[0][0]);
  free(nn[0][1]);
  free(nn[1][0]);
  free(nn[1][1]);
  free(clusters[0]);
  free(clusters[1]);
  free(emb_scaled);
  free(cls);
  free(class_size);
  free(n_norm);
  free(n_rel);
  free(rq);
  return st;
}

/* ---------------------------------------------------------------------------------------------------------------- */
/* query/gallery mode */

dml_status dml_eval_metrics_qg(const float *query, const int32_t *qlabels, size_t nq, const float *gallery,
                               const int32_t *glabels, size_t ng, size_t d, const char *const *keys, size_t n_keys,
                               const struct dml_eval_opts *opts, struct dml_metric_result *out) {
  struct req *rq;
  dml_status st = parse_all(keys, n_keys, &rq);
  if (st) return st;
  for (size_t i = 0; i < n_keys && !st; i++)
    if (rq[i].kind != K_RECALL && rq[i].kind != K_MAP)
      st = dml_error(DML_ERR_ARG, "metric '%s' is not defined in query/gallery mode (only recall@k and the mAP keys)",
                     keys[i]);
  if (!st && (nq < 1 || ng < 1)) st = dml_error(DML_ERR_ARG, "query/gallery evaluation needs at least 1 query and 1 gallery item (got %zu, %zu)", nq, ng);
  if (!st && d < 1) st = dml_error(DML_ERR_ARG, "the embeddings have dimension 0");
  if (!st && (nq > INT32_MAX || ng > INT32_MAX)) st = dml_error(DML_ERR_ARG, "too many embeddings");
  if (!st) st = check_finite(query, nq, d, "query embedding");
  if (!st) st = check_finite(gallery, ng, d, "gallery embedding");
  if (st) {
    free(rq);
    return st;
  }
  float *q_scaled = NULL, *g_scaled = NULL; /* one power-of-two scale for both sets (see tame_factor) */
  {
    float fq = tame_factor(query, nq * d), fg = tame_factor(gallery, ng * d), f = fq < fg ? fq : fg;
    if (f != 1.0f) {
      query = q_scaled = scaled_copy(query, nq * d, f);
      gallery = g_scaled = scaled_copy(gallery, ng * d, f);
    }
  }
  struct threads th = threads_set(opts);
  int nu = 0;
  int32_t *uniq = distinct_labels(glabels, ng, &nu);
  int32_t *gcls = xmalloc(ng * sizeof *gcls), *gsize = xcalloc((size_t)nu, sizeof *gsize);
  for (size_t i = 0; i < ng; i++) {
    gcls[i] = class_of(uniq, nu, glabels[i]);
    gsize[gcls[i]]++;
  }
  int32_t *qcls = xmalloc(nq * sizeof *qcls), *cnt = xmalloc(nq * sizeof *cnt);
  size_t max_cnt = 0;
  for (size_t i = 0; i < nq; i++) {
    qcls[i] = class_of(uniq, nu, qlabels[i]);
    cnt[i] = qcls[i] >= 0 ? gsize[qcls[i]] : 0;
    if ((size_t)cnt[i] > max_cnt) max_cnt = (size_t)cnt[i];
  }
  free(uniq);
  size_t depth[2] = {0, 0};
  int need[2] = {0, 0};
  for (size_t i = 0; i < n_keys; i++) {
    const struct req *r = &rq[i];
    size_t dd = r->kind == K_RECALL ? (size_t)r->arg : dml_metric_map_depth(r->arg, max_cnt, ng, ng);
    if (dd > ng) dd = ng;
    if (r->kind == K_MAP && r->arg == DML_MAP_FULL) {
      need[r->metric] |= 2; /* the normalised rows only */
      continue;
    }
    need[r->metric] |= 1;
    if (dd > depth[r->metric]) depth[r->metric] = dd;
  }
  float *qc = need[1] ? row_normalised(query, nq, d) : NULL, *gc = need[1] ? row_normalised(gallery, ng, d) : NULL;
  int32_t *nn[2] = {NULL, NULL};
  for (int m = 0; m < 2 && !st; m++)
    if ((need[m] & 1) && depth[m] > 0)
      st = knn(m ? gc : gallery, ng, m ? qc : query, nq, d, depth[m], 0, m, opts && opts->on_gpu, &nn[m]);
  for (size_t i = 0; i < n_keys && !st; i++) {
    const struct req *r = &rq[i];
    struct dml_metric_result *o = &out[i];
    fill_header(o, keys[i], r);
    o->definition = r->kind == K_RECALL ? "recall@k/query-gallery-v1"
                    : r->arg >= DML_MAP_AT_R ? definition(r)
                                             : "mAP/query-gallery-v1 (normaliser = same-label gallery items)";
    struct dml_eval_ranking rk = {.nq = nq, .k = depth[r->metric], .nn = nn[r->metric], .qcls = qcls,
                                  .gcls = gcls, .n_norm = cnt, .n_rel = cnt, .n_total = ng, .n_retrievable = ng};
    if (r->kind == K_RECALL) o->value = dml_metric_recall(&rk, r->arg);
    else if (r->arg == DML_MAP_FULL)
      o->value = dml_metric_map_full(r->metric ? qc : query, nq, r->metric ? gc : gallery, ng, d, r->metric, qcls,
                                     gcls, nu, cnt, 0);
    else o->value = dml_metric_map(&rk, r->arg);
  }
  if (st) dml_eval_results_free(out, n_keys);
  threads_restore(th);
  free(qc);
  free(gc);
  free(nn[0]);
  free(nn[1]);
  free(gcls);
  free(gsize);
  free(qcls);
  free(cnt);
  free(rq);
  free(q_scaled);
  free(g_scaled);
  return st;
}
