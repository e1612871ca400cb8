/* analysis_aggregate — grouping, the max / last / best:<metric> rules, sample and population std, seeds,
 * warnings (failed, unfinished, missing seeds), skipped foreign files, JSON round trip and CSV, against values
 * computed by hand from the closed forms in synth.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "tests/analysis/synth.h"
#include "tests/testutil.h"

static const struct dml_agg_group *group(const struct dml_aggregate *a, const char *name) {
  for (size_t i = 0; i < a->n_groups; i++)
    if (!strcmp(a->groups[i].name, name)) return &a->groups[i];
  return NULL;
}

static const struct dml_agg_metric *metric(const struct dml_agg_group *g, const char *key) {
  for (size_t i = 0; g && i < g->n_metrics; i++)
    if (!strcmp(g->metrics[i].key, key)) return &g->metrics[i];
  return NULL;
}

static int has_warning(const struct dml_agg_group *g, const char *sub) {
  for (size_t i = 0; g && i < g->n_warnings; i++)
    if (strstr(g->warnings[i], sub)) return 1;
  return 0;
}

/* mean, std, min, max of a metric against expectations */
static int expect_metric(const char *what, const struct dml_aggregate *a, const char *grp, const char *key, double mean,
                         double sd, double mn, double mx) {
  const struct dml_agg_metric *m = metric(group(a, grp), key);
  char name[256];
  snprintf(name, sizeof name, "%s %s %s present", what, grp, key);
  if (expect_true(name, m != NULL)) return 1;
  double got[4] = {m->mean, m->std, m->min, m->max}, ref[4] = {mean, sd, mn, mx};
  snprintf(name, sizeof name, "%s %s %s mean/std/min/max", what, grp, key);
  return expect_close(name, got, ref, 4, 1e-12, 1e-9);
}

static int test_group_names(void) {
  static const char *const cases[][2] = {
    {"CUB_Margin_s3", "CUB_Margin"}, {"CUB_Margin_s3_2", "CUB_Margin"}, {"CUB_Margin_s12", "CUB_Margin"},
    {"CUB_Margin", "CUB_Margin"},    {"x_sabc", "x_sabc"},               {"_s1", "_s1"},
    {"CUB_s12_x", "CUB_s12_x"},      {"a_s", "a_s"},                     {"run_2", "run_2"},
  };
  int fails = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *g = dml_group_name_of(cases[i][0]);
    char name[128];
    snprintf(name, sizeof name, "group name of '%s' is '%s' (got '%s')", cases[i][0], cases[i][1], g);
    fails += expect_true(name, !strcmp(g, cases[i][1]));
    free(g);
  }
  return fails;
}

static int test_stats(void) {
  int fails = 0;
  double v[] = {1, 2, NAN, 4}, mean, sd, mn, mx;
  fails += expect_true("stats count skips NaN", dml_stats(v, 4, 0, &mean, &sd, &mn, &mx) == 3);
  double got[4] = {mean, sd, mn, mx}, ref[4] = {7.0 / 3, sqrt((16.0 / 9 + 1.0 / 9 + 25.0 / 9) / 2), 1, 4};
  fails += expect_close("sample stats of 1,2,4", got, ref, 4, 1e-14, 1e-12);
  dml_stats(v, 4, 1, &mean, &sd, &mn, &mx);
  fails += expect_scalar("population std of 1,2,4", sd, sqrt((16.0 / 9 + 1.0 / 9 + 25.0 / 9) / 3), 1e-14, 1e-12);
  double one = 0.5;
  dml_stats(&one, 1, 0, &mean, &sd, &mn, &mx);
  fails += expect_scalar("sample std of one value is 0", sd, 0, 0, 0);
  return fails;
}

