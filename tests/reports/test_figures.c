/* reports_figures — every figure type from the synthetic runs (synth.h): the PNG, PDF, cairolatex pair, script and
 * data exist and are non-empty, the PNG is a PNG, and the data hold the hand-computed points. Skips (77) without
 * gnuplot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reports/reports.h"
#include "tests/analysis/synth.h"
#include "tests/testutil.h"

static int have_gnuplot(void) {
  const char *path = getenv("PATH");
  char *p = xstrdup(path ? path : "/usr/bin:/bin"), *save = NULL;
  int found = 0;
  for (char *d = strtok_r(p, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
    char *g = dml_strfmt("%s/gnuplot", d);
    found = access(g, X_OK) == 0;
    free(g);
  }
  free(p);
  return found;
}

static int files_ok(const char *dir, const char *stem) {
  static const char *const ext[] = {".png", ".pdf", ".gp", ".dat", "-latex.tex", "-latex.pdf"};
  int fails = 0;
  for (int i = 0; i < 6; i++) {
    char *p = dml_strfmt("%s/%s%s", dir, stem, ext[i]);
    struct stat sb;
    char name[256];
    snprintf(name, sizeof name, "%s%s exists and is not empty", stem, ext[i]);
    fails += expect_true(name, !stat(p, &sb) && sb.st_size > 0);
    free(p);
  }
  char *png = dml_strfmt("%s/%s.png", dir, stem);
  FILE *f = fopen(png, "rb");
  unsigned char magic[8] = {0};
  if (f) {
    if (fread(magic, 1, 8, f) != 8) magic[0] = 0;
    fclose(f);
  }
  char name[128];
  snprintf(name, sizeof name, "%s.png has the PNG signature", stem);
  fails += expect_true(name, !memcmp(magic, "\x89PNG\r\n\x1a\n", 8));
  free(png);
  return fails;
}

/* The first n numeric rows of the data file (comment lines skipped), k columns each. */
static size_t read_rows(const char *path, double *v, size_t n, int k) {
  FILE *f = fopen(path, "r");
  char line[512];
  size_t r = 0;
  while (f && r < n && fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    char *s = line;
    for (int j = 0; j < k; j++) v[r * k + j] = strtod(s, &s);
    r++;
  }
  if (f) fclose(f);
  return r;
}

