/* analysis — run discovery and seed aggregation: run records (local or fetched) → groups → per-metric statistics.
 *
 *   struct dml_runset rs = {0};
 *   dml_runset_scan(&rs, "runs/", stderr);            // every *.h5 below; foreign files reported and skipped
 *   struct dml_agg_opts o = {.rule = DML_RULE_MAX, .split = "test"};
 *   struct dml_aggregate agg;
 *   dml_aggregate_compute(&rs, &o, &agg);
 *   dml_aggregate_write_json(&agg, "agg.json");
 *   dml_aggregate_free(&agg); dml_runset_free(&rs);
 *
 * Grouping (default, as the reference): dataset and the run name without its "_s<seed>" suffix (and without a
 * "_<N>" duplicate suffix after it); runs without a name use their group attribute.
 * Rules (per run, per metric of the chosen split): `max` — the NaN-ignoring maximum over epochs (the reference's
 * Result_Evaluations rule: best-epoch-on-test); `last` — the value at the last evaluated epoch; `best:<metric>`
 * — every metric read at the epoch where <metric> is best on `select_split` (e.g. validation).
 * Statistics over seeds: n, mean, std (sample n−1 by default, population as the reference), min, max; warnings
 * for failed / unfinished / duplicate / missing seeds and for metric definitions that differ between seeds.
 * The JSON and CSV files are specified in docs/aggregate-format.md. Every user string written anywhere goes
 * through the escaping function of its target (bottom of this header).
 */
#ifndef DML_ANALYSIS_H
#define DML_ANALYSIS_H
#include <stdio.h>

#include "common/common.h"

struct dml_runset {
  struct dml_run *runs;
  size_t n, cap;
  size_t skipped;       /* files that were not readable run records */
};

/* Add every run record under path (a file or a folder, searched recursively for *.h5). */
dml_status dml_runset_scan(struct dml_runset *rs, const char *path, FILE *report);
void dml_runset_free(struct dml_runset *rs);

enum dml_rule { DML_RULE_MAX, DML_RULE_LAST, DML_RULE_BEST };

struct dml_agg_opts {
  enum dml_rule rule;
  const char *split;          /* split whose metrics are aggregated (default "test") */
  const char *best_metric;    /* DML_RULE_BEST: the selecting metric */
  const char *select_split;   /* DML_RULE_BEST: the split it is read on (default "val", else split) */
  int population_std;         /* ddof 0 (the reference) instead of n−1 */
  int min_epochs;             /* drop runs with fewer evaluated epochs (the reference: 40) */
  int by_group_attr;          /* group by the `group` attribute instead of the run name */
};

struct dml_agg_metric {
  char *key;                  /* "e_recall@1" */
  char *definition;           /* the runs' definition version ("e_recall@k/v1"), "mixed" (warned), or NULL */
  size_t n;
  double mean, std, min, max;
  double *values;             /* (n) one per seed, in seed order */
  long *seeds;                /* (n) */
  long *epochs;               /* (n) the epoch each value was read at */
};

struct dml_agg_group {
  char *dataset, *name;
  size_t n_runs;
  long *seeds;                /* (n_runs) seeds used */
  char **paths;
  size_t n_metrics;
  struct dml_agg_metric *metrics;
  size_t n_warnings;
  char **warnings;            /* failed, unfinished, duplicate or missing seeds */
};

struct dml_aggregate {
  char *rule;                 /* "max", "last", "best:e_recall@1@val" */
  char *split;
  int population_std;
  size_t n_groups;
  struct dml_agg_group *groups;
};

dml_status dml_aggregate_compute(const struct dml_runset *rs, const struct dml_agg_opts *o, struct dml_aggregate *out);
dml_status dml_aggregate_write_json(const struct dml_aggregate *a, const char *path);
dml_status dml_aggregate_write_csv(const struct dml_aggregate *a, const char *path);
dml_status dml_aggregate_read_json(const char *path, struct dml_aggregate *out);
void dml_aggregate_free(struct dml_aggregate *a);
/* Statistics: mean, std (ddof = 1 − population), min, max of n values (NaNs excluded; returns count used). */
size_t dml_stats(const double *v, size_t n, int population, double *mean, double *std, double *min, double *max);
/* The run name without "_s<seed>" (and a following "_<N>"), as the reference groups; heap. */
char *dml_group_name_of(const char *run_name);

// ---------------------------------------------------------------------------------------------- escaping
/* One function per output target (escape.c); each returns a heap string and accepts any bytes. */
char *dml_escape_latex(const char *s);    /* LaTeX text mode */
char *dml_escape_gnuplot(const char *s);  /* the inside of a single-quoted gnuplot string */
char *dml_escape_csv(const char *s);      /* one whole RFC 4180 field, quotes included */
char *dml_escape_json(const char *s);     /* valid UTF-8 for jansson (which writes the JSON escapes) */
char *dml_escape_markdown(const char *s); /* a Markdown table cell */
/* The reference's display name for a group (Result_Evaluations.py mapping, spec A11.5), heap. */
char *dml_display_name(const char *group);
#endif
