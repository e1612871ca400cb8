/* dml-plot — gnuplot figures from run records. */
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"

int main(int argc, char **argv) {
  struct { char *metric, *split, *o; int raw; } o = {0};
  const struct dml_flag flags[] = {
    {"metric", DML_FLAG_STR, &o.metric, "e_recall@1", "metric to plot"},
    {"split", DML_FLAG_STR, &o.split, "test", "split of the metric"},
    {"raw-names", DML_FLAG_BOOL, &o.raw, "0", "group names as they are (default: the reference's display names)"},
    {"o", DML_FLAG_STR, &o.o, "", "output PNG; the .pdf, .gp and .dat are written beside it"},
  };
  struct dml_cli cli = {.prog = "dml-plot",
                        .summary = "figures from run records: curves (a metric against epoch, mean ± std band per group)",
                        .usage = "curves RUNS_DIR... --metric e_recall@1 --split test -o FIGURE.png", .flags = flags,
                        .n_flags = sizeof flags / sizeof *flags, .min_positional = 2, .max_positional = -1};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  const char *kind = cli.positional[0];
  if (strcmp(kind, "curves"))
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "unknown figure '%s' (known: curves)", kind));
  if (!*o.o) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "-o FIGURE.png is required"));
  struct dml_runset rs = {0};
  for (int i = 1; i < cli.n_positional; i++) dml_exit_on_error(cli.prog, dml_runset_scan(&rs, cli.positional[i], stderr));
  if (!rs.n) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "no run records found under the given paths"));
  dml_exit_on_error(cli.prog, dml_plot_curves(&rs, o.metric, o.split, o.o, o.raw));
  fprintf(stderr, "dml-plot: wrote %s (and .pdf, .gp, .dat beside it)\n", o.o);
  dml_runset_free(&rs);
  dml_flags_free(&cli);
  return 0;
}
