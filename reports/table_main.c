/* dml-table — mean ± std tables from an aggregate file (dml-aggregate --out). */
#include <stdlib.h>
#include <string.h>

#include "common/output.h"
#include "reports/reports.h"

static char **split_commas(const char *s, size_t *n) {
  char *c = xstrdup(s);
  char **v = xcalloc(strlen(s) + 2, sizeof *v);
  *n = 0;
  for (char *t = strtok(c, ","); t; t = strtok(NULL, ",")) v[(*n)++] = xstrdup(t);
  free(c);
  return v;
}

int main(int argc, char **argv) {
  struct { int latex, markdown, csv, standalone, raw, significance, decimals, per_dataset, max_epoch; double scale, alpha;
           char *metrics, *datasets, *o, *names; } o = {0};
  const struct dml_flag flags[] = {
    {"latex", DML_FLAG_BOOL, &o.latex, "0", "booktabs LaTeX (the default format)"},
    {"markdown", DML_FLAG_BOOL, &o.markdown, "0", "Markdown table"},
    {"csv", DML_FLAG_BOOL, &o.csv, "0", "CSV with mean, std and n columns"},
    {"metrics", DML_FLAG_STR, &o.metrics, "e_recall@1,e_recall@2,f1,mAP_c,nmi", "metric columns per dataset (comma-separated)"},
    {"datasets", DML_FLAG_STR, &o.datasets, "", "dataset column groups in order (default: all, as they appear)"},
    {"scale", DML_FLAG_FLOAT, &o.scale, "100", "multiply values (100: percentages, as the paper)"},
    {"decimals", DML_FLAG_INT, &o.decimals, "2", "decimals"},
    {"significance", DML_FLAG_BOOL, &o.significance, "0", "mark entries not significantly worse than the best (Welch)"},
    {"alpha", DML_FLAG_FLOAT, &o.alpha, "0.05", "significance level"},
    {"standalone", DML_FLAG_BOOL, &o.standalone, "0", "LaTeX: a complete document instead of a fragment to \\input"},
    {"raw-names", DML_FLAG_BOOL, &o.raw, "0", "group names as they are (default: the reference's display names)"},
    {"names", DML_FLAG_STR, &o.names, "", "display-name mapping, JSON {\"substring\": \"name\"}; first match wins, else the rules"},
    {"per-dataset", DML_FLAG_BOOL, &o.per_dataset, "0", "one table per dataset with a Max_Epoch column (the reference's single_table)"},
    {"max-epoch", DML_FLAG_BOOL, &o.max_epoch, "0", "add a Max_Epoch column (epochs the first metric was read at)"},
    {"o", DML_FLAG_STR, &o.o, "-", "output file (- = stdout)"},
  };
  struct dml_cli cli = {.prog = "dml-table", .summary = "mean ± std tables (LaTeX booktabs, Markdown, CSV) from an aggregate",
                        .usage = "AGGREGATE.json [--latex|--markdown|--csv] [--metrics a,b] [-o FILE]", .flags = flags,
                        .n_flags = sizeof flags / sizeof *flags, .min_positional = 1, .max_positional = 1};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  if (o.latex + o.markdown + o.csv > 1) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "choose one of --latex, --markdown, --csv"));
  struct dml_aggregate agg;
  dml_exit_on_error(cli.prog, dml_aggregate_read_json(cli.positional[0], &agg));
  size_t nm = 0, nd = 0;
  char **metrics = split_commas(o.metrics, &nm), **datasets = split_commas(o.datasets, &nd);
  struct dml_table_opts t = {.format = o.markdown ? DML_TABLE_MARKDOWN : o.csv ? DML_TABLE_CSV : DML_TABLE_LATEX,
                             .metrics = (const char *const *)metrics, .n_metrics = nm,
                             .datasets = (const char *const *)datasets, .n_datasets = nd, .scale = o.scale,
                             .decimals = o.decimals, .standalone = o.standalone, .raw_names = o.raw,
                             .significance = o.significance, .alpha = o.alpha, .per_dataset = o.per_dataset,
                             .max_epoch = o.max_epoch};
  char **map = NULL;
  size_t nmap = 0;
  if (*o.names) {
    dml_exit_on_error(cli.prog, dml_name_map_load(o.names, &map, &nmap));
    t.name_map = (const char *const *)map;
    t.n_name_map = nmap;
  }
  FILE *out = strcmp(o.o, "-") ? fopen(o.o, "w") : stdout;
  if (!out) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "cannot write %s", o.o));
  dml_status st = dml_table_write(&agg, &t, out);
  dml_status cst = dml_output_close(out, strcmp(o.o, "-") ? o.o : "stdout"); /* /dev/full: exit non-zero */
  if (!st) st = cst;
  dml_exit_on_error(cli.prog, st);
  for (size_t i = 0; i < nm; i++) free(metrics[i]);
  for (size_t i = 0; i < nd; i++) free(datasets[i]);
  free(metrics);
  free(datasets);
  dml_name_map_free(map, nmap);
  dml_aggregate_free(&agg);
  dml_flags_free(&cli);
  return 0;
}
