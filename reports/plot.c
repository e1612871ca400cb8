/* plot — gnuplot figures: curves, relation, correlation, spectrum (reports.h). The spectrum figure computes the
 * singular values and ρ with dml-eval's code (eval/spectrum.h, libdml_spectrum): the same top d − 1 values and
 * the same rho_spectrum@2, so a run's ρ in the figure is its ρ in the table.
 *
 * Each figure is one script <stem>.gp plus its data <stem>.dat beside the output PNG; the script renders
 * <stem>.png (pngcairo), <stem>.pdf (pdfcairo) and <stem>-latex.tex + <stem>-latex.pdf (cairolatex, labels as
 * LaTeX source). gnuplot runs by fork + execvp (no shell) inside the figure's folder, and the script names its
 * files without folders, so a user can edit and rerun it there: `gnuplot <stem>.gp`.
 *
 * Injection: every user string (group names, metric keys, splits, run names, file names) is written into the
 * script only inside single quotes through dml_escape_gnuplot (after dml_escape_latex for the cairolatex
 * pass), with `noenhanced` text. User strings never reach the data file or a comment line. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eval/spectrum.h"
#include "reports/reports.h"

dml_status dml_gnuplot_run(const char *script, const char *dir) {
  pid_t pid = fork();
  if (pid < 0) return dml_error(DML_ERR_IO, "cannot start gnuplot: %s", strerror(errno));
  if (pid == 0) {
    if (dir && *dir && chdir(dir)) _exit(126);
    char *argv[] = {"gnuplot", (char *)script, NULL};
    execvp("gnuplot", argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return dml_error(DML_ERR_IO, "gnuplot not found (install gnuplot-nox: scripts/install-deps)");
  if (!WIFEXITED(status) || WEXITSTATUS(status))
    return dml_error(DML_ERR_IO, "gnuplot failed on %s (exit %d)", script, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- figure files

struct fig {
  char *dir;    /* folder of the output ("." when none) */
  char *stem;   /* file name without .png */
  char *path;   /* dir/stem */
  FILE *dat;
  int latex;    /* the pass being written: 0 PNG/PDF, 1 cairolatex */
};

static dml_status fig_open(struct fig *g, const char *out_png) {
  memset(g, 0, sizeof *g);
  char *b = xstrdup(out_png);
  size_t n = strlen(b);
  if (n > 4 && !strcmp(b + n - 4, ".png")) b[n - 4] = 0;
  char *slash = strrchr(b, '/');
  if (slash) {
    *slash = 0;
    g->dir = xstrdup(*b ? b : "/");
    g->stem = xstrdup(slash + 1);
  } else {
    g->dir = xstrdup(".");
    g->stem = xstrdup(b);
  }
  free(b);
  if (!*g->stem) return dml_error(DML_ERR_ARG, "output '%s' names no file", out_png);
  g->path = dml_strfmt("%s/%s", g->dir, g->stem);
  char *dat = dml_strfmt("%s.dat", g->path);
  g->dat = fopen(dat, "w");
  dml_status st = g->dat ? DML_OK : dml_error(DML_ERR_IO, "cannot write %s: %s", dat, strerror(errno));
  free(dat);
  if (g->dat) fprintf(g->dat, "# data of %s.gp (blocks separated by two blank lines; select with `index`)\n", g->stem);
  return st;
}

static void fig_free(struct fig *g) {
  if (g->dat) fclose(g->dat);
  free(g->dir);
  free(g->stem);
  free(g->path);
  memset(g, 0, sizeof *g);
}

/* A user string as the inside of a single-quoted gnuplot string, for the current pass. */
static char *gq(const struct fig *g, const char *s) {
  if (!g->latex) return dml_escape_gnuplot(s);
  char *l = dml_escape_latex(s), *q = dml_escape_gnuplot(l);
  free(l);
  return q;
}

