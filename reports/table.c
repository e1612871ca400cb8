/* table — the paper's shared table from an aggregate: rows are methods (groups, by display name), columns are
 * dataset × metric, cells mean ± std over seeds; the best mean of each column in bold and, with --significance,
 * every entry whose difference from the best is not significant (Welch's t-test, two-sided, level alpha)
 * underlined. Rows: plain names sorted, then "R-" (regularised) names sorted, as the reference's shared_table.
 * The first line says how the numbers were made (selection rule, split, std kind, scale). */
#include <jansson.h>
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

/* Row label: the first name_map substring that the group contains, else the group itself (raw) or the reference's
 * display name. */
static char *row_name(const struct dml_agg_group *g, const struct dml_table_opts *o) {
  for (size_t i = 0; i < o->n_name_map; i++)
    if (strstr(g->name, o->name_map[2 * i])) return xstrdup(o->name_map[2 * i + 1]);
  return o->raw_names ? xstrdup(g->name) : dml_display_name(g->name);
}

/* Sample mean/std/n from the per-seed values (Welch needs the n-1 std whatever the aggregate's std kind). */
static void sample_stats(const struct dml_agg_metric *m, double *mean, double *sd, size_t *n) {
  double lo, hi;
  *n = dml_stats(m->values, m->n, 0, mean, sd, &lo, &hi);
}

static const char *const max_epoch_key = "Max_Epoch";

static dml_status write_one(const struct dml_aggregate *a, const struct dml_table_opts *o, FILE *out);

dml_status dml_table_write(const struct dml_aggregate *a, const struct dml_table_opts *o, FILE *out) {
  if (!o->per_dataset) return write_one(a, o, out);
  /* the reference's single_table: one table per dataset, metric columns + Max_Epoch */
  const char **ds = xcalloc(a->n_groups + 1, sizeof *ds);
  size_t nd = 0;
  if (o->datasets && o->n_datasets) {
    for (size_t i = 0; i < o->n_datasets && nd < a->n_groups + 1; i++) ds[nd++] = o->datasets[i];
  } else
    for (size_t i = 0; i < a->n_groups; i++) {
      int seen = 0;
      for (size_t k = 0; k < nd && !seen; k++) seen = !strcmp(ds[k], a->groups[i].dataset);
      if (!seen) ds[nd++] = a->groups[i].dataset;
    }
  dml_status st = DML_OK;
  if (o->standalone && o->format == DML_TABLE_LATEX)
    fprintf(out, "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n\\usepackage{lmodern}\n"
                 "\\usepackage{booktabs}\n\\begin{document}\n");
  for (size_t d = 0; d < nd && !st; d++) {
    struct dml_table_opts one = *o;
    one.per_dataset = 0;
    one.standalone = 0;
    one.max_epoch = 1;
    one.datasets = &ds[d];
    one.n_datasets = 1;
    if (d) fputc('\n', out);
    st = write_one(a, &one, out);
  }
  if (o->standalone && o->format == DML_TABLE_LATEX) fprintf(out, "\\end{document}\n");
  free(ds);
  return st;
}

