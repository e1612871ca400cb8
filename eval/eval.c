/* eval — key parsing, the shared pre-computations (class index, normalised copy, one kNN search per metric, one
 * k-means per metric) and dispatch to the metric family files in eval/metrics/. See eval.h. */
#include "eval/eval.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "eval/eval-impl.h"
#include "eval/faiss_bridge.h"

enum kind { K_RECALL, K_NMI, K_F1, K_MAP, K_DISTS, K_RHO };

struct req {
  enum kind kind;
  int metric;   /* 0 L2, 1 cosine */
  int arg;      /* recall k; map variant; dists which (0 intra, 1 inter, 2 ratio); rho m */
};

static const char *const map_names[] = {"mAP_1000", "mAP_lim", "mAP_c", "mAP", "mAP@R", "r_precision"};
static const char *const known_list =
    "e_recall@k, c_recall@k, nmi, c_nmi, f1, c_f1, mAP_1000, mAP_lim, mAP_c, mAP, mAP@R, r_precision (and c_ variants "
    "of the mAP keys), dists@intra, dists@inter, dists@intra_over_inter, rho_spectrum@m";

static int parse_int(const char *s, int *v) {
  char *end;
  long x = strtol(s, &end, 10);
  if (!*s || *end) return 0;
  *v = (int)x;
  return 1;
}

static int parse_key(const char *key, struct req *r) {
  memset(r, 0, sizeof *r);
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
  for (int i = 0; i < 6; i++)
    if (!strcmp(k, map_names[i])) { r->kind = K_MAP; r->arg = i; return 1; }
  return 0;
}

int dml_eval_known_metric(const char *key) {
  struct req r;
  return parse_key(key, &r);
}

static const char *definition(const struct req *r) {
  switch (r->kind) {
    case K_RECALL: return "recall@k/revisit-A10 (self excluded)";
    case K_NMI: return "nmi/sklearn-arithmetic, kmeans k=opts.kmeans_k (faiss niter 20 seed 1234)";
    case K_F1: return "f1/pairwise-F (revisit-A10)";
    case K_MAP:
      switch (r->arg) {
        case 0: return "mAP_1000/revisit-A10 (normaliser = class size incl. query)";
        case 1: return "mAP_lim/revisit-A10 (R = min(1023, N))";
        case 2: return "mAP_c/revisit-A10 (R = class size; ICML-era 'mAP')";
        case 3: return "mAP/revisit-A10 (full ranking)";
        case 4: return "mAP@R/musgrave-2020";
        default: return "r_precision/musgrave-2020";
      }
    case K_DISTS: return "dists/revisit-A10 (cosine distance; intra NaN fill quirk)";
    case K_RHO: return "rho_spectrum/revisit-A10 CPU path (uncentred, top d-1 singular values, float64 eigen)";
  }
  return "";
}

static dml_status unknown_key(const char *key) {
  const char *cands[] = {"e_recall@1", "c_recall@1", "nmi", "c_nmi", "f1", "c_f1", "mAP_1000", "mAP_lim", "mAP_c",
                         "mAP", "mAP@R", "r_precision", "dists@intra", "dists@inter", "dists@intra_over_inter",
                         "rho_spectrum@1"};
  size_t best = (size_t)-1;
  const char *b = cands[0];
  for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
    size_t d = dml_edit_distance(key, cands[i]);
    if (d < best) { best = d; b = cands[i]; }
  }
  return dml_error(DML_ERR_ARG, "unknown metric '%s' (closest: %s; known: %s)", key, b, known_list);
}