int main(void) {
  if (!have_gnuplot()) {
    fprintf(stderr, "reports_figures: gnuplot not found, skipped\n");
    return 77;
  }
  int fails = 0;
  char *dir = test_tmpdir("reports_figures");
  if (synth_standard(dir)) {
    fprintf(stderr, "%s\n", dml_error_message());
    return test_report("reports_figures", 1);
  }
  struct dml_runset rs = {0};
  dml_runset_scan(&rs, dir, NULL);
  char *out = dml_strfmt("%s/fig", dir);
  mkdir(out, 0777);
  char *p = dml_strfmt("%s/curves.png", out);
  fails += expect_true("curves", dml_plot_curves(&rs, "e_recall@1", "test", p, 0) == DML_OK);
  fails += files_ok(out, "curves");
  free(p);
  /* CARS_Margin_b12_Distance comes first; epoch 0: 0.75 + 0.01 s for s = 0, 1, 3 */
  double row[4];
  p = dml_strfmt("%s/curves.dat", out);
  fails += expect_true("curves.dat has rows", read_rows(p, row, 1, 4) == 1);
  const double want_row[4] = {0, 2.29 / 3, 0.015275252316519466, 3};
  fails += expect_close("curves.dat first row: epoch, mean, sample std, n", row, want_row, 4, 1e-9, 0);
  free(p);

  const char *xs[] = {"dists@intra_over_inter", "rho_spectrum@2"};
  struct dml_relation_opts ro = {.x_metrics = xs, .n_x = 2, .x_split = "train", .y_metric = "e_recall@1", .y_split = "test",
                                 .rule = {.rule = DML_RULE_MAX}};
  p = dml_strfmt("%s/relation.png", out);
  fails += expect_true("relation", dml_plot_relation(&rs, &ro, p) == DML_OK);
  fails += files_ok(out, "relation");
  free(p);
  /* panel 0 = (cars196, dists): one group, x = 1.5 - .75 + .001 * mean(0, 1, 3) + .01 * epoch 3 (R@1 is largest at
   * epoch 1 for every seed: .05 > .04 > .03) → x at epoch 1: 0.76 + 0.004/3, y = .75 + .04/3 + .05 */
  double rel[4];
  p = dml_strfmt("%s/relation.dat", out);
  fails += expect_true("relation.dat has rows", read_rows(p, rel, 1, 4) == 1);
  fails += expect_scalar("relation x = train metric at the max-R@1 epoch", rel[0], 0.76 + 0.004 / 3, 1e-9, 0);
  fails += expect_scalar("relation y = mean of per-seed max R@1", rel[2], 0.80 + 0.04 / 3, 1e-9, 0);
  free(p);

  struct dml_agg_opts ao = {.rule = DML_RULE_MAX, .split = "test"};
  struct dml_aggregate agg;
  dml_aggregate_compute(&rs, &ao, &agg);
  const char *ms[] = {"e_recall@1", "nmi"};
  p = dml_strfmt("%s/correlation.png", out);
  fails += expect_true("correlation", dml_plot_correlation(&agg, ms, 2, p) == DML_OK);
  fails += files_ok(out, "correlation");
  free(p);
  /* cub200 (3 groups; cars196 has 1 and is skipped): Pearson matrix row 0 = (0 0 1), (1 0 r) with r from the group
   * means (ArcFace, Margin, Triplet) R@1 = .64, .66, .605 and NMI = .2 base + .30 + .02 mean(seed) → .436, .44, .42 */
  double corr[12];
  p = dml_strfmt("%s/correlation.dat", out);
  fails += expect_true("correlation.dat has 4 rows", read_rows(p, corr, 4, 3) == 4);
  const double r1[] = {0.64, 0.66, 0.605}, r2[] = {0.436, 0.44, 0.42};
  fails += expect_scalar("correlation diagonal", corr[2], 1, 1e-6, 0);
  fails += expect_scalar("correlation R@1-NMI", corr[5], dml_pearson(r1, r2, 3), 1e-6, 0);
  free(p);
  p = dml_strfmt("%s/x.png", out);
  fails += expect_true("correlation with one metric is an error", dml_plot_correlation(&agg, ms, 1, p) == DML_ERR_ARG);
  free(p);
  dml_aggregate_free(&agg);

  p = dml_strfmt("%s/spectrum.png", out);
  fails += expect_true("spectrum", dml_plot_spectrum(&rs, "test", 0, p) == DML_OK);
  fails += files_ok(out, "spectrum");
  free(p);
  /* the spectrum of seed s is the spectrum of seed 0 (embeddings scale by 1 + s): normalised values agree */
  double sp[16];
  p = dml_strfmt("%s/spectrum.dat", out);
  fails += expect_true("spectrum.dat rows", read_rows(p, sp, 8, 2) == 8);
  /* d = 4: each run's block holds the top d − 1 = 3 values, as dml-eval's rho_spectrum (eval/spectrum.h) */
  fails += expect_true("spectrum blocks hold the top d - 1 values", sp[3 * 2] == 1 && sp[2 * 2] == 3);
  fails += expect_scalar("normalised spectrum is scale-free (run 1 vs 2, value 1)", sp[1], sp[3 * 2 + 1], 1e-7, 0);
  free(p);
  p = dml_strfmt("%s/nothing.png", out); /* failures must not leave files outside the test's folder */
  fails += expect_true("spectrum of a split without embeddings is an error", dml_plot_spectrum(&rs, "val", 0, p) == DML_ERR_ARG);
  fails += expect_true("unknown metric is an error", dml_plot_curves(&rs, "no_such", "test", p, 0) == DML_ERR_ARG);
  free(p);
  dml_runset_free(&rs);
  free(out);
  free(dir);
  return test_report("reports_figures", fails);
}