static dml_status write_one(const struct dml_aggregate *a, const struct dml_table_opts *o, FILE *out) {
  if (!o->n_metrics) return dml_error(DML_ERR_ARG, "no metrics chosen for the table (--metrics)");
  /* columns per dataset: the metrics, and Max_Epoch (the epochs the first metric was read at, unscaled) */
  size_t nmk = o->n_metrics + (o->max_epoch != 0);
  const char **mk = xcalloc(nmk + 1, sizeof *mk);
  for (size_t m = 0; m < o->n_metrics; m++) mk[m] = o->metrics[m];
  if (o->max_epoch) mk[nmk - 1] = max_epoch_key;
  struct dml_agg_metric *ep = xcalloc(a->n_groups + 1, sizeof *ep);
  for (size_t i = 0; o->max_epoch && i < a->n_groups; i++) {
    const struct dml_agg_metric *m0 = find_metric(&a->groups[i], o->metrics[0]);
    ep[i].key = (char *)max_epoch_key;
    ep[i].values = xcalloc((m0 ? m0->n : 0) + 1, sizeof *ep[i].values);
    for (size_t k = 0; m0 && k < m0->n; k++) ep[i].values[ep[i].n++] = m0->epochs[k] >= 0 ? (double)m0->epochs[k] : NAN;
    dml_stats(ep[i].values, ep[i].n, a->population_std, &ep[i].mean, &ep[i].std, &ep[i].min, &ep[i].max);
  }
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
    int chosen = 0; /* only groups of the chosen datasets make rows */
    for (size_t d = 0; d < nd && !chosen; d++) chosen = !strcmp(ds[d], a->groups[i].dataset);
    if (!chosen) continue;
    char *r = row_name(&a->groups[i], o);
    int seen = 0;
    for (size_t k = 0; k < nr && !seen; k++) seen = !strcmp(rows[k], r);
    if (seen) free(r);
    else rows[nr++] = r;
  }
  qsort(rows, nr, sizeof *rows, cmp_rows);
  size_t nc = nd * nmk;
  const struct dml_agg_metric **cell = xcalloc(nr * nc + 1, sizeof *cell);
  for (size_t r = 0; r < nr; r++)
    for (size_t d = 0; d < nd; d++) {
      const struct dml_agg_group *g = NULL;
      for (size_t i = 0; i < a->n_groups && !g; i++) {
        char *nm = row_name(&a->groups[i], o);
        if (!strcmp(nm, rows[r]) && !strcmp(a->groups[i].dataset, ds[d])) g = &a->groups[i];
        free(nm);
      }
      for (size_t m = 0; m < nmk; m++)
        cell[r * nc + d * nmk + m] = mk[m] == max_epoch_key ? (g ? &ep[g - a->groups] : NULL) : find_metric(g, mk[m]);
    }
  /* best per column and the significance marks */
  long *best = xcalloc(nc + 1, sizeof *best);
  for (size_t c = 0; c < nc; c++) {
    best[c] = -1;
    if (mk[c % nmk] == max_epoch_key) continue; /* no "best" epoch */
    for (size_t r = 0; r < nr; r++) {
      const struct dml_agg_metric *m = cell[r * nc + c];
      if (m && !isnan(m->mean) && (best[c] < 0 || m->mean > cell[best[c] * nc + c]->mean)) best[c] = (long)r;
    }
  }
  double scale = o->scale > 0 ? o->scale : 1, sc = scale;
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
      for (size_t m = 0; m < nmk; m++)
        for (int k = 0; k < 3; k++) {
          char *h = dml_strfmt("%s %s %s", ds[d], mk[m], part[k]), *e = dml_escape_csv(h);
          fprintf(out, ",%s", e);
          free(h);
          free(e);
        }
    fputc('\n', out);
  } else if (o->format == DML_TABLE_MARKDOWN) {
    fprintf(out, "<!-- %s -->\n\n| Method |", info);
    for (size_t d = 0; d < nd; d++)
      for (size_t m = 0; m < nmk; m++) {
        char *e = dml_escape_markdown(dataset_label(ds[d]));
        char *k = dml_escape_markdown(metric_label(mk[m]));
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
      for (size_t m = 0; m < nmk; m++) fputc('c', out);
    }
    fprintf(out, "}\n\\toprule\n");
    for (size_t d = 0; d < nd; d++) {
      char *e = dml_escape_latex(dataset_label(ds[d]));
      fprintf(out, " & \\multicolumn{%zu}{c}{%s}", nmk, e);
      free(e);
    }
    fprintf(out, " \\\\\n");
    for (size_t d = 0; d < nd; d++)
      fprintf(out, "\\cmidrule(lr){%zu-%zu}", 2 + d * nmk, 1 + (d + 1) * nmk);
    fprintf(out, "\nMethod");
    for (size_t d = 0; d < nd; d++)
      for (size_t m = 0; m < nmk; m++) {
        char *e = dml_escape_latex(metric_label(mk[m]));
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
      double sc = mk[c % nmk] == max_epoch_key ? 1 : scale; /* epochs are not scaled */
      if (o->format == DML_TABLE_CSV) {
        if (m) fprintf(out, ",%.*f,%.*f,%zu", dec + 2, m->mean * sc, dec + 2, m->std * sc, used(m));
        else fprintf(out, ",,,0");
        continue;
      }
      int is_best = best[c] == (long)r;
      int ns = 0;
      if (o->significance && m && !is_best && best[c] >= 0) {
        double bm, bs, mm, ms;
        size_t bn, mn;
        sample_stats(cell[best[c] * nc + c], &bm, &bs, &bn);
        sample_stats(m, &mm, &ms, &mn);
        double p = dml_welch_p(bm, bs, bn, mm, ms, mn);
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
  for (size_t i = 0; o->max_epoch && i < a->n_groups; i++) free(ep[i].values);
  free(ep);
  free(mk);
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- name map

dml_status dml_name_map_load(const char *path, char ***pairs, size_t *n) {
  *pairs = NULL;
  *n = 0;
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) return dml_error(DML_ERR_FORMAT, "%s: not JSON (%s, line %d)", path, je.text, je.line);
  if (!json_is_object(root)) {
    json_decref(root);
    return dml_error(DML_ERR_FORMAT, "%s: expected an object {\"substring\": \"display name\", ...}", path);
  }
  *pairs = xcalloc(2 * json_object_size(root) + 1, sizeof **pairs);
  const char *k;
  json_t *v;
  json_object_foreach(root, k, v) {
    if (!json_is_string(v)) {
      dml_name_map_free(*pairs, *n);
      *pairs = NULL;
      *n = 0;
      json_decref(root);
      return dml_error(DML_ERR_FORMAT, "%s: the value of \"%s\" is not a string", path, k);
    }
    (*pairs)[2 * *n] = xstrdup(k);
    (*pairs)[2 * *n + 1] = xstrdup(json_string_value(v));
    (*n)++;
  }
  json_decref(root);
  return DML_OK;
}

void dml_name_map_free(char **pairs, size_t n) {
  for (size_t i = 0; i < 2 * n; i++) free(pairs[i]);
  free(pairs);
}