int main(void) {
  int fails = test_group_names() + test_stats();
  char *dir = test_tmpdir("analysis_aggregate");
  dml_status st = synth_standard(dir);
  fails += expect_true("synthetic runs written", st == DML_OK);
  if (st) {
    fprintf(stderr, "%s\n", dml_error_message());
    return test_report("analysis_aggregate", fails);
  }
  struct dml_runset rs = {0};
  fails += expect_true("scan", dml_runset_scan(&rs, dir, NULL) == DML_OK);
  fails += expect_true("12 records read", rs.n == 12);
  fails += expect_true("the foreign file is skipped", rs.skipped == 1);
  char *missing = dml_strfmt("%s/nothing-here", dir);
  struct dml_runset rs2 = {0};
  fails += expect_true("a missing path is an error", dml_runset_scan(&rs2, missing, NULL) == DML_ERR_IO);
  dml_runset_free(&rs2);
  free(missing);

  /* --- max (the reference), sample std */
  struct dml_agg_opts o = {.rule = DML_RULE_MAX, .split = "test"};
  struct dml_aggregate a;
  fails += expect_true("aggregate max", dml_aggregate_compute(&rs, &o, &a) == DML_OK);
  fails += expect_true("4 groups", a.n_groups == 4);
  fails += expect_true("groups in scan order: cars first", a.n_groups == 4 && !strcmp(a.groups[0].name, "CARS_Margin_b12_Distance") &&
                                                             !strcmp(a.groups[1].name, "CUB_ArcFace"));
  fails += expect_true("rule named max", !strcmp(a.rule, "max"));
  fails += expect_metric("max", &a, "CUB_Margin_b12_Distance", "e_recall@1", 0.66, 0.01, 0.65, 0.67);
  fails += expect_metric("max", &a, "CUB_Margin_b12_Distance", "nmi", 0.44, 0.02, 0.42, 0.46);
  fails += expect_metric("max", &a, "CUB_Triplet_Random", "e_recall@1", 0.605, sqrt(0.00005), 0.60, 0.61);
  fails += expect_metric("max", &a, "CUB_ArcFace", "e_recall@1", 0.64, 0.01, 0.63, 0.65);
  fails += expect_metric("max", &a, "CARS_Margin_b12_Distance", "e_recall@1", 2.44 / 3, 0.015275252316519466, 0.80, 0.83);
  const struct dml_agg_metric *m = metric(group(&a, "CUB_Margin_b12_Distance"), "e_recall@1");
  fails += expect_true("max epochs are 1", m && m->n == 3 && m->epochs[0] == 1 && m->epochs[1] == 1 && m->epochs[2] == 1);
  m = metric(group(&a, "CUB_Margin_b12_Distance"), "nmi");
  fails += expect_true("nmi max epochs are 2", m && m->epochs[0] == 2 && m->epochs[2] == 2);
  const struct dml_agg_group *arc = group(&a, "CUB_ArcFace"), *cars = group(&a, "CARS_Margin_b12_Distance");
  fails += expect_true("failed seed excluded", arc && arc->n_runs == 3 && arc->seeds[2] == 2);
  fails += expect_true("failed seed warned", has_warning(arc, "seed 3 failed"));
  fails += expect_true("running seed kept", cars && cars->n_runs == 3 && cars->seeds[2] == 3);
  fails += expect_true("running seed warned", has_warning(cars, "seed 3 is running"));
  fails += expect_true("missing seed warned", has_warning(cars, "seeds 2..2 are missing"));
  fails += expect_true("no warnings for a clean group", group(&a, "CUB_Margin_b12_Distance")->n_warnings == 0);
  fails += expect_true("dataset kept", !strcmp(cars->dataset, "cars196"));

  /* JSON round trip and CSV */
  char *js = dml_strfmt("%s/agg.json", dir), *csv = dml_strfmt("%s/agg.csv", dir);
  fails += expect_true("write json", dml_aggregate_write_json(&a, js) == DML_OK);
  fails += expect_true("write csv", dml_aggregate_write_csv(&a, csv) == DML_OK);
  struct dml_aggregate b;
  fails += expect_true("read json", dml_aggregate_read_json(js, &b) == DML_OK);
  fails += expect_metric("json", &b, "CARS_Margin_b12_Distance", "e_recall@1", 2.44 / 3, 0.015275252316519466, 0.80, 0.83);
  fails += expect_true("json keeps warnings and seeds", group(&b, "CUB_ArcFace") && group(&b, "CUB_ArcFace")->n_warnings == 1 &&
                                                         group(&b, "CUB_ArcFace")->seeds[1] == 1);
  fails += expect_true("json keeps rule and std kind", !strcmp(b.rule, "max") && !b.population_std);
  fails += expect_true("json keeps the definition", metric(group(&b, "CUB_ArcFace"), "nmi") &&
                                                      !strcmp(metric(group(&b, "CUB_ArcFace"), "nmi")->definition, "nmi/v1"));
  dml_aggregate_free(&b);
  FILE *f = fopen(csv, "r");
  char line[512];
  int lines = 0, header = 0;
  while (f && fgets(line, sizeof line, f)) {
    if (!lines) header = !strcmp(line, "dataset,group,metric,n,mean,std,min,max,rule,split\n");
    lines++;
  }
  if (f) fclose(f);
  fails += expect_true("csv header", header);
  fails += expect_true("csv: one row per group and metric (4 × 2) + header", lines == 9);
  fails += expect_true("a non-aggregate JSON is refused", dml_aggregate_read_json(csv, &b) == DML_ERR_FORMAT);
  dml_aggregate_free(&a);

  /* --- population std (the reference's ddof 0) */
  o.population_std = 1;
  dml_aggregate_compute(&rs, &o, &a);
  fails += expect_metric("max/pop", &a, "CUB_Margin_b12_Distance", "e_recall@1", 0.66, 0.01 * sqrt(2.0 / 3), 0.65, 0.67);
  fails += expect_metric("max/pop", &a, "CUB_Triplet_Random", "e_recall@1", 0.605, 0.005, 0.60, 0.61);
  dml_aggregate_free(&a);

  /* --- last */
  o = (struct dml_agg_opts){.rule = DML_RULE_LAST, .split = "test"};
  dml_aggregate_compute(&rs, &o, &a);
  fails += expect_metric("last", &a, "CUB_Margin_b12_Distance", "e_recall@1", 0.65, 0.01, 0.64, 0.66);
  fails += expect_metric("last", &a, "CUB_Margin_b12_Distance", "nmi", 0.39, 0.02, 0.37, 0.41);
  dml_aggregate_free(&a);

  /* --- best:e_recall@1 on val (best at epoch 2): every test metric read at epoch 2 */
  o = (struct dml_agg_opts){.rule = DML_RULE_BEST, .split = "test", .best_metric = "e_recall@1", .select_split = "val"};
  dml_aggregate_compute(&rs, &o, &a);
  fails += expect_true("rule named best", !strcmp(a.rule, "best:e_recall@1@val"));
  fails += expect_metric("best", &a, "CUB_Margin_b12_Distance", "e_recall@1", 0.64, 0.01, 0.63, 0.65);
  fails += expect_metric("best", &a, "CUB_Margin_b12_Distance", "nmi", 0.44, 0.02, 0.42, 0.46);
  dml_aggregate_free(&a);

  /* --- the train split at the epoch of the best test R@1 (the reference's Max_Epoch) */
  o = (struct dml_agg_opts){.rule = DML_RULE_BEST, .split = "train", .best_metric = "e_recall@1", .select_split = "test"};
  dml_aggregate_compute(&rs, &o, &a);
  /* 1.5 - 0.6 + 0.001 s + 0.01 * 1 → 0.910, 0.911, 0.912 */
  fails += expect_metric("train@max", &a, "CUB_Margin_b12_Distance", "dists@intra_over_inter", 0.911, 0.001, 0.910, 0.912);
  dml_aggregate_free(&a);

  /* --- min-epochs drops short runs; grouping by the group attribute */
  o = (struct dml_agg_opts){.rule = DML_RULE_MAX, .split = "test", .min_epochs = 5};
  dml_aggregate_compute(&rs, &o, &a);
  fails += expect_true("min-epochs 5 drops every run", group(&a, "CUB_ArcFace") && group(&a, "CUB_ArcFace")->n_runs == 0 &&
                                                        has_warning(group(&a, "CUB_ArcFace"), "< --min-epochs 5"));
  dml_aggregate_free(&a);
  o = (struct dml_agg_opts){.rule = DML_RULE_BEST, .split = "test"};
  fails += expect_true("best without a metric is an argument error", dml_aggregate_compute(&rs, &o, &a) == DML_ERR_ARG);
  dml_aggregate_free(&a);

  /* metric definitions: recorded when uniform, warned about when seeds differ */
  o = (struct dml_agg_opts){.rule = DML_RULE_MAX, .split = "test"};
  dml_aggregate_compute(&rs, &o, &a);
  m = metric(group(&a, "CUB_ArcFace"), "e_recall@1");
  fails += expect_true("definition recorded", m && m->definition && !strcmp(m->definition, "e_recall@k/v1"));
  dml_aggregate_free(&a);
  char *mixed_dir = dml_strfmt("%s/mixed", dir);
  struct synth_run mr[2] = {{"sop", "SOP_X", NULL, 0, 0.7, DML_RUN_FINISHED, 0, NULL, NULL},
                            {"sop", "SOP_X", NULL, 1, 0.7, DML_RUN_FINISHED, 0, NULL, "e_recall@k/v2"}};
  struct dml_runset rm = {0};
  fails += expect_true("mixed runs", !synth_write(mixed_dir, &mr[0]) && !synth_write(mixed_dir, &mr[1]));
  dml_runset_scan(&rm, mixed_dir, NULL);
  dml_aggregate_compute(&rm, &o, &a);
  m = metric(group(&a, "SOP_X"), "e_recall@1");
  fails += expect_true("mixed definitions marked", m && m->definition && !strcmp(m->definition, "mixed"));
  fails += expect_true("mixed definitions warned", has_warning(group(&a, "SOP_X"), "different definitions"));
  dml_aggregate_free(&a);
  dml_runset_free(&rm);
  free(mixed_dir);

  dml_runset_free(&rs);
  free(js);
  free(csv);
  free(dir);
  return test_report("analysis_aggregate", fails);
}
