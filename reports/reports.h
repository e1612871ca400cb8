/* reports — tables and figures from aggregates and run records.
 *
 * Every string that reaches a LaTeX file, a gnuplot script, a CSV or Markdown table comes from users (group and
 * run names, metric keys, W&B config values) and goes through the escaping function of its target
 * (analysis/analysis.h: dml_escape_latex, _gnuplot, _csv, _json, _markdown).
 *
 *   struct dml_aggregate agg;  dml_aggregate_read_json("agg.json", &agg);
 *   struct dml_table_opts t = {.format = DML_TABLE_LATEX, .metrics = keys, .n_metrics = 2, .scale = 100, .decimals = 2};
 *   dml_table_write(&agg, &t, stdout);
 *   dml_plot_curves(&runset, "e_recall@1", "test", "runs/demo/recall.png", 0);  // + .pdf, -latex.tex, .gp, .dat
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
  int max_epoch;                /* add a Max_Epoch column: mean ± std of the epochs metrics[0] was read at */
  int per_dataset;              /* the reference's single_table: one table per dataset, with Max_Epoch */
  const char *const *name_map;  /* pairs {substring, display name}: the first contained substring names a row */
  size_t n_name_map;            /* number of pairs */
};
/* Load a display-name mapping: a JSON object {"substring": "display name", ...}, in file order. pairs is
 * (2 * n) heap strings; free with dml_name_map_free. */
dml_status dml_name_map_load(const char *path, char ***pairs, size_t *n);
void dml_name_map_free(char **pairs, size_t n);

dml_status dml_table_write(const struct dml_aggregate *a, const struct dml_table_opts *o, FILE *out);

/* Welch's t-test (two-sided) on two samples given by mean, std (sample), n; returns the p-value. */
double dml_welch_p(double m1, double s1, size_t n1, double m2, double s2, size_t n2);
/* Regularised incomplete beta I_x(a, b) and the Student-t CDF, for the test above. */
double dml_betai(double a, double b, double x);
double dml_student_t_cdf(double t, double dof);

// ---------------------------------------------------------------------------------------------- figures
/* Each figure writes <stem>.png, <stem>.pdf and <stem>-latex.tex + <stem>-latex.pdf (cairolatex: labels are LaTeX
 * source, for papers), and keeps <stem>.gp and <stem>.dat beside them (rerun with `gnuplot <stem>.gp` in that
 * folder). out_png is "<dir>/<stem>.png". Titles say how the values were selected. */

/* (a) metric against epoch per group: mean line and a ±std band over seeds (sample std), all epochs. */
dml_status dml_plot_curves(const struct dml_runset *rs, const char *metric, const char *split, const char *out_png,
                           int raw_names);

/* (b) the paper's relation figure: one panel per (dataset, x metric); a point per group at (mean x, mean y) with
 * std error bars both ways, the least-squares line over [0.9 min x, 1.1 max x] and Pearson r in the title. */
struct dml_relation_opts {
  const char *const *x_metrics; /* e.g. {"rho_spectrum@2", "dists@intra_over_inter"} */
  size_t n_x;
  const char *x_split;          /* "train" */
  const char *y_metric;         /* "e_recall@1" */
  const char *y_split;          /* "test" */
  struct dml_agg_opts rule;     /* selection of y; with DML_RULE_MAX x is read at the epoch where y is largest
                                   (the reference's Max_Epoch), otherwise x follows the same rule */
  int raw_names;
};
dml_status dml_plot_relation(const struct dml_runset *rs, const struct dml_relation_opts *o, const char *out_png);

/* (c) per dataset, Pearson and Spearman correlation across groups of the per-group means of `metrics`, as
 * annotated heat maps (groups lacking a metric are left out; a dataset needs 3 groups). */
dml_status dml_plot_correlation(const struct dml_aggregate *agg, const char *const *metrics, size_t nm,
                                const char *out_png);

/* (d) normalised singular-value spectrum s_i / Σ s of each run's embeddings of `split` (latest, or best). */
dml_status dml_plot_spectrum(const struct dml_runset *rs, const char *split, int best, const char *out_png);

/* Run gnuplot on a script (fork + execvp, no shell), in folder dir (NULL: here). */
dml_status dml_gnuplot_run(const char *script, const char *dir);

/* Helpers the figures use, exposed for tests. */
double dml_pearson(const double *x, const double *y, size_t n);   /* NaN when a side is constant or n < 2 */
double dml_spearman(const double *x, const double *y, size_t n);  /* Pearson of average ranks */
/* The spectrum figure's singular values and ρ come from dml-eval's own definition: eval/spectrum.h. */

// ---------------------------------------------------------------------------------------------- report
struct dml_report_opts {
  const char *out_dir;          /* created */
  const char *template_path;    /* latex/report.tex */
  struct dml_agg_opts rule;     /* how each run's value is taken */
  const char *const *metrics;   /* table columns (and the correlation matrix) */
  size_t n_metrics;
  double scale;
  int decimals, raw_names;
  int pdf;                      /* run pdflatex */
};
/* Aggregate, tables, figures, generated.tex + the template, and report.pdf (layout in report.c). */
dml_status dml_report_write(const struct dml_runset *rs, const struct dml_report_opts *o);
#endif
