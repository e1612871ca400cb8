/* dml-plot — gnuplot figures from run records: curves, relation, correlation, spectrum (reports.h). */
#include <stdlib.h>
#include <string.h>

#include "common/output.h"
#include "reports/reports.h"

static char **split_commas(const char *s, size_t *n) {
  char *c = xstrdup(s);
  char **v = xcalloc(strlen(s) + 2, sizeof *v);
  *n = 0;
  char *save = NULL;
  for (char *t = strtok_r(c, ",", &save); t; t = strtok_r(NULL, ",", &save)) v[(*n)++] = xstrdup(t);
  free(c);
  return v;
}

static void free_list(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static dml_status parse_rule(const char *sel, const char *split, const char *select_split, int population,
                             struct dml_agg_opts *ao) {
  memset(ao, 0, sizeof *ao);
  ao->split = split;
  ao->select_split = select_split;
  ao->population_std = population;
  if (!strcmp(sel, "max")) ao->rule = DML_RULE_MAX;
  else if (!strcmp(sel, "last")) ao->rule = DML_RULE_LAST;
  else if (!strncmp(sel, "best:", 5) && sel[5]) {
    ao->rule = DML_RULE_BEST;
    ao->best_metric = sel + 5;
  } else return dml_error(DML_ERR_ARG, "--select must be max, last or best:<metric>, got '%s'", sel);
  return DML_OK;
}

int main(int argc, char **argv) {
  struct { char *metric, *split, *o, *x, *x_split, *metrics, *select, *select_split; int raw, best, population; } o = {0};
  const struct dml_flag flags[] = {
    {"metric", DML_FLAG_STR, &o.metric, "e_recall@1", "curves, relation: the metric on the y axis"},
    {"split", DML_FLAG_STR, &o.split, "test", "split of --metric (curves, relation, correlation) or of the embeddings (spectrum)"},
    {"x", DML_FLAG_STR, &o.x, "rho_spectrum@2,dists@intra_over_inter", "relation: x metrics (comma-separated), one panel column each"},
    {"x-split", DML_FLAG_STR, &o.x_split, "train", "relation: split of the x metrics"},
    {"metrics", DML_FLAG_STR, &o.metrics, "e_recall@1,e_recall@2,e_recall@4,nmi,f1,mAP_c", "correlation: metrics (comma-separated)"},
    {"select", DML_FLAG_STR, &o.select, "max", "relation, correlation: per-run value: max (the reference), last, best:<metric>"},
    {"select-split", DML_FLAG_STR, &o.select_split, "val", "best:<metric> is read on this split"},
    {"population-std", DML_FLAG_BOOL, &o.population, "0", "population std (ddof 0, the reference) for error bars"},
    {"best", DML_FLAG_BOOL, &o.best, "0", "spectrum: the embeddings of the best epoch instead of the latest"},
    {"raw-names", DML_FLAG_BOOL, &o.raw, "0", "group names as they are (default: the reference's display names)"},
    {"o", DML_FLAG_STR, &o.o, "", "output PNG (default <figure>.png here); .pdf, -latex.tex/-latex.pdf, .gp, .dat beside it"},
  };
  struct dml_cli cli = {.prog = "dml-plot",
                        .summary = "figures from run records: curves | relation | correlation | spectrum",
                        .usage = "curves|relation|correlation|spectrum RUNS_DIR_OR_FILE... [-o FIGURE.png]\n"
                                 "  curves       a metric against epoch, mean ± std band over seeds, one line per group\n"
                                 "  relation     x = train-split metrics, y = test metric, a point per group, LSQ line, Pearson r\n"
                                 "  correlation  Pearson and Spearman matrices of --metrics across groups, per dataset\n"
                                 "  spectrum     normalised singular values of each run's embeddings",
                        .flags = flags, .n_flags = sizeof flags / sizeof *flags, .min_positional = 2,
                        .max_positional = -1};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  const char *kind = cli.positional[0];
  static const char *const kinds[] = {"curves", "relation", "correlation", "spectrum"};
  int k = -1;
  for (int i = 0; i < 4; i++)
    if (!strcmp(kind, kinds[i])) k = i;
  if (k < 0)
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "unknown figure '%s' (known: curves, relation, correlation, spectrum)", kind));
  char *out = *o.o ? xstrdup(o.o) : dml_strfmt("%s.png", kind);
  dml_exit_on_error(cli.prog, dml_output_check(out, "-o")); /* -o /dev/full wrote /dev/full.png */
  struct dml_runset rs = {0};
  for (int i = 1; i < cli.n_positional; i++) dml_exit_on_error(cli.prog, dml_runset_scan(&rs, cli.positional[i], stderr));
  if (!rs.n) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "no run records found under the given paths"));
  struct dml_agg_opts ao;
  dml_status st = DML_OK;
  if (k == 0) st = dml_plot_curves(&rs, o.metric, o.split, out, o.raw);
  else if (k == 3) st = dml_plot_spectrum(&rs, o.split, o.best, out);
  else if (!(st = parse_rule(o.select, o.split, o.select_split, o.population, &ao))) {
    size_t n = 0;
    char **list = split_commas(k == 1 ? o.x : o.metrics, &n);
    if (k == 1) {
      struct dml_relation_opts ro = {.x_metrics = (const char *const *)list, .n_x = n, .x_split = o.x_split,
                                     .y_metric = o.metric, .y_split = o.split, .rule = ao, .raw_names = o.raw};
      st = dml_plot_relation(&rs, &ro, out);
    } else {
      struct dml_aggregate agg;
      if (!(st = dml_aggregate_compute(&rs, &ao, &agg))) {
        st = dml_plot_correlation(&agg, (const char *const *)list, n, out);
        dml_aggregate_free(&agg);
      }
    }
    free_list(list, n);
  }
  dml_exit_on_error(cli.prog, st);
  fprintf(stderr, "dml-plot: wrote %s (and .pdf, -latex.tex, .gp, .dat beside it)\n", out);
  free(out);
  dml_runset_free(&rs);
  dml_flags_free(&cli);
  return 0;
}
