/* reports — tables and figures from aggregates and run records.
 *
 * Every string that reaches a LaTeX file, a gnuplot script, a CSV or Markdown table comes from users (group and
 * run names, metric keys, W&B config values) and goes through the escaping function of its target:
 *   dml_escape_latex   — text mode: \ { } $ & # % _ ^ ~ < > | " and control characters;
 *   dml_escape_gnuplot — the body of a single-quoted gnuplot string: ' doubled, control characters → space
 *                        (single-quoted strings expand nothing, so `system("...")` stays text);
 *   dml_escape_markdown — | and backslash escaped, newlines → space.
 *
 *   struct dml_aggregate agg;  dml_aggregate_read_json("agg.json", &agg);
 *   struct dml_table_opts t = {.format = DML_TABLE_LATEX, .metrics = keys, .n_metrics = 2, .scale = 100, .decimals = 2};
 *   dml_table_write(&agg, &t, stdout);
 *   dml_plot_curves(&runset, "e_recall@1", "test", "runs/demo/recall.png");   // + .pdf, .gp, .dat beside it
 */
#ifndef DML_REPORTS_H
#define DML_REPORTS_H
#include <stdio.h>

#include "analysis/analysis.h"


enum dml_table_format { DML_TABLE_LATEX, DML_TABLE_MARKDOWN, DML_TABLE_CSV };

struct dml_table_opts {
  enum dml_table_format format;
  const char *const *metrics;   /* columns per dataset, in order */
  size_t n_metrics;
  const char *const *datasets;  /* NULL: every dataset in the aggregate, in order of appearance */
  size_t n_datasets;
  double scale;                 /* multiply values (100 for percentages) */
  int decimals;
  int standalone;               /* LaTeX: a whole document instead of a fragment */
  int raw_names;                /* group names as they are (else the reference's display names) */
  int significance;             /* mark entries not significantly worse than the column's best (Welch) */
  double alpha;                 /* significance level (0.05) */
};

dml_status dml_table_write(const struct dml_aggregate *a, const struct dml_table_opts *o, FILE *out);

/* Welch's t-test (two-sided) on two samples given by mean, std (sample), n; returns the p-value. */
double dml_welch_p(double m1, double s1, size_t n1, double m2, double s2, size_t n2);
/* Regularised incomplete beta I_x(a, b) and the Student-t CDF, for the test above. */
double dml_betai(double a, double b, double x);
double dml_student_t_cdf(double t, double dof);

/* Figures. Each writes <base>.png and <base>.pdf, and keeps <base>.gp and <base>.dat beside them. */
dml_status dml_plot_curves(const struct dml_runset *rs, const char *metric, const char *split, const char *out_png,
                           int raw_names);
/* Run gnuplot on a script file (fork + execvp, no shell). */
dml_status dml_gnuplot_run(const char *script);
#endif