/* Fixed text that differs between passes (e.g. "±" and "$\pm$"); no user strings here. */
static const char *pm(const struct fig *g) { return g->latex ? "$\\pm$" : "±"; }

typedef void (*emit_fn)(FILE *f, struct fig *g, const void *ctx);

/* Write <stem>.gp with the three passes and run gnuplot. w, h: inches. */
static dml_status fig_render(struct fig *g, double w, double h, emit_fn emit, const void *ctx) {
  fclose(g->dat);
  g->dat = NULL;
  char *gp = dml_strfmt("%s.gp", g->path);
  FILE *f = fopen(gp, "w");
  if (!f) {
    dml_status st = dml_error(DML_ERR_IO, "cannot write %s: %s", gp, strerror(errno));
    free(gp);
    return st;
  }
  char *es = dml_escape_gnuplot(g->stem);
  fprintf(f, "# written by dml-plot; rerun in this folder with: gnuplot <this file>\n"
             "# data: the .dat file of the same name; outputs: .png, .pdf, -latex.tex + -latex.pdf (cairolatex)\n");
  fprintf(f, "set terminal pngcairo size %d,%d font 'Sans,10' noenhanced\nset output '%s.png'\n", (int)(w * 100),
          (int)(h * 100), es);
  g->latex = 0;
  emit(f, g, ctx);
  fprintf(f, "\nset terminal pdfcairo size %gin,%gin font 'Sans,7' noenhanced\nset output '%s.pdf'\n", w, h, es);
  emit(f, g, ctx);
  fprintf(f, "\nset terminal cairolatex pdf size %gin,%gin\nset output '%s-latex.tex'\n", w, h, es);
  g->latex = 1;
  emit(f, g, ctx);
  fprintf(f, "set output\n");
  free(es);
  dml_status st = fclose(f) ? dml_error(DML_ERR_IO, "cannot write %s", gp) : DML_OK;
  if (!st) {
    char *name = dml_strfmt("%s.gp", g->stem);
    st = dml_gnuplot_run(name, g->dir);
    free(name);
  }
  free(gp);
  return st;
}

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static char *label_of(const char *group, int raw) { return raw ? xstrdup(group) : dml_display_name(group); }

static const char *rule_text(const char *rule) {
  if (!strcmp(rule, "max")) return "max over epochs per metric";
  if (!strcmp(rule, "last")) return "last epoch";
  return rule;
}

// ---------------------------------------------------------------------------------------------- curves

struct curves_ctx {
  const struct dml_aggregate *agg;
  const size_t *plotted_group; /* group index per plotted block */
  const size_t *n_seeds;
  size_t n;
  const char *metric, *split;
  int raw;
};

static void emit_curves(FILE *f, struct fig *g, const void *vctx) {
  const struct curves_ctx *c = vctx;
  char *em = gq(g, c->metric), *es = gq(g, c->split), *ed = dml_escape_gnuplot(g->stem);
  fprintf(f, "reset\nset xlabel 'epoch'\nset ylabel '%s (%s split)'\n", em, es);
  fprintf(f, "set title '%s on the %s split: mean %s std over seeds, all epochs'\n", em, es, pm(g));
  fprintf(f, "set key below left Left reverse\nset grid\n");
  fprintf(f, "plot ");
  for (size_t i = 0; i < c->n; i++) {
    const struct dml_agg_group *grp = &c->agg->groups[c->plotted_group[i]];
    char *lab = label_of(grp->name, c->raw), *el = gq(g, lab), *eds = gq(g, grp->dataset);
    const char *col = palette[i % 10];
    fprintf(f, "%s'%s.dat' index %zu using 1:($2-$3):($2+$3) with filledcurves fc rgb '%s' fs transparent solid 0.18 "
               "notitle, \\\n     '' index %zu using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb '%s' title '%s (%s, n=%zu)'",
            i ? ", \\\n     " : "", ed, i, col, i, col, el, eds, c->n_seeds[i]);
    free(lab);
    free(el);
    free(eds);
  }
  fprintf(f, "\n");
  free(em);
  free(es);
  free(ed);
}

