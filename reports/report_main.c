/* dml-report — aggregate runs into a folder of tables, figures and a PDF built from the latex/ template. */
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"

#ifndef DML_LATEX_TEMPLATE
#define DML_LATEX_TEMPLATE "latex/report.tex"
#endif

int main(int argc, char **argv) {
  struct { char *o, *metrics, *select, *split, *select_split, *tmpl; int population, min_epochs, raw, no_pdf, decimals;
           double scale; } o = {0};
  const struct dml_flag flags[] = {
    {"o", DML_FLAG_STR, &o.o, "runs/report", "output folder (created)"},
    {"metrics", DML_FLAG_STR, &o.metrics, "e_recall@1,e_recall@2,e_recall@4,nmi", "table columns per dataset (and the correlation matrix)"},
    {"select", DML_FLAG_STR, &o.select, "max", "per-run value: max (the reference), last, best:<metric>"},
    {"split", DML_FLAG_STR, &o.split, "test", "split whose metrics are reported"},
    {"select-split", DML_FLAG_STR, &o.select_split, "val", "best:<metric> is read on this split"},
    {"population-std", DML_FLAG_BOOL, &o.population, "0", "population std (ddof 0, the reference) instead of sample std"},
    {"min-epochs", DML_FLAG_INT, &o.min_epochs, "0", "drop runs with fewer evaluated epochs (the reference used 40)"},
    {"scale", DML_FLAG_FLOAT, &o.scale, "100", "multiply table values (100: percentages)"},
    {"decimals", DML_FLAG_INT, &o.decimals, "2", "table decimals"},
    {"raw-names", DML_FLAG_BOOL, &o.raw, "0", "group names as they are (default: the reference's display names)"},
    {"template", DML_FLAG_STR, &o.tmpl, DML_LATEX_TEMPLATE, "LaTeX template that \\inputs generated.tex"},
    {"no-pdf", DML_FLAG_BOOL, &o.no_pdf, "0", "write everything but do not run pdflatex"},
  };
  struct dml_cli cli = {.prog = "dml-report", .summary = "runs → aggregate, tables, figures and a PDF report (pdflatex)",
                        .usage = "RUNS_DIR_OR_FILE... [-o DIR]", .flags = flags, .n_flags = sizeof flags / sizeof *flags,
                        .min_positional = 1, .max_positional = -1};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  struct dml_report_opts ro = {.out_dir = o.o, .template_path = o.tmpl, .scale = o.scale, .decimals = o.decimals,
                               .raw_names = o.raw, .pdf = !o.no_pdf};
  ro.rule = (struct dml_agg_opts){.split = o.split, .select_split = o.select_split, .population_std = o.population,
                                  .min_epochs = o.min_epochs};
  if (!strcmp(o.select, "max")) ro.rule.rule = DML_RULE_MAX;
  else if (!strcmp(o.select, "last")) ro.rule.rule = DML_RULE_LAST;
  else if (!strncmp(o.select, "best:", 5) && o.select[5]) {
    ro.rule.rule = DML_RULE_BEST;
    ro.rule.best_metric = o.select + 5;
  } else dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--select must be max, last or best:<metric>, got '%s'", o.select));
  char *copy = xstrdup(o.metrics);
  const char *list[64];
  size_t nm = 0;
  char *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t && nm < 64; t = strtok_r(NULL, ",", &save)) list[nm++] = t;
  ro.metrics = list;
  ro.n_metrics = nm;
  struct dml_runset rs = {0};
  for (int i = 0; i < cli.n_positional; i++) dml_exit_on_error(cli.prog, dml_runset_scan(&rs, cli.positional[i], stderr));
  if (!rs.n) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "no run records found under the given paths"));
  dml_exit_on_error(cli.prog, dml_report_write(&rs, &ro));
  fprintf(stderr, "dml-report: %zu runs → %s/%s\n", rs.n, o.o, ro.pdf ? "report.pdf" : "report.tex (no PDF)");
  free(copy);
  dml_runset_free(&rs);
  dml_flags_free(&cli);
  return 0;
}
