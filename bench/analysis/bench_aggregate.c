/* bench_aggregate — how long dml-aggregate's work takes on many small run records (issue 6: 10,000 records in
 * seconds). Writes N records (N/10 groups × 10 seeds, 10 epochs, 5 test metrics + 2 train metrics each) with the
 * run-record writer into a folder, then times: scan + read, aggregate (rule max), JSON + CSV output. Repeats the
 * read/aggregate phase R times and prints the best and a CSV row.
 *   bench_aggregate [N=10000] [DIR=a new temp folder] [R=3]      (DIR is reused when it already holds records) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/analysis.h"

static dml_status write_run(const char *dir, long i) {
  long group = i / 10, seed = i % 10;
  char *name = dml_strfmt("BENCH_Group%04ld_s%ld", group, seed);
  char *d = dml_strfmt("%s/%s", dir, name), *path = dml_strfmt("%s/run.h5", d);
  mkdir(d, 0777);
  struct dml_run_meta m = {.seed = seed, .name = name, .group = name, .project = "bench", .dataset = "cub200",
                           .source = "local", .config_json = "{}"};
  dml_runrecord_t *rr;
  dml_status st = dml_runrecord_create(path, &m, &rr);
  for (long e = 0; e < 10 && !st; e++) {
    double b = 0.5 + 0.001 * group + 0.002 * seed + 0.01 * e;
    struct dml_metric_value t[] = {{"e_recall@1", b, NULL}, {"e_recall@2", b + 0.05, NULL}, {"e_recall@4", b + 0.1, NULL},
                                   {"nmi", b - 0.2, NULL},  {"f1", b - 0.3, NULL}};
    struct dml_metric_value tr[] = {{"dists@intra_over_inter", 1 - b, NULL}, {"rho_spectrum@2", 0.5 - b / 2, NULL}};
    st = dml_runrecord_append_metrics(rr, "test", e, t, 5);
    if (!st) st = dml_runrecord_append_metrics(rr, "train", e, tr, 2);
  }
  if (!st) st = dml_runrecord_set_status(rr, DML_RUN_FINISHED);
  dml_status c = dml_runrecord_close(rr);
  free(name);
  free(d);
  free(path);
  return st ? st : c;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  int reps = argc > 3 ? atoi(argv[3]) : 3;
  char *dir;
  if (argc > 2) {
    dir = dml_strfmt("%s", argv[2]);
    mkdir(dir, 0777);
  } else {
    char tmpl[] = "/tmp/dml-bench-aggregate-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    dir = dml_strfmt("%s", tmpl);
  }
  char *probe = dml_strfmt("%s/BENCH_Group%04ld_s%ld/run.h5", dir, (n - 1) / 10, (n - 1) % 10);
  double t0 = dml_now();
  if (access(probe, F_OK)) {
    for (long i = 0; i < n; i++) dml_exit_on_error("bench_aggregate", write_run(dir, i));
    fprintf(stderr, "wrote %ld records in %.2f s (%s)\n", n, dml_now() - t0, dir);
  }
  free(probe);
  double best_read = 1e30, best_agg = 1e30, best_out = 1e30;
  size_t groups = 0, runs = 0;
  for (int r = 0; r < reps; r++) {
    struct dml_runset rs = {0};
    double a = dml_now();
    dml_exit_on_error("bench_aggregate", dml_runset_scan(&rs, dir, NULL));
    double b = dml_now();
    struct dml_agg_opts o = {.rule = DML_RULE_MAX, .split = "test"};
    struct dml_aggregate agg;
    dml_exit_on_error("bench_aggregate", dml_aggregate_compute(&rs, &o, &agg));
    double c = dml_now();
    char *js = dml_strfmt("%s.json", dir), *csv = dml_strfmt("%s.csv", dir);
    dml_exit_on_error("bench_aggregate", dml_aggregate_write_json(&agg, js));
    dml_exit_on_error("bench_aggregate", dml_aggregate_write_csv(&agg, csv));
    double d = dml_now();
    if (b - a < best_read) best_read = b - a;
    if (c - b < best_agg) best_agg = c - b;
    if (d - c < best_out) best_out = d - c;
    groups = agg.n_groups;
    runs = rs.n;
    dml_aggregate_free(&agg);
    dml_runset_free(&rs);
    free(js);
    free(csv);
  }
  printf("aggregate_n%zu_g%zu_e10_m7: scan+read %.3f s, aggregate %.3f s, json+csv %.3f s, total %.3f s (best of %d)\n",
         runs, groups, best_read, best_agg, best_out, best_read + best_agg + best_out, reps);
  printf("csv,aggregate,%zu,%zu,%.4f,%.4f,%.4f\n", runs, groups, best_read, best_agg, best_out);
  free(dir);
  return 0;
}