void dml_eval_results_free(struct dml_metric_result *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(r[i].array);
    r[i].array = NULL;
  }
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* neighbours excluding the first hit: search k+1, drop column 0 */
static dml_status knn(struct dml_eval_ctx *c, int metric, size_t k) {
  size_t kk = k + 1 > c->n ? c->n : k + 1;
  int64_t *full = xmalloc(c->n * kk * sizeof *full);
  char err[512];
  const float *x = metric ? c->emb_cos : c->emb;
  if (dml_faiss_knn(x, c->n, x, c->n, c->d, kk, metric, full, NULL, err, sizeof err)) {
    free(full);
    return dml_error(DML_ERR_STATE, "%s", err);
  }
  c->nn_k[metric] = kk - 1;
  c->nn[metric] = xmalloc(c->n * (kk - 1) * sizeof(int64_t) + 8);
  for (size_t q = 0; q < c->n; q++)
    memcpy(c->nn[metric] + q * (kk - 1), full + q * kk + 1, (kk - 1) * sizeof(int64_t));
  free(full);
  return DML_OK;
}

/* k-means on F (metric 0); the cosine variant (metric 1) follows the reference QUIRK: the row-normalised
 * Euclidean centroids, assigned to F_cos by maximum inner product. */
static dml_status clusters(struct dml_eval_ctx *c, int metric, float **centroids) {
  char err[512];
  size_t k = (size_t)c->kmeans_k, d = c->d;
  if (!*centroids) {
    *centroids = xmalloc(k * d * sizeof **centroids);
    c->clusters[0] = xmalloc(c->n * sizeof(int64_t));
    if (dml_faiss_kmeans(c->emb, c->n, d, k, *centroids, c->clusters[0], err, sizeof err))
      return dml_error(DML_ERR_STATE, "%s", err);
  }
  if (metric == 1 && !c->clusters[1]) {
    float *cn = xmalloc(k * d * sizeof *cn);
    for (size_t i = 0; i < k; i++) {
      double s = 0;
      for (size_t j = 0; j < d; j++) s += (double)(*centroids)[i * d + j] * (*centroids)[i * d + j];
      s = sqrt(s) > 1e-12 ? sqrt(s) : 1e-12;
      for (size_t j = 0; j < d; j++) cn[i * d + j] = (float)((*centroids)[i * d + j] / s);
    }
    c->clusters[1] = xmalloc(c->n * sizeof(int64_t));
    int rc = dml_faiss_assign(cn, k, c->emb_cos, c->n, d, 1, c->clusters[1], err, sizeof err);
    free(cn);
    if (rc) return dml_error(DML_ERR_STATE, "%s", err);
  }
  return DML_OK;
}

