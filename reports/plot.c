/* plot — gnuplot figures. Each figure is a .gp script plus its .dat file beside the output, rendered to PNG
 * (pngcairo) and PDF (pdfcairo) by running gnuplot without a shell. Every user string is written into the script
 * only inside single quotes through dml_escape_gnuplot, with `noenhanced` text, so a group called
 * `x' ; system("touch y") ; '` is a label, not a command. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reports/reports.h"

dml_status dml_gnuplot_run(const char *script) {
  pid_t pid = fork();
  if (pid < 0) return dml_error(DML_ERR_IO, "cannot start gnuplot: %s", strerror(errno));
  if (pid == 0) {
    execlp("gnuplot", "gnuplot", script, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return dml_error(DML_ERR_IO, "gnuplot not found (install gnuplot-nox: scripts/install-deps)");
  if (!WIFEXITED(status) || WEXITSTATUS(status))
    return dml_error(DML_ERR_IO, "gnuplot failed on %s (exit %d)", script, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return DML_OK;
}

/* "<dir>/<stem>" of an output path ending in .png (or not). */
static char *base_of(const char *out) {
  char *b = xstrdup(out);
  size_t n = strlen(b);
  if (n > 4 && !strcmp(b + n - 4, ".png")) b[n - 4] = 0;
  return b;
}

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* Write the terminal preamble + plot commands for both PNG and PDF. body() writes the plot commands once. */
static dml_status render(const char *base, const char *setup, const char *plot_cmd) {
  char *gp = dml_strfmt("%s.gp", base);
  FILE *f = fopen(gp, "w");
  if (!f) {
    dml_status st = dml_error(DML_ERR_IO, "cannot write %s: %s", gp, strerror(errno));
    free(gp);
    return st;
  }
  char *eb = dml_escape_gnuplot(base);
  fprintf(f, "# written by dml-plot; edit and rerun with: gnuplot %s\n", strrchr(gp, '/') ? strrchr(gp, '/') + 1 : gp);
  fprintf(f, "set terminal pngcairo size 1000,650 font 'Sans,11' noenhanced\nset output '%s.png'\n", eb);
  fputs(setup, f);
  fputs(plot_cmd, f);
  fprintf(f, "set terminal pdfcairo size 6in,3.9in font 'Sans,9' noenhanced\nset output '%s.pdf'\nreplot\nset output\n", eb);
  free(eb);
  fclose(f);
  dml_status st = dml_gnuplot_run(gp);
  free(gp);
  return st;
}

struct curve { double *epoch, *mean, *std; size_t n; };

/* mean ± std per epoch over the runs of one group (epochs aligned by value) */
static struct curve group_curve(const struct dml_runset *rs, const size_t *idx, size_t nidx, const char *metric,
                                const char *split) {
  struct curve c = {0};
  size_t cap = 0;
  for (size_t k = 0; k < nidx; k++) {
    const struct dml_series *s = dml_run_series(&rs->runs[idx[k]], split, metric);
    for (size_t i = 0; s && i < s->n; i++) {
      int seen = 0;
      for (size_t j = 0; j < c.n && !seen; j++) seen = c.epoch[j] == s->epoch[i];
      if (seen) continue;
      if (c.n == cap) {
        cap = cap ? 2 * cap : 64;
        c.epoch = xrealloc(c.epoch, cap * sizeof *c.epoch);
      }
      c.epoch[c.n++] = s->epoch[i];
    }
  }
  for (size_t i = 1; i < c.n; i++) /* insertion sort: short */
    for (size_t j = i; j > 0 && c.epoch[j - 1] > c.epoch[j]; j--) {
      double t = c.epoch[j];
      c.epoch[j] = c.epoch[j - 1];
      c.epoch[j - 1] = t;
    }
  c.mean = xcalloc(c.n + 1, sizeof *c.mean);
  c.std = xcalloc(c.n + 1, sizeof *c.std);
  double *v = xcalloc(nidx + 1, sizeof *v);
  for (size_t e = 0; e < c.n; e++) {
    size_t m = 0;
    for (size_t k = 0; k < nidx; k++) {
      const struct dml_series *s = dml_run_series(&rs->runs[idx[k]], split, metric);
      for (size_t i = 0; s && i < s->n; i++)
        if (s->epoch[i] == c.epoch[e]) v[m++] = s->value[i];
    }
    double lo, hi;
    dml_stats(v, m, 0, &c.mean[e], &c.std[e], &lo, &hi);
    if (isnan(c.std[e])) c.std[e] = 0;
  }
  free(v);
  return c;
}

