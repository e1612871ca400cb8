/* table — the paper's shared table from an aggregate: rows are methods (groups, by display name), columns are
 * dataset × metric, cells mean ± std over seeds; the best mean of each column in bold and, with --significance,
 * every entry whose difference from the best is not significant (Welch's t-test, two-sided, level alpha)
 * underlined. Rows: plain names sorted, then "R-" (regularised) names sorted, as the reference's shared_table.
 * The first line says how the numbers were made (selection rule, split, std kind, scale). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"

static const char *metric_label(const char *k) {
  static const struct { const char *k, *l; } m[] = {
    {"e_recall@1", "R@1"}, {"e_recall@2", "R@2"}, {"e_recall@4", "R@4"}, {"e_recall@8", "R@8"}, {"nmi", "NMI"},
    {"f1", "F1"}, {"mAP_c", "mAP"}, {"mAP@R", "MAP@R"}, {"r_precision", "RP"},
  };
  for (size_t i = 0; i < sizeof m / sizeof *m; i++)
    if (!strcmp(k, m[i].k)) return m[i].l;
  return k;
}

static const char *dataset_label(const char *d) {
  if (!strcmp(d, "cub200")) return "CUB";
  if (!strcmp(d, "cars196")) return "CARS";
  if (!strcmp(d, "online_products")) return "SOP";
  if (!strcmp(d, "fashion_mnist")) return "Fashion-MNIST";
  return d;
}

static const struct dml_agg_metric *find_metric(const struct dml_agg_group *g, const char *key) {
  for (size_t i = 0; g && i < g->n_metrics; i++)
    if (!strcmp(g->metrics[i].key, key)) return &g->metrics[i];
  return NULL;
}

static size_t used(const struct dml_agg_metric *m) {
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++) k += !isnan(m->values[i]);
  return k;
}

static int cmp_rows(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  int rx = !strncmp(x, "R-", 2), ry = !strncmp(y, "R-", 2);
  return rx != ry ? rx - ry : strcmp(x, y);
}

/* A user string inside a comment line (LaTeX %, Markdown <!-- -->): only plain characters survive, so a newline
 * cannot end the comment and "-->" cannot close it. */
static void comment_safe(char *s) {
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("@_:.,;=+() ", *s)))
      *s = '?';
}

static char *row_name(const struct dml_agg_group *g, int raw) { return raw ? xstrdup(g->name) : dml_display_name(g->name); }

