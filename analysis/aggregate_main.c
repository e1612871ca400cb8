/* dml-aggregate — group run records and aggregate every metric over seeds. */
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"

int main(int argc, char **argv) {
  struct { char *out, *csv, *select, *split, *select_split, *by; int population_std, min_epochs, quiet; } o = {0};
  const struct dml_flag flags[] = {
    {"out", DML_FLAG_STR, &o.out, "-", "aggregate JSON file (- = stdout)"},
    {"csv", DML_FLAG_STR, &o.csv, "", "also write a CSV table of group, metric, n, mean, std, min, max"},
    {"select", DML_FLAG_STR, &o.select, "max", "per-run value: max (reference: per-metric max over epochs), last, best:<metric>"},
    {"split", DML_FLAG_STR, &o.split, "test", "split whose metrics are aggregated"},
    {"select-split", DML_FLAG_STR, &o.select_split, "val", "best:<metric> is read on this split (falls back to --split)"},
    {"by", DML_FLAG_STR, &o.by, "dataset,name", "grouping: dataset,name (run name without _s<seed>, the reference) or dataset,group"},
    {"population-std", DML_FLAG_BOOL, &o.population_std, "0", "population std (ddof 0, the reference) instead of sample std"},
    {"min-epochs", DML_FLAG_INT, &o.min_epochs, "0", "drop runs with fewer evaluated epochs (the reference used 40)"},
    {"quiet", DML_FLAG_BOOL, &o.quiet, "0", "do not report skipped files"},
  };
  struct dml_cli cli = {.prog = "dml-aggregate", .summary = "aggregate run records over seeds (mean, std, min, max per group)",
                        .usage = "RUNS_DIR_OR_FILE... [--out agg.json] [--select max|last|best:<metric>]",
                        .flags = flags, .n_flags = sizeof flags / sizeof *flags, .min_positional = 1, .max_positional = -1};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  struct dml_agg_opts ao = {.split = o.split, .select_split = o.select_split, .population_std = o.population_std,
                            .min_epochs = o.min_epochs};
  if (!strcmp(o.select, "max")) ao.rule = DML_RULE_MAX;
  else if (!strcmp(o.select, "last")) ao.rule = DML_RULE_LAST;
  else if (!strncmp(o.select, "best:", 5) && o.select[5]) { ao.rule = DML_RULE_BEST; ao.best_metric = o.select + 5; }
  else dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--select must be max, last or best:<metric>, got '%s'", o.select));
  if (!strcmp(o.by, "dataset,group")) ao.by_group_attr = 1;
  else if (strcmp(o.by, "dataset,name"))
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--by must be dataset,name or dataset,group, got '%s'", o.by));
  struct dml_runset rs = {0};
  double t0 = dml_now();
  for (int i = 0; i < cli.n_positional; i++)
    dml_exit_on_error(cli.prog, dml_runset_scan(&rs, cli.positional[i], o.quiet ? NULL : stderr));
  if (!rs.n) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "no run records found under the given paths"));
  struct dml_aggregate agg;
  dml_exit_on_error(cli.prog, dml_aggregate_compute(&rs, &ao, &agg));
  dml_exit_on_error(cli.prog, dml_aggregate_write_json(&agg, o.out));
  if (*o.csv) dml_exit_on_error(cli.prog, dml_aggregate_write_csv(&agg, o.csv));
  fprintf(stderr, "dml-aggregate: %zu runs (%zu skipped) → %zu groups, rule %s, %.2f s\n", rs.n, rs.skipped,
          agg.n_groups, agg.rule, dml_now() - t0);
  for (size_t i = 0; i < agg.n_groups; i++)
    for (size_t k = 0; k < agg.groups[i].n_warnings; k++)
      fprintf(stderr, "warning: %s/%s: %s\n", agg.groups[i].dataset, agg.groups[i].name, agg.groups[i].warnings[k]);
  dml_aggregate_free(&agg);
  dml_runset_free(&rs);
  dml_flags_free(&cli);
  return 0;
}