/* mean ± std per epoch over the runs of one group (epochs aligned by value, NaN skipped). */
static size_t write_curve(FILE *dat, const struct dml_runset *rs, const struct dml_agg_group *grp, const char *metric,
                          const char *split, size_t block) {
  double *ep = NULL;
  size_t ne = 0, cap = 0;
  const struct dml_run **runs = xcalloc(grp->n_runs + 1, sizeof *runs);
  for (size_t k = 0; k < grp->n_runs; k++)
    for (size_t r = 0; r < rs->n && !runs[k]; r++)
      if (!strcmp(rs->runs[r].path, grp->paths[k])) runs[k] = &rs->runs[r];
  for (size_t k = 0; k < grp->n_runs; k++) {
    const struct dml_series *s = runs[k] ? dml_run_series(runs[k], split, metric) : NULL;
    for (size_t i = 0; s && i < s->n; i++) {
      int seen = 0;
      for (size_t j = 0; j < ne && !seen; j++) seen = ep[j] == s->epoch[i];
      if (seen) continue;
      if (ne == cap) ep = xrealloc(ep, (cap = cap ? 2 * cap : 64) * sizeof *ep);
      ep[ne++] = s->epoch[i];
    }
  }
  for (size_t i = 1; i < ne; i++)
    for (size_t j = i; j > 0 && ep[j - 1] > ep[j]; j--) {
      double t = ep[j];
      ep[j] = ep[j - 1];
      ep[j - 1] = t;
    }
  double *v = xcalloc(grp->n_runs + 1, sizeof *v);
  size_t rows = 0;
  for (size_t e = 0; e < ne; e++) {
    size_t m = 0;
    for (size_t k = 0; k < grp->n_runs; k++) {
      const struct dml_series *s = runs[k] ? dml_run_series(runs[k], split, metric) : NULL;
      for (size_t i = 0; s && i < s->n; i++)
        if (s->epoch[i] == ep[e] && !isnan(s->value[i])) v[m++] = s->value[i];
    }
    double mean, sd, lo, hi;
    if (!dml_stats(v, m, 0, &mean, &sd, &lo, &hi)) continue;
    if (!rows) fprintf(dat, "# block %zu: epoch mean std n\n", block);
    fprintf(dat, "%g %.10g %.10g %zu\n", ep[e], mean, isnan(sd) ? 0.0 : sd, m);
    rows++;
  }
  if (rows) fprintf(dat, "\n\n");
  free(v);
  free(ep);
  free(runs);
  return rows;
}

dml_status dml_plot_curves(const struct dml_runset *rs, const char *metric, const char *split, const char *out_png,
                           int raw_names) {
  struct dml_agg_opts ao = {.rule = DML_RULE_LAST, .split = split};
  struct dml_aggregate agg;
  dml_status st = dml_aggregate_compute(rs, &ao, &agg);
  if (st) return st;
  struct fig g;
  size_t *pg = xcalloc(agg.n_groups + 1, sizeof *pg), *ns = xcalloc(agg.n_groups + 1, sizeof *ns), n = 0;
  if (!(st = fig_open(&g, out_png))) {
    for (size_t i = 0; i < agg.n_groups; i++)
      if (write_curve(g.dat, rs, &agg.groups[i], metric, split, n)) {
        pg[n] = i;
        ns[n++] = agg.groups[i].n_runs;
      }
    struct curves_ctx c = {&agg, pg, ns, n, metric, split, raw_names};
    st = n ? fig_render(&g, 8, 6, emit_curves, &c)
           : dml_error(DML_ERR_ARG, "no run has the metric '%s' on split '%s'", metric, split);
  }
  fig_free(&g);
  free(pg);
  free(ns);
  dml_aggregate_free(&agg);
  return st;
}