dml_status dml_table_write(const struct dml_aggregate *a, const struct dml_table_opts *o, FILE *out) {
  if (!o->n_metrics) return dml_error(DML_ERR_ARG, "no metrics chosen for the table (--metrics)");
  /* datasets */
  const char **ds = xcalloc(a->n_groups + o->n_datasets + 1, sizeof *ds);
  size_t nd = 0;
  if (o->datasets && o->n_datasets) {
    for (size_t i = 0; i < o->n_datasets; i++) ds[nd++] = o->datasets[i];
  } else {
    for (size_t i = 0; i < a->n_groups; i++) {
      int seen = 0;
      for (size_t k = 0; k < nd && !seen; k++) seen = !strcmp(ds[k], a->groups[i].dataset);
      if (!seen) ds[nd++] = a->groups[i].dataset;
    }
  }
  /* rows */
  char **rows = xcalloc(a->n_groups + 1, sizeof *rows);
  size_t nr = 0;
  for (size_t i = 0; i < a->n_groups; i++) {
    char *r = row_name(&a->groups[i], o->raw_names);
    int seen = 0;
    for (size_t k = 0; k < nr && !seen; k++) seen = !strcmp(rows[k], r);
    if (seen) free(r);
    else rows[nr++] = r;
  }
  qsort(rows, nr, sizeof *rows, cmp_rows);
  size_t nc = nd * o->n_metrics;
  const struct dml_agg_metric **cell = xcalloc(nr * nc + 1, sizeof *cell);
  for (size_t r = 0; r < nr; r++)
    for (size_t d = 0; d < nd; d++) {
      const struct dml_agg_group *g = NULL;
      for (size_t i = 0; i < a->n_groups && !g; i++) {
        char *nm = row_name(&a->groups[i], o->raw_names);
        if (!strcmp(nm, rows[r]) && !strcmp(a->groups[i].dataset, ds[d])) g = &a->groups[i];
        free(nm);
      }
      for (size_t m = 0; m < o->n_metrics; m++) cell[r * nc + d * o->n_metrics + m] = find_metric(g, o->metrics[m]);
    }
  /* best per column and the significance marks */
  long *best = xcalloc(nc + 1, sizeof *best);
  for (size_t c = 0; c < nc; c++) {
    best[c] = -1;
    for (size_t r = 0; r < nr; r++) {
      const struct dml_agg_metric *m = cell[r * nc + c];
      if (m && !isnan(m->mean) && (best[c] < 0 || m->mean > cell[best[c] * nc + c]->mean)) best[c] = (long)r;
    }
  }
  double sc = o->scale > 0 ? o->scale : 1;
  int dec = o->decimals >= 0 ? o->decimals : 2;
  const char *fmt_names[] = {"latex", "markdown", "csv"};
  char info[512];
  char *rule = xstrdup(a->rule), *split = xstrdup(a->split);
  comment_safe(rule);
  comment_safe(split);
  snprintf(info, sizeof info, "dml-table: rule %s on split %s, %s std over seeds, values x%g; best per column in bold%s",
           rule, split, a->population_std ? "population" : "sample", sc,
           o->significance ? "; underlined/italic: not significantly worse than the best (Welch t-test)" : "");
  free(rule);
  free(split);
  (void)fmt_names;
  if (o->format == DML_TABLE_CSV) {
    fprintf(out, "method");
    static const char *const part[] = {"mean", "std", "n"};
    for (size_t d = 0; d < nd; d++)
      for (size_t m = 0; m < o->n_metrics; m++)
        for (int k = 0; k < 3; k++) {
          char *h = dml_strfmt("%s %s %s", ds[d], o->metrics[m], part[k]), *e = dml_escape_csv(h);
          fprintf(out, ",%s", e);
          free(h);
          free(e);
        }
    fputc('\n', out);
  } else if (o->format == DML_TABLE_MARKDOWN) {
    fprintf(out, "<!-- %s -->\n\n| Method |", info);
    for (size_t d = 0; d < nd; d++)
      for (size_t m = 0; m < o->n_metrics; m++) {
        char *e = dml_escape_markdown(dataset_label(ds[d]));
        char *k = dml_escape_markdown(metric_label(o->metrics[m]));
        fprintf(out, " %s %s |", e, k);
        free(e);
        free(k);
      }
    fprintf(out, "\n|---|");
    for (size_t c = 0; c < nc; c++) fprintf(out, "---:|");
    fputc('\n', out);
  } else {
    if (o->standalone)
      fprintf(out, "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n\\usepackage{lmodern}\n\\usepackage{booktabs}\n"
                   "\\begin{document}\n");
    fprintf(out, "%% %s\n", info);
    fprintf(out, "\\begin{tabular}{l");
    for (size_t d = 0; d < nd; d++) {
      fputc(' ', out);
      for (size_t m = 0; m < o->n_metrics; m++) fputc('c', out);
    }
    fprintf(out, "}\n\\toprule\n");
    for (size_t d = 0; d < nd; d++) {
      char *e = dml_escape_latex(dataset_label(ds[d]));
      fprintf(out, " & \\multicolumn{%zu}{c}{%s}", o->n_metrics, e);
      free(e);
    }
    fprintf(out, " \\\\\n");
    for (size_t d = 0; d < nd; d++)
      fprintf(out, "\\cmidrule(lr){%zu-%zu}", 2 + d * o->n_metrics, 1 + (d + 1) * o->n_metrics);
    fprintf(out, "\nMethod");
    for (size_t d = 0; d < nd; d++)
      for (size_t m = 0; m < o->n_metrics; m++) {
        char *e = dml_escape_latex(metric_label(o->metrics[m]));
        fprintf(out, " & %s", e);
        free(e);
      }
    fprintf(out, " \\\\\n\\midrule\n");
  }
  for (size_t r = 0; r < nr; r++) {
    char *name = o->format == DML_TABLE_LATEX ? dml_escape_latex(rows[r])
               : o->format == DML_TABLE_MARKDOWN ? dml_escape_markdown(rows[r]) : NULL;
    if (o->format == DML_TABLE_CSV) {
      char *e = dml_escape_csv(rows[r]);
      fputs(e, out);
      free(e);
    } else {
      fprintf(out, o->format == DML_TABLE_MARKDOWN ? "| %s |" : "%s", name);
    }
    free(name);
    for (size_t c = 0; c < nc; c++) {
      const struct dml_agg_metric *m = cell[r * nc + c];
      if (o->format == DML_TABLE_CSV) {
        if (m) fprintf(out, ",%.*f,%.*f,%zu", dec + 2, m->mean * sc, dec + 2, m->std * sc, used(m));
        else fprintf(out, ",,,0");
        continue;
      }
      int is_best = best[c] == (long)r;
      int ns = 0;
      if (o->significance && m && !is_best && best[c] >= 0) {
        const struct dml_agg_metric *b = cell[best[c] * nc + c];
        double p = dml_welch_p(b->mean, b->std, used(b), m->mean, m->std, used(m));
        ns = !isnan(p) && p >= (o->alpha > 0 ? o->alpha : 0.05);
      }
      char num[96];
      if (!m || isnan(m->mean)) snprintf(num, sizeof num, o->format == DML_TABLE_LATEX ? "$-\\pm-$" : "–");
      else if (o->format == DML_TABLE_LATEX)
        snprintf(num, sizeof num, "%.*f \\pm %.*f", dec, m->mean * sc, dec, isnan(m->std) ? 0.0 : m->std * sc);
      else snprintf(num, sizeof num, "%.*f ± %.*f", dec, m->mean * sc, dec, isnan(m->std) ? 0.0 : m->std * sc);
      if (o->format == DML_TABLE_LATEX) {
        if (!m || isnan(m->mean)) fprintf(out, " & %s", num);
        else if (is_best) fprintf(out, " & $\\mathbf{%s}$", num);
        else if (ns) fprintf(out, " & $\\underline{%s}$", num);
        else fprintf(out, " & $%s$", num);
      } else {
        fprintf(out, is_best ? " **%s** |" : ns ? " _%s_ |" : " %s |", num);
      }
    }
    fprintf(out, o->format == DML_TABLE_LATEX ? " \\\\\n" : "\n");
  }
  if (o->format == DML_TABLE_LATEX) {
    fprintf(out, "\\bottomrule\n\\end{tabular}\n");
    if (o->standalone) fprintf(out, "\\end{document}\n");
  }
  for (size_t r = 0; r < nr; r++) free(rows[r]);
  free(rows);
  free(cell);
  free(best);
  free(ds);
  return DML_OK;
}
