/* dml-eval — evaluate stored embeddings with every reference metric (eval.h).
 *
 *   dml-eval FILE.h5 [--split test] [--best] [--metrics a,b,c] [--json OUT] [--kmeans-k K] [--gallery SPLIT]
 *
 * FILE is a run record (evaluates embeddings/latest/<split>, or embeddings/best/<split> with --best) or any HDF5
 * file with `embeddings` (N, D) and `labels` (N) at its root (or in a group named after --split). Prints
 * "metric value" lines (6 decimals; array metrics print their length and first values); --json writes
 * {"metrics": {...}, "n": N, "d": D, "kmeans_k": K, "definitions": {...}} (NaN/Inf as null). The k-means k defaults
 * to the number of TRAINING classes, as the reference (from the record's train split when it has one), else the
 * number of distinct labels evaluated. --gallery SPLIT switches to query/gallery mode (recall/mAP keys only).
 * The wall time of the evaluation goes to stderr. Exit 0 on success; one error line and non-zero otherwise. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/flags.h"
#include "eval/eval.h"
#include "eval/input.h"

#define DEFAULT_METRICS                                                                                          \
  "e_recall@1 e_recall@2 e_recall@4 nmi f1 mAP_1000 mAP_lim mAP_c dists@intra dists@inter "                    \
  "dists@intra_over_inter rho_spectrum@-1 rho_spectrum@1 rho_spectrum@2 rho_spectrum@10"

struct opts {
  char *split, *json, *gallery;
  struct dml_strlist metrics;
  int kmeans_k, best, threads;
};

/* The keys from the --metrics tokens, each split at commas ("a,b c" → a, b, c). */
static char **split_keys(const struct dml_strlist *l, size_t *n) {
  size_t cap = 8, k = 0;
  char **out = xmalloc(cap * sizeof *out);
  for (int i = 0; i < l->n; i++) {
    char *copy = xstrdup(l->v[i]), *save = NULL;
    for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
      if (k == cap) out = xrealloc(out, (cap *= 2) * sizeof *out);
      out[k++] = xstrdup(t);
    }
    free(copy);
  }
  *n = k;
  return out;
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static dml_status write_json(const char *path, const struct dml_metric_result *r, size_t nk, size_t n, size_t d,
                             int kmeans_k) {
  json_t *root = json_object(), *m = json_object(), *defs = json_object();
  for (size_t i = 0; i < nk; i++) {
    if (r[i].array) {
      json_t *a = json_array();
      for (size_t j = 0; j < r[i].array_len; j++) json_array_append_new(a, num(r[i].array[j]));
      json_object_set_new(m, r[i].key, a);
    } else {
      json_object_set_new(m, r[i].key, num(r[i].value));
    }
    json_object_set_new(defs, r[i].key, json_string(r[i].definition));
  }
  json_object_set_new(root, "metrics", m);
  json_object_set_new(root, "n", json_integer((json_int_t)n));
  json_object_set_new(root, "d", json_integer((json_int_t)d));
  json_object_set_new(root, "kmeans_k", json_integer(kmeans_k));
  json_object_set_new(root, "definitions", defs);
  int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
  json_decref(root);
  return rc ? dml_error(DML_ERR_IO, "cannot write %s", path) : DML_OK;
}