// ---------------------------------------------------------------------------------------------- statistics

double dml_pearson(const double *x, const double *y, size_t n) {
  if (n < 2) return NAN;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

/* Ranks 1..n with ties given their average rank (as scipy.stats.rankdata). */
static void ranks(const double *v, size_t n, double *r) {
  for (size_t i = 0; i < n; i++) {
    size_t less = 0, eq = 0;
    for (size_t j = 0; j < n; j++) less += v[j] < v[i], eq += v[j] == v[i];
    r[i] = less + (eq + 1) / 2.0;
  }
}

double dml_spearman(const double *x, const double *y, size_t n) {
  double *rx = xcalloc(n + 1, sizeof *rx), *ry = xcalloc(n + 1, sizeof *ry);
  ranks(x, n, rx);
  ranks(y, n, ry);
  double r = dml_pearson(rx, ry, n);
  free(rx);
  free(ry);
  return r;
}

// ---------------------------------------------------------------------------------------------- relation

struct rel_panel { char *dataset; const char *xmetric; size_t n; double r, a, b; char **names; double *x, *y; };

struct rel_ctx {
  struct rel_panel *p;
  size_t nd, nx;
  const char *ymetric, *ysplit, *xsplit, *rule;
};

/* one dataset with more than two x metrics: a grid two panels wide (a 1 × 4 row is unreadable on a page); else one
 * row per dataset, one column per x metric */
static void rel_layout(size_t nd, size_t nx, size_t *rows, size_t *cols) {
  if (nd == 1 && nx > 2) {
    *cols = 2;
    *rows = (nx + 1) / 2;
  } else {
    *rows = nd;
    *cols = nx;
  }
}

static void emit_relation(FILE *f, struct fig *g, const void *vctx) {
  const struct rel_ctx *c = vctx;
  char *ey = gq(g, c->ymetric), *eys = gq(g, c->ysplit), *exs = gq(g, c->xsplit), *ed = dml_escape_gnuplot(g->stem);
  char *er = gq(g, rule_text(c->rule));
  size_t rows, cols;
  rel_layout(c->nd, c->nx, &rows, &cols);
  fprintf(f, "reset\nset multiplot layout %zu,%zu title 'y: %s (%s, %s); x: %s split at that epoch; mean %s std "
             "over seeds' font ',9'\n", rows, cols, ey, eys, er, exs, pm(g));
  for (size_t i = 0; i < c->nd * c->nx; i++) {
    const struct rel_panel *p = &c->p[i];
    char *eds = gq(g, p->dataset), *ex = gq(g, p->xmetric);
    fprintf(f, "unset label\nset grid\nunset key\nset offsets graph 0.08, graph 0.08, graph 0.08, graph 0.08\n");
    if (isnan(p->r)) fprintf(f, "set title '%s: Pearson r undefined (n=%zu)'\n", eds, p->n);
    else fprintf(f, "set title '%s: Pearson r = %.2f (n=%zu)'\n", eds, p->r, p->n);
    fprintf(f, "set xlabel '%s (%s)'\nset ylabel '%s (%s)'\n", ex, exs, ey, eys);
    for (size_t k = 0; k < p->n; k++) {
      char *el = gq(g, p->names[k]);
      fprintf(f, "set label %zu '%s' at %.10g,%.10g offset 0.6,0.6 font ',7'\n", k + 1, el, p->x[k], p->y[k]);
      free(el);
    }
    fprintf(f, "plot '%s.dat' index %zu using 1:3:2:4 with xyerrorbars pt 7 ps 1 lc rgb '#1f77b4' notitle", ed, 2 * i);
    if (!isnan(p->a)) fprintf(f, ", \\\n     '' index %zu using 1:2 with lines dt 2 lw 2 lc rgb '#d62728' notitle", 2 * i + 1);
    fprintf(f, "\n");
    free(eds);
    free(ex);
  }
  fprintf(f, "unset multiplot\n");
  free(ey);
  free(eys);
  free(exs);
  free(ed);
  free(er);
}

static const struct dml_agg_metric *metric_of(const struct dml_agg_group *g, const char *key) {
  for (size_t i = 0; g && i < g->n_metrics; i++)
    if (!strcmp(g->metrics[i].key, key)) return &g->metrics[i];
  return NULL;
}

dml_status dml_plot_relation(const struct dml_runset *rs, const struct dml_relation_opts *o, const char *out_png) {
  if (!o->n_x) return dml_error(DML_ERR_ARG, "relation: no x metric given (--x)");
  struct dml_agg_opts ya = o->rule, xa = o->rule;
  ya.split = o->y_split;
  xa.split = o->x_split;
  if (o->rule.rule == DML_RULE_MAX) { /* the reference: x read at the epoch where y is best on the y split */
    xa.rule = DML_RULE_BEST;
    xa.best_metric = o->y_metric;
    xa.select_split = o->y_split;
  }
  struct dml_aggregate ay, ax;
  dml_status st = dml_aggregate_compute(rs, &ya, &ay);
  if (st) return st;
  if ((st = dml_aggregate_compute(rs, &xa, &ax))) {
    dml_aggregate_free(&ay);
    return st;
  }
  /* datasets in order of appearance */
  const char **ds = xcalloc(ay.n_groups + 1, sizeof *ds);
  size_t nd = 0;
  for (size_t i = 0; i < ay.n_groups; i++) {
    int seen = 0;
    for (size_t k = 0; k < nd && !seen; k++) seen = !strcmp(ds[k], ay.groups[i].dataset);
    if (!seen) ds[nd++] = ay.groups[i].dataset;
  }
  struct rel_panel *pn = xcalloc(nd * o->n_x + 1, sizeof *pn);
  struct fig g;
  size_t points = 0;
  if (!(st = fig_open(&g, out_png))) {
    for (size_t d = 0; d < nd; d++)
      for (size_t q = 0; q < o->n_x; q++) {
        struct rel_panel *p = &pn[d * o->n_x + q];
        p->dataset = xstrdup(ds[d]);
        p->xmetric = o->x_metrics[q];
        p->names = xcalloc(ay.n_groups + 1, sizeof *p->names);
        p->x = xcalloc(ay.n_groups + 1, sizeof *p->x);
        p->y = xcalloc(ay.n_groups + 1, sizeof *p->y);
        fprintf(g.dat, "# block %zu: x x_std y y_std (one row per group)\n", 2 * (d * o->n_x + q));
        for (size_t i = 0; i < ay.n_groups; i++) {
          if (strcmp(ay.groups[i].dataset, ds[d])) continue;
          const struct dml_agg_metric *my = metric_of(&ay.groups[i], o->y_metric), *mx = NULL;
          for (size_t j = 0; j < ax.n_groups && !mx; j++)
            if (!strcmp(ax.groups[j].dataset, ds[d]) && !strcmp(ax.groups[j].name, ay.groups[i].name))
              mx = metric_of(&ax.groups[j], o->x_metrics[q]);
          if (!my || !mx || isnan(my->mean) || isnan(mx->mean)) continue;
          fprintf(g.dat, "%.10g %.10g %.10g %.10g\n", mx->mean, isnan(mx->std) ? 0 : mx->std, my->mean,
                  isnan(my->std) ? 0 : my->std);
          p->names[p->n] = label_of(ay.groups[i].name, o->raw_names);
          p->x[p->n] = mx->mean;
          p->y[p->n++] = my->mean;
        }
        if (!p->n) fprintf(g.dat, "NaN NaN NaN NaN\n");
        points += p->n;
        /* least squares y = a x + b over x in [0.9 min, 1.1 max] (as the reference), and Pearson r */
        p->r = dml_pearson(p->x, p->y, p->n);
        p->a = NAN;
        fprintf(g.dat, "\n\n# block %zu: least-squares line\n", 2 * (d * o->n_x + q) + 1);
        double mx = 0, my = 0, sxx = 0, sxy = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t k = 0; k < p->n; k++) mx += p->x[k] / p->n, my += p->y[k] / p->n;
        for (size_t k = 0; k < p->n; k++) {
          sxx += (p->x[k] - mx) * (p->x[k] - mx);
          sxy += (p->x[k] - mx) * (p->y[k] - my);
          if (p->x[k] < lo) lo = p->x[k];
          if (p->x[k] > hi) hi = p->x[k];
        }
        if (p->n >= 2 && sxx > 0) {
          p->a = sxy / sxx;
          p->b = my - p->a * mx;
          double x0 = lo >= 0 ? 0.9 * lo : 1.1 * lo, x1 = hi >= 0 ? 1.1 * hi : 0.9 * hi;
          fprintf(g.dat, "%.10g %.10g\n%.10g %.10g\n", x0, p->a * x0 + p->b, x1, p->a * x1 + p->b);
        } else fprintf(g.dat, "NaN NaN\n");
        fprintf(g.dat, "\n\n");
      }
    struct rel_ctx c = {pn, nd, o->n_x, o->y_metric, o->y_split, o->x_split, ay.rule};
    size_t rows, cols;
    rel_layout(nd, o->n_x, &rows, &cols);
    st = points ? fig_render(&g, cols > 1 ? 4.5 * cols : 6.5, 3.8 * rows + 0.4, emit_relation, &c)
                : dml_error(DML_ERR_ARG, "relation: no group has both '%s' (%s) and the x metrics (%s)", o->y_metric,
                            o->y_split, o->x_split);
  }
  fig_free(&g);
  for (size_t i = 0; i < nd * o->n_x; i++) {
    for (size_t k = 0; k < pn[i].n; k++) free(pn[i].names[k]);
    free(pn[i].names);
    free(pn[i].x);
    free(pn[i].y);
    free(pn[i].dataset);
  }
  free(pn);
  free(ds);
  dml_aggregate_free(&ay);
  dml_aggregate_free(&ax);
  return st;
}