dml_status dml_eval_metrics(const float *emb, const int32_t *labels, size_t n, size_t d, const char *const *keys,
                            size_t n_keys, const struct dml_eval_opts *opts, struct dml_metric_result *out) {
  struct req *rq = xcalloc(n_keys + 1, sizeof *rq);
  for (size_t i = 0; i < n_keys; i++)
    if (!parse_key(keys[i], &rq[i])) {
      free(rq);
      return unknown_key(keys[i]);
    }
  if (n < 2) { free(rq); return dml_error(DML_ERR_ARG, "evaluation needs at least 2 embeddings, got %zu", n); }
  if (d < 1) { free(rq); return dml_error(DML_ERR_ARG, "embeddings have dimension 0"); }
  for (size_t i = 0; i < n * d; i++)
    if (!isfinite(emb[i])) {
      free(rq);
      return dml_error(DML_ERR_NUMERIC, "embedding %zu has a non-finite value (%g) in dimension %zu", i / d, emb[i], i % d);
    }
  if (opts && opts->n_threads > 0) omp_set_num_threads(opts->n_threads);

  struct dml_eval_ctx c = {.emb = emb, .n = n, .d = d};
  /* dense class ids */
  int32_t *sorted = xmalloc(n * sizeof *sorted);
  memcpy(sorted, labels, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_i32);
  int32_t *uniq = xmalloc(n * sizeof *uniq);
  int nu = 0;
  for (size_t i = 0; i < n; i++)
    if (!nu || sorted[i] != uniq[nu - 1]) uniq[nu++] = sorted[i];
  free(sorted);
  dml_status st = DML_OK;
  if (nu < 2) {
    free(uniq);
    free(rq);
    return dml_error(DML_ERR_ARG, "evaluation needs at least 2 classes; all %zu embeddings have label %d", n, labels[0]);
  }
  c.n_classes = nu;
  c.cls = xmalloc(n * sizeof *c.cls);
  c.class_size = xcalloc((size_t)nu, sizeof *c.class_size);
  for (size_t i = 0; i < n; i++) {
    int lo = 0, hi = nu - 1;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      if (uniq[mid] < labels[i]) lo = mid + 1;
      else hi = mid;
    }
    c.cls[i] = lo;
    c.class_size[lo]++;
  }
  free(uniq);
  c.kmeans_k = opts && opts->kmeans_k > 0 ? opts->kmeans_k : nu;
  if ((size_t)c.kmeans_k > n) c.kmeans_k = (int)n;
  c.emb_cos = xmalloc(n * d * sizeof *c.emb_cos);
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (double)emb[i * d + j] * emb[i * d + j];
    s = sqrt(s) > 1e-12 ? sqrt(s) : 1e-12;
    for (size_t j = 0; j < d; j++) c.emb_cos[i * d + j] = (float)(emb[i * d + j] / s);
  }
  /* the deepest neighbour list each metric needs */
  size_t depth[2] = {0, 0};
  int need_knn[2] = {0, 0};
  for (size_t i = 0; i < n_keys; i++) {
    size_t dd = 0;
    if (rq[i].kind == K_RECALL) dd = (size_t)rq[i].arg;
    else if (rq[i].kind == K_MAP) dd = dml_metric_map_depth(&c, rq[i].arg);
    else continue;
    need_knn[rq[i].metric] = 1;
    if (dd > depth[rq[i].metric]) depth[rq[i].metric] = dd;
  }
  for (int m = 0; m < 2 && !st; m++)
    if (need_knn[m]) st = knn(&c, m, depth[m]);
  float *centroids = NULL;
  for (size_t i = 0; i < n_keys && !st; i++) {
    struct dml_metric_result *o = &out[i];
    memset(o, 0, sizeof *o);
    snprintf(o->key, sizeof o->key, "%s", keys[i]);
    o->definition = definition(&rq[i]);
    switch (rq[i].kind) {
      case K_RECALL: o->value = dml_metric_recall(&c, rq[i].metric, rq[i].arg); break;
      case K_NMI:
      case K_F1:
        if ((st = clusters(&c, rq[i].metric, &centroids))) break;
        o->value = rq[i].kind == K_NMI ? dml_metric_nmi(c.cls, c.n_classes, c.clusters[rq[i].metric], c.kmeans_k, n)
                                       : dml_metric_f1(c.cls, c.n_classes, c.clusters[rq[i].metric], c.kmeans_k, n);
        break;
      case K_MAP: o->value = dml_metric_map(&c, rq[i].metric, rq[i].arg); break;
      case K_DISTS:
        if (rq[i].arg < 2) o->value = dml_metric_dists(&c, rq[i].arg);
        else o->value = dml_metric_dists(&c, 0) / fmax(dml_metric_dists(&c, 1), 1e-8);
        break;
      case K_RHO: {
        int err = 0;
        o->value = dml_metric_rho_spectrum(&c, rq[i].arg, &o->array, &o->array_len, &err);
        if (err) st = dml_error(DML_ERR_NUMERIC, "rho_spectrum: the eigen-decomposition did not converge");
        break;
      }
    }
  }
  if (st) dml_eval_results_free(out, n_keys);
  free(centroids);
  free(c.emb_cos);
  free(c.cls);
  free(c.class_size);
  free(c.nn[0]); free(c.nn[1]);
  free(c.clusters[0]); free(c.clusters[1]);
  free(rq);
  return st;
}