static dml_status run(const char *path, const struct opts *o) {
  struct dml_eval_input in, gal = {0};
  dml_status st = dml_eval_read_input(path, o->split, o->best, &in);
  if (st) return st;
  int qg = o->gallery && *o->gallery;
  if (qg && (st = dml_eval_read_input(path, o->gallery, o->best, &gal))) {
    dml_eval_input_free(&in);
    return st;
  }
  if (qg && gal.d != in.d) {
    st = dml_error(DML_ERR_FORMAT, "%s: query dimension %zu differs from gallery dimension %zu", path, in.d, gal.d);
    dml_eval_input_free(&in);
    dml_eval_input_free(&gal);
    return st;
  }
  size_t nk = 0;
  char **keys = split_keys(&o->metrics, &nk);
  for (size_t i = 0; i < nk && !st; i++)
    if (!dml_eval_known_metric(keys[i])) {
      /* let the library word the error (closest known key) */
      struct dml_metric_result tmp;
      st = dml_eval_metrics(in.emb, in.labels, in.n, in.d, (const char *const *)&keys[i], 1, NULL, &tmp);
    }
  int kk = o->kmeans_k;
  const char *k_src = "--kmeans-k";
  if (!st && kk <= 0) {
    kk = in.is_record ? dml_eval_train_classes(path) : 0;
    k_src = "the record's train classes, as the reference";
    if (kk <= 0) {
      kk = dml_eval_count_classes(in.labels, in.n);
      k_src = "the distinct labels evaluated; no train split to count";
    }
  }
  struct dml_metric_result *res = xcalloc(nk + 1, sizeof *res);
  struct dml_eval_opts eo = {.kmeans_k = kk, .n_threads = o->threads};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (!st) {
    if (qg)
      st = dml_eval_metrics_qg(in.emb, in.labels, in.n, gal.emb, gal.labels, gal.n, in.d, (const char *const *)keys,
                               nk, &eo, res);
    else
      st = dml_eval_metrics(in.emb, in.labels, in.n, in.d, (const char *const *)keys, nk, &eo, res);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (!st) {
    printf("dml-eval: %s (%s%s, %s) n=%zu d=%zu", path, in.is_record ? "run record " : "", in.where,
           qg ? "query/gallery" : "all-vs-all", in.n, in.d);
    if (qg) printf(" gallery=%zu", gal.n);
    else if (kk > 0) printf(" kmeans_k=%d (%s)", kk, k_src);
    printf("\n%-28s %s\n", "metric", "value");
    for (size_t i = 0; i < nk; i++) {
      if (res[i].array) {
        printf("%-28s [%zu values:", res[i].key, res[i].array_len);
        for (size_t j = 0; j < res[i].array_len && j < 4; j++) printf(" %.6f", res[i].array[j]);
        printf("%s]\n", res[i].array_len > 4 ? " ..." : "");
      } else {
        printf("%-28s %.6f\n", res[i].key, res[i].value);
      }
    }
    fflush(stdout);
    fprintf(stderr, "dml-eval: %zu metrics in %.3f s\n", nk,
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    if (o->json && *o->json) st = write_json(o->json, res, nk, in.n, in.d, kk);
  }
  dml_eval_results_free(res, nk);
  free(res);
  for (size_t i = 0; i < nk; i++) free(keys[i]);
  free(keys);
  dml_eval_input_free(&in);
  dml_eval_input_free(&gal);
  return st;
}

int main(int argc, char **argv) {
  struct opts o = {0};
  const struct dml_flag flags[] = {
      {"split", DML_FLAG_STR, &o.split, "test", "split to evaluate (record: embeddings/<latest|best>/SPLIT; plain file: group SPLIT if present, else the root)"},
      {"best", DML_FLAG_BOOL, &o.best, "0", "record: evaluate the best-epoch embeddings instead of the latest"},
      {"metrics", DML_FLAG_STRLIST, &o.metrics, DEFAULT_METRICS, "metric keys, comma- or space-separated"},
      {"json", DML_FLAG_STR, &o.json, "", "also write the results as JSON to this file"},
      {"kmeans-k", DML_FLAG_INT, &o.kmeans_k, "0", "k-means clusters for nmi/f1; 0 = the record's train classes (reference), else the distinct labels"},
      {"gallery", DML_FLAG_STR, &o.gallery, "", "query/gallery mode: retrieve the --split rows from this split (recall/mAP keys)"},
      {"threads", DML_FLAG_INT, &o.threads, "0", "OpenMP threads (0 = OMP_NUM_THREADS / all cores)"},
  };
  struct dml_cli cli = {.prog = "dml-eval",
                        .summary = "evaluate embeddings in a run record or HDF5 file with the reference metrics",
                        .usage = "FILE.h5 [flags]",
                        .flags = flags,
                        .n_flags = sizeof flags / sizeof *flags,
                        .min_positional = 1,
                        .max_positional = 1};
  dml_status st = dml_flags_parse(&cli, argc, argv);
  if (!st) st = run(cli.positional[0], &o);
  dml_flags_free(&cli);
  dml_exit_on_error("dml-eval", st);
  return 0;
}