// ---------------------------------------------------------------------------------------------- correlation

struct corr_ctx {
  const char **datasets;
  size_t nd;
  size_t *n_groups;           /* (nd) */
  const char *const *metrics;
  size_t nm;
  const char *rule, *split;
};

static void emit_correlation(FILE *f, struct fig *g, const void *vctx) {
  const struct corr_ctx *c = vctx;
  char *ed = dml_escape_gnuplot(g->stem), *er = gq(g, rule_text(c->rule)), *es = gq(g, c->split);
  fprintf(f, "reset\nset multiplot layout %zu,2 title 'correlation across groups of the per-group means (%s split, %s)'\n",
          c->nd, es, er);
  fprintf(f, "set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\nset cbrange [-1:1]\nset size ratio -1\n"
             "unset key\nset xrange [-0.5:%zu.5]\nset yrange [%zu.5:-0.5]\nset xtics rotate by 45 right\n",
          c->nm - 1, c->nm - 1);
  fprintf(f, "set xtics (");
  for (size_t m = 0; m < c->nm; m++) {
    char *e = gq(g, c->metrics[m]);
    fprintf(f, "%s'%s' %zu", m ? ", " : "", e, m);
    free(e);
  }
  fprintf(f, ")\nset ytics (");
  for (size_t m = 0; m < c->nm; m++) {
    char *e = gq(g, c->metrics[m]);
    fprintf(f, "%s'%s' %zu", m ? ", " : "", e, m);
    free(e);
  }
  fprintf(f, ")\n");
  static const char *const kind[] = {"Pearson", "Spearman"};
  for (size_t d = 0; d < c->nd; d++)
    for (int k = 0; k < 2; k++) {
      char *eds = gq(g, c->datasets[d]);
      fprintf(f, "set title '%s: %s (n=%zu groups)'\n", eds, kind[k], c->n_groups[d]);
      fprintf(f, "plot '%s.dat' index %zu using 1:2:3 with image, '' index %zu using 1:2:(sprintf('%%.2f', $3)) "
                 "with labels font ',8'\n", ed, 2 * d + k, 2 * d + k);
      free(eds);
    }
  fprintf(f, "unset multiplot\n");
  free(ed);
  free(er);
  free(es);
}