dml_status dml_plot_curves(const struct dml_runset *rs, const char *metric, const char *split, const char *out_png,
                           int raw_names) {
  /* groups as dml-aggregate forms them */
  struct dml_agg_opts ao = {.rule = DML_RULE_LAST, .split = split};
  struct dml_aggregate agg;
  dml_status st = dml_aggregate_compute(rs, &ao, &agg);
  if (st) return st;
  char *base = base_of(out_png);
  char *dat = dml_strfmt("%s.dat", base);
  FILE *f = fopen(dat, "w");
  if (!f) {
    st = dml_error(DML_ERR_IO, "cannot write %s: %s", dat, strerror(errno));
    goto done;
  }
  size_t plotted = 0;
  char *cmd = xstrdup("plot ");
  char *edat = dml_escape_gnuplot(dat);
  for (size_t g = 0; g < agg.n_groups; g++) {
    size_t *idx = xcalloc(agg.groups[g].n_runs + 1, sizeof *idx);
    size_t ni = 0;
    for (size_t k = 0; k < agg.groups[g].n_runs; k++)
      for (size_t r = 0; r < rs->n; r++)
        if (!strcmp(rs->runs[r].path, agg.groups[g].paths[k])) idx[ni++] = r;
    struct curve c = group_curve(rs, idx, ni, metric, split);
    free(idx);
    if (!c.n) { free(c.epoch); free(c.mean); free(c.std); continue; }
    char *label = raw_names ? xstrdup(agg.groups[g].name) : dml_display_name(agg.groups[g].name);
    fprintf(f, "# group %zu (n = %zu seeds): epoch mean std\n", plotted, ni);
    for (size_t e = 0; e < c.n; e++) fprintf(f, "%g %.10g %.10g\n", c.epoch[e], c.mean[e], c.std[e]);
    fprintf(f, "\n\n");
    char *el = dml_escape_gnuplot(label);
    char *eds = dml_escape_gnuplot(agg.groups[g].dataset);
    const char *col = palette[plotted % 10];
    char *part = dml_strfmt("%s'%s' index %zu using 1:($2-$3):($2+$3) with filledcurves fc rgb '%s' fs transparent solid 0.18 "
                            "notitle, '' index %zu using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '%s' title '%s (%s, n=%zu)'",
                            plotted ? ", \\\n     " : "", edat, plotted, col, plotted, col, el, eds, ni);
    char *nc = dml_strfmt("%s%s", cmd, part);
    free(cmd);
    cmd = nc;
    free(part); free(el); free(eds); free(label);
    free(c.epoch); free(c.mean); free(c.std);
    plotted++;
  }
  fclose(f);
  if (!plotted) {
    st = dml_error(DML_ERR_ARG, "no run has the metric '%s' on split '%s'", metric, split);
    free(cmd);
    free(edat);
    goto done;
  }
  char *em = dml_escape_gnuplot(metric), *es = dml_escape_gnuplot(split);
  char *setup = dml_strfmt("set xlabel 'epoch'\nset ylabel '%s (%s split)'\nset title '%s on the %s split, mean ± std over "
                           "seeds (epoch -1: before training)'\nset key bottom right\nset grid\n",
                           em, es, em, es);
  char *full = dml_strfmt("%s\n", cmd);
  st = render(base, setup, full);
  free(em); free(es); free(setup); free(full); free(cmd); free(edat);
done:
  free(dat);
  free(base);
  dml_aggregate_free(&agg);
  return st;
}
