/* report — dml-report's work: aggregate runs, write the tables and figures, fill the latex/ template and build
 * the PDF with pdflatex (reports.h). Layout of the output folder:
 *   aggregate.json, aggregate.csv        the aggregate (docs/aggregate-format.md)
 *   tables/main.tex, tables/main.md      the shared table (booktabs fragment; Markdown)
 *   figures/<name>.{png,pdf,gp,dat}      curves, relation, correlation, spectrum (each when the runs allow it)
 *   figures/<name>-latex.{tex,pdf}       cairolatex versions
 *   generated.tex, report.tex            the sections, and the template that \inputs them
 *   report.pdf, pdflatex.log             the document and the log of its build
 * A figure the runs cannot make (no train-split metrics, fewer than 3 groups, no embeddings) is left out with a
 * line in the document and on stderr; a failed table, template copy or pdflatex run is an error. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reports/reports.h"

static dml_status mkdir_p(const char *path) {
  char *p = xstrdup(path);
  for (char *s = p + 1;; s++) {
    char c = *s;
    if (c == '/' || !c) {
      *s = 0;
      if (mkdir(p, 0777) && errno != EEXIST) {
        dml_status st = dml_error(DML_ERR_IO, "cannot create folder %s: %s", p, strerror(errno));
        free(p);
        return st;
      }
      *s = c;
    }
    if (!c) break;
  }
  free(p);
  return DML_OK;
}

static dml_status copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  if (!in) return dml_error(DML_ERR_IO, "cannot read the LaTeX template %s: %s", from, strerror(errno));
  FILE *out = fopen(to, "wb");
  if (!out) {
    fclose(in);
    return dml_error(DML_ERR_IO, "cannot write %s: %s", to, strerror(errno));
  }
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
  fclose(in);
  return fclose(out) ? dml_error(DML_ERR_IO, "cannot write %s", to) : DML_OK;
}

/* pdflatex in dir, no shell, no shell-escape, output to pdflatex.log there. */
static dml_status run_pdflatex(const char *dir) {
  char *log = dml_strfmt("%s/pdflatex.log", dir);
  pid_t pid = fork();
  if (pid < 0) {
    free(log);
    return dml_error(DML_ERR_IO, "cannot start pdflatex: %s", strerror(errno));
  }
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int nul = open("/dev/null", O_RDONLY);
    if (fd < 0 || nul < 0 || chdir(dir)) _exit(126);
    dup2(nul, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    char *argv[] = {"pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "report.tex", NULL};
    execvp("pdflatex", argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  dml_status st = DML_OK;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    st = dml_error(DML_ERR_IO, "pdflatex not found (install texlive: scripts/install-deps --reports), or use --no-pdf");
  else if (!WIFEXITED(status) || WEXITSTATUS(status))
    st = dml_error(DML_ERR_IO, "pdflatex failed on %s/report.tex: see %s", dir, log);
  free(log);
  return st;
}

static int has_metric(const struct dml_runset *rs, const char *split, const char *key) {
  for (size_t i = 0; i < rs->n; i++)
    if (dml_run_series(&rs->runs[i], split, key)) return 1;
  return 0;
}

/* One figure: run it, then add it to generated.tex (or say why it is missing). */
static void add_figure(FILE *tex, const char *dir, const char *name, dml_status st, const char *caption, int cairolatex) {
  if (st) {
    char *e = dml_escape_latex(dml_error_message());
    fprintf(stderr, "dml-report: figure %s left out: %s\n", name, dml_error_message());
    fprintf(tex, "\\emph{Figure %s left out:} %s\n\n", name, e);
    free(e);
    return;
  }
  (void)dir;
  fprintf(tex, "\\begin{figure}[ht]\n\\centering\n");
  if (cairolatex) fprintf(tex, "\\resizebox{0.9\\linewidth}{!}{\\input{figures/%s-latex.tex}}\n", name);
  else fprintf(tex, "\\includegraphics[width=0.9\\linewidth]{%s.pdf}\n", name);
  fprintf(tex, "\\caption{%s}\n\\end{figure}\n\n", caption);
}

dml_status dml_report_write(const struct dml_runset *rs, const struct dml_report_opts *o) {
  dml_status st;
  char *tables = dml_strfmt("%s/tables", o->out_dir), *figs = dml_strfmt("%s/figures", o->out_dir);
  if ((st = mkdir_p(tables)) || (st = mkdir_p(figs))) {
    free(tables);
    free(figs);
    return st;
  }
  struct dml_aggregate agg;
  if ((st = dml_aggregate_compute(rs, &o->rule, &agg))) {
    free(tables);
    free(figs);
    return st;
  }
  char *p = NULL, *gen = NULL;
  FILE *tex = NULL;
  /* the aggregate */
  p = dml_strfmt("%s/aggregate.json", o->out_dir);
  if ((st = dml_aggregate_write_json(&agg, p))) goto done;
  free(p);
  p = dml_strfmt("%s/aggregate.csv", o->out_dir);
  if ((st = dml_aggregate_write_csv(&agg, p))) goto done;
  /* tables */
  struct dml_table_opts t = {.format = DML_TABLE_LATEX, .metrics = o->metrics, .n_metrics = o->n_metrics,
                             .scale = o->scale, .decimals = o->decimals, .significance = 1, .alpha = 0.05,
                             .raw_names = o->raw_names};
  for (int k = 0; k < 2; k++) {
    free(p);
    p = dml_strfmt("%s/main.%s", tables, k ? "md" : "tex");
    FILE *f = fopen(p, "w");
    if (!f) {
      st = dml_error(DML_ERR_IO, "cannot write %s: %s", p, strerror(errno));
      goto done;
    }
    t.format = k ? DML_TABLE_MARKDOWN : DML_TABLE_LATEX;
    st = dml_table_write(&agg, &t, f);
    if (fclose(f) && !st) st = dml_error(DML_ERR_IO, "cannot write %s", p);
    if (st) goto done;
  }
  /* generated.tex */
  gen = dml_strfmt("%s/generated.tex", o->out_dir);
  if (!(tex = fopen(gen, "w"))) {
    st = dml_error(DML_ERR_IO, "cannot write %s: %s", gen, strerror(errno));
    goto done;
  }
  char *erule = dml_escape_latex(agg.rule), *esplit = dml_escape_latex(agg.split);
  size_t nd = 0; /* datasets */
  for (size_t i = 0; i < agg.n_groups; i++) {
    int seen = 0;
    for (size_t k = 0; k < i && !seen; k++) seen = !strcmp(agg.groups[k].dataset, agg.groups[i].dataset);
    nd += !seen;
  }
  fprintf(tex, "%% written by dml-report; the template report.tex \\inputs this file\n");
  fprintf(tex, "\\section*{Runs}\n%zu run records (%zu files skipped) in %zu groups over %zu datasets. "
               "Per run, each metric of the \\texttt{%s} split is taken by the rule \\texttt{%s}%s; groups report the "
               "mean and the %s standard deviation over seeds.\n\n",
          rs->n, rs->skipped, agg.n_groups, nd, esplit, erule,
          !strcmp(agg.rule, "max") ? " (each metric's maximum over epochs, as the reference's Result\\_Evaluations.py)" : "",
          agg.population_std ? "population ($n$)" : "sample ($n-1$)");
  size_t nw = 0;
  for (size_t i = 0; i < agg.n_groups; i++) nw += agg.groups[i].n_warnings;
  if (nw) {
    fprintf(tex, "Warnings:\n\\begin{itemize}\n");
    size_t shown = 0;
    for (size_t i = 0; i < agg.n_groups && shown < 40; i++)
      for (size_t k = 0; k < agg.groups[i].n_warnings && shown < 40; k++, shown++) {
        char *g = dml_escape_latex(agg.groups[i].name), *w = dml_escape_latex(agg.groups[i].warnings[k]);
        fprintf(tex, "\\item \\texttt{%s}: ", g);
        for (const char *c = w; *c; c++) /* paths may break after a slash */
          fputs(*c == '/' ? "/\\allowbreak{}" : (char[2]){*c, 0}, tex);
        fputc('\n', tex);
        free(g);
        free(w);
      }
    if (nw > shown) fprintf(tex, "\\item \\dots{} and %zu more (see aggregate.json)\n", nw - shown);
    fprintf(tex, "\\end{itemize}\n\n");
  }
  fprintf(tex, "\\section*{Results}\n\\begin{table}[ht]\n\\centering\n");
  /* shrink the table to the line width only when it is wider */
  fprintf(tex, "\\newsavebox{\\dmltable}\\sbox{\\dmltable}{\\input{tables/main.tex}}%%\n"
               "\\ifdim\\wd\\dmltable>\\linewidth\\resizebox{\\linewidth}{!}{\\usebox{\\dmltable}}"
               "\\else\\usebox{\\dmltable}\\fi\n");
  fprintf(tex, "\\caption{Mean $\\pm$ std over seeds (%s), values $\\times%g$; rule \\texttt{%s} on the \\texttt{%s} "
               "split. Bold: best mean per column; underlined: not significantly worse than the best (Welch's "
               "$t$-test, $\\alpha = 0.05$).}\n\\end{table}\n\n",
          agg.population_std ? "population" : "sample", o->scale > 0 ? o->scale : 1, erule, esplit);
  fprintf(tex, "\\clearpage\n\\section*{Figures}\n");
  /* figures */
  const char *metric = o->n_metrics ? o->metrics[0] : "e_recall@1";
  char *em = dml_escape_latex(metric), *cap;
  free(p);
  p = dml_strfmt("%s/curves.png", figs);
  st = dml_plot_curves(rs, metric, agg.split, p, o->raw_names);
  cap = dml_strfmt("\\texttt{%s} on the \\texttt{%s} split against epoch: mean and $\\pm$ sample std band over seeds, "
                   "every epoch (no selection rule). Typeset with gnuplot's cairolatex terminal.", em, esplit);
  add_figure(tex, figs, "curves", st, cap, 1);
  free(cap);
  /* relation: the reference's train-split embedding metrics that the runs have */
  static const char *const xcand[] = {"dists@intra", "dists@inter", "dists@intra_over_inter", "rho_spectrum@2"};
  const char *xs[4];
  size_t nx = 0;
  for (int i = 0; i < 4; i++)
    if (has_metric(rs, "train", xcand[i])) xs[nx++] = xcand[i];
  free(p);
  p = dml_strfmt("%s/relation.png", figs);
  struct dml_relation_opts ro = {.x_metrics = xs, .n_x = nx, .x_split = "train", .y_metric = metric,
                                 .y_split = agg.split, .rule = o->rule, .raw_names = o->raw_names};
  st = nx ? dml_plot_relation(rs, &ro, p) : dml_error(DML_ERR_ARG, "the runs have no train-split embedding metrics "
                                                                      "(dists@..., rho_spectrum@2)");
  cap = dml_strfmt("Test \\texttt{%s} (rule \\texttt{%s}) against train-split embedding metrics read at the same "
                   "epoch, one point per group (mean $\\pm$ std over seeds), least-squares line and Pearson $r$.", em, erule);
  add_figure(tex, figs, "relation", st, cap, 0);
  free(cap);
  free(p);
  p = dml_strfmt("%s/correlation.png", figs);
  st = dml_plot_correlation(&agg, o->metrics, o->n_metrics, p);
  cap = dml_strfmt("Pearson and Spearman correlation across groups of the per-group means (rule \\texttt{%s}).", erule);
  add_figure(tex, figs, "correlation", st, cap, 0);
  free(cap);
  free(p);
  p = dml_strfmt("%s/spectrum.png", figs);
  st = dml_plot_spectrum(rs, agg.split, 0, p);
  cap = dml_strfmt("Normalised singular values of each run's latest \\texttt{%s} embeddings; $\\rho$ is "
                   "\\texttt{rho\\_spectrum@2} of these values.", esplit);
  add_figure(tex, figs, "spectrum", st, cap, 0);
  free(cap);
  free(em);
  free(erule);
  free(esplit);
  st = DML_OK;
  if (fclose(tex)) st = dml_error(DML_ERR_IO, "cannot write %s", gen);
  tex = NULL;
  if (st) goto done;
  free(p);
  p = dml_strfmt("%s/report.tex", o->out_dir);
  if ((st = copy_file(o->template_path, p))) goto done;
  if (o->pdf) st = run_pdflatex(o->out_dir);
done:
  if (tex) fclose(tex);
  free(p);
  free(gen);
  free(tables);
  free(figs);
  dml_aggregate_free(&agg);
  return st;
}