dml_status dml_plot_correlation(const struct dml_aggregate *agg, const char *const *metrics, size_t nm,
                                const char *out_png) {
  if (nm < 2) return dml_error(DML_ERR_ARG, "correlation: give at least two metrics (--metrics)");
  const char **ds = xcalloc(agg->n_groups + 1, sizeof *ds);
  size_t nd = 0;
  for (size_t i = 0; i < agg->n_groups; i++) {
    int seen = 0;
    for (size_t k = 0; k < nd && !seen; k++) seen = !strcmp(ds[k], agg->groups[i].dataset);
    if (!seen) ds[nd++] = agg->groups[i].dataset;
  }
  size_t *ng = xcalloc(nd + 1, sizeof *ng), kept = 0;
  const char **keep = xcalloc(nd + 1, sizeof *keep);
  double *v = xcalloc(nm * (agg->n_groups + 1), sizeof *v); /* (nm, groups) */
  struct fig g;
  dml_status st = fig_open(&g, out_png);
  for (size_t d = 0; !st && d < nd; d++) {
    size_t n = 0; /* groups with every metric */
    for (size_t i = 0; i < agg->n_groups; i++) {
      if (strcmp(agg->groups[i].dataset, ds[d])) continue;
      int ok = 1;
      for (size_t m = 0; m < nm && ok; m++) {
        const struct dml_agg_metric *am = metric_of(&agg->groups[i], metrics[m]);
        ok = am && !isnan(am->mean);
        if (ok) v[m * agg->n_groups + n] = am->mean;
      }
      n += ok;
    }
    if (n < 3) {
      fprintf(stderr, "correlation: dataset '%s' skipped, %zu groups have every metric (need 3)\n", ds[d], n);
      continue;
    }
    for (int k = 0; k < 2; k++) {
      fprintf(g.dat, "# block %zu: row col %s\n", 2 * kept + k, k ? "spearman" : "pearson");
      for (size_t a = 0; a < nm; a++)
        for (size_t b = 0; b < nm; b++) {
          const double *xa = v + a * agg->n_groups, *xb = v + b * agg->n_groups;
          double r = k ? dml_spearman(xa, xb, n) : dml_pearson(xa, xb, n);
          fprintf(g.dat, "%zu %zu %.6f\n", b, a, r);
        }
      fprintf(g.dat, "\n\n");
    }
    ng[kept] = n;
    keep[kept++] = ds[d];
  }
  if (!st) {
    struct corr_ctx c = {keep, kept, ng, metrics, nm, agg->rule, agg->split};
    st = kept ? fig_render(&g, 9, 4.2 * kept + 0.4, emit_correlation, &c)
              : dml_error(DML_ERR_ARG, "correlation: no dataset has 3 groups with every metric (%s ...)", metrics[0]);
  }
  fig_free(&g);
  free(v);
  free(ng);
  free(keep);
  free(ds);
  return st;
}

// ---------------------------------------------------------------------------------------------- spectrum

struct spec_ctx { char **names; double *rho; size_t n; const char *split; int best; };

static void emit_spectrum(FILE *f, struct fig *g, const void *vctx) {
  const struct spec_ctx *c = vctx;
  char *ed = dml_escape_gnuplot(g->stem), *es = gq(g, c->split);
  fprintf(f, "reset\nset logscale y\nset grid\nset key below left Left reverse\nset xlabel 'singular value index'\n"
             "set ylabel 'normalised singular value s_i / sum s'\n");
  fprintf(f, "set title 'singular values of the %s embeddings (%s epoch, uncentred); %s: rho_spectrum@2' font ',9'\n", es,
          c->best ? "best" : "latest", g->latex ? "$\\rho$" : "rho");
  fprintf(f, "plot ");
  for (size_t i = 0; i < c->n; i++) {
    char *el = gq(g, c->names[i]);
    fprintf(f, "%s'%s.dat' index %zu using 1:2 with linespoints lw 2 pt 7 ps 0.4 lc rgb '%s' title '%s (%s = %.3f)'",
            i ? ", \\\n     " : "", ed, i, palette[i % 10], el, g->latex ? "$\\rho$" : "rho", c->rho[i]);
    free(el);
  }
  fprintf(f, "\n");
  free(ed);
  free(es);
}

dml_status dml_plot_spectrum(const struct dml_runset *rs, const char *split, int best, const char *out_png) {
  struct fig g;
  dml_status st = fig_open(&g, out_png);
  if (st) {
    fig_free(&g);
    return st;
  }
  struct spec_ctx c = {xcalloc(rs->n + 1, sizeof(char *)), xcalloc(rs->n + 1, sizeof(double)), 0, split, best};
  size_t skipped = 0;
  for (size_t r = 0; r < rs->n && !st; r++) {
    float *emb = NULL;
    int32_t *labels = NULL;
    char **paths = NULL;
    size_t n = 0, d = 0;
    /* no paths: the spectrum does not need them, and reading variable-length strings of a forged file can crash
     * inside libhdf5 1.10 (H5HG_read, see tests/fuzz/README.md) */
    if (dml_runrecord_read_embeddings(rs->runs[r].path, split, best, &emb, &n, &d, &labels, NULL)) {
      if (++skipped <= 3) fprintf(stderr, "spectrum: skipped: %s\n", dml_error_message());
      continue;
    }
    double *sv = xcalloc(d + 1, sizeof *sv);
    int info = n && d ? dml_metric_singular_values(emb, n, d, sv) : -1;
    if (info) st = dml_error(DML_ERR_NUMERIC, "spectrum: %s", n && d ? "LAPACK dsyev failed" : "empty embedding matrix");
    if (!st) {
      /* dml-eval's definition (eval/spectrum.h): the top d − 1 values, so the figure's ρ is the table's */
      size_t len = dml_rho_spectrum_len(d);
      double sum = 0;
      for (size_t i = 0; i < len; i++) sum += sv[i];
      fprintf(g.dat, "# block %zu: index normalised_singular_value (n = %zu, d = %zu, the top %zu values)\n", c.n, n, d,
              len);
      for (size_t i = 0; i < len; i++) fprintf(g.dat, "%zu %.10g\n", i + 1, sum > 0 ? sv[i] / sum : 0);
      fprintf(g.dat, "\n\n");
      const struct dml_run_meta *m = &rs->runs[r].meta;
      c.names[c.n] = m->name && *m->name ? xstrdup(m->name) : dml_strfmt("%s_s%ld", m->group ? m->group : "?", m->seed);
      c.rho[c.n++] = dml_metric_rho(sv, len, 2, NULL, NULL);
    }
    free(sv);
    free(emb);
    free(labels);
    for (size_t i = 0; paths && i < n; i++) free(paths[i]);
    free(paths);
  }
  if (skipped > 3) fprintf(stderr, "spectrum: %zu more runs skipped\n", skipped - 3);
  if (!st)
    st = c.n ? fig_render(&g, 8, 6, emit_spectrum, &c)
             : dml_error(DML_ERR_ARG, "spectrum: no run has %s embeddings of split '%s'", best ? "best" : "latest", split);
  fig_free(&g);
  for (size_t i = 0; i < c.n; i++) free(c.names[i]);
  free(c.names);
  free(c.rho);
  return st;
}
