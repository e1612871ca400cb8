/* reports_report — dml-report end to end: synthetic runs (standard set + a group with a hostile name) → aggregate,
 * tables, figures, generated.tex, report.pdf built by pdflatex; also the standalone golden table compiles. Skips
 * (77) without pdflatex or gnuplot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reports/reports.h"
#include "tests/analysis/synth.h"
#include "tests/testutil.h"

static int nonempty(const char *dir, const char *file) {
  char *p = dml_strfmt("%s/%s", dir, file);
  struct stat sb;
  int ok = !stat(p, &sb) && sb.st_size > 0;
  free(p);
  return ok;
}

int main(void) {
  if (system("command -v pdflatex > /dev/null 2>&1") || system("command -v gnuplot > /dev/null 2>&1")) {
    fprintf(stderr, "reports_report: pdflatex or gnuplot not found, skipped\n");
    return 77;
  }
  int fails = 0;
  char *dir = test_tmpdir("reports_report"), *runs = dml_strfmt("%s/runs", dir), *out = dml_strfmt("%s/report", dir);
  mkdir(runs, 0777);
  char *mark = dml_strfmt("%s/pwned", dir);
  fails += expect_true("synthetic runs", synth_standard(runs) == DML_OK);
  char *hostile = dml_strfmt("CUB_$%%&#{}~^\\x[1]'; system(\"touch %s\")\n'", mark);
  for (long s = 0; s < 2; s++) {
    char *name = dml_strfmt("%s_s%ld", hostile, s);
    struct synth_run r = {.dataset = "cub200", .group = "hostile", .name = name, .seed = s, .base = 0.57,
                          .status = DML_RUN_FINISHED};
    fails += expect_true("hostile run", synth_write(runs, &r) == DML_OK);
    free(name);
  }
  struct dml_runset rs = {0};
  dml_runset_scan(&rs, runs, NULL);
  const char *metrics[] = {"e_recall@1", "nmi"};
  struct dml_report_opts o = {.out_dir = out, .template_path = "latex/report.tex", .rule = {.rule = DML_RULE_MAX, .split = "test"},
                              .metrics = metrics, .n_metrics = 2, .scale = 100, .decimals = 2, .raw_names = 1, .pdf = 1};
  dml_status st = dml_report_write(&rs, &o);
  if (st) fprintf(stderr, "report: %s\n", dml_error_message());
  fails += expect_true("report builds", st == DML_OK);
  static const char *const files[] = {"report.pdf", "aggregate.json", "aggregate.csv", "tables/main.tex", "tables/main.md",
                                      "generated.tex", "figures/curves.png", "figures/curves-latex.tex",
                                      "figures/relation.png", "figures/correlation.png", "figures/spectrum.png"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char name[96];
    snprintf(name, sizeof name, "%s written", files[i]);
    fails += expect_true(name, nonempty(out, files[i]));
  }
  char *pdf = dml_strfmt("%s/report.pdf", out);
  FILE *f = fopen(pdf, "rb");
  char magic[5] = {0};
  if (f) {
    if (fread(magic, 1, 4, f) != 4) magic[0] = 0;
    fclose(f);
  }
  fails += expect_true("report.pdf is a PDF", !strcmp(magic, "%PDF"));
  /* every figure made it in (none "left out") */
  char *gen = dml_strfmt("%s/generated.tex", out);
  f = fopen(gen, "r");
  char line[4096];
  int left_out = 0, rule_stated = 0;
  while (f && fgets(line, sizeof line, f)) {
    left_out += strstr(line, "left out") != NULL;
    rule_stated += strstr(line, "rule \\texttt{max}") != NULL;
  }
  if (f) fclose(f);
  fails += expect_true("all four figures in the report", left_out == 0);
  fails += expect_true("the selection rule is stated", rule_stated >= 1);
  fails += expect_true("no injected command ran", access(mark, F_OK) != 0);
  /* a missing template is a clear error */
  o.template_path = "latex/no-such-template.tex";
  o.pdf = 0;
  fails += expect_true("missing template is an I/O error", dml_report_write(&rs, &o) == DML_ERR_IO);

  /* the golden standalone table compiles */
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, ".");
  char *cmd = dml_strfmt("cd '%s' && cp '%s/tests/fixtures/analysis/table_small_standalone.tex' t.tex && "
                         "pdflatex -interaction=nonstopmode -halt-on-error -no-shell-escape t.tex > t.out 2>&1",
                         dir, cwd);
  fails += expect_true("standalone table compiles with pdflatex", system(cmd) == 0);
  free(cmd);
  dml_runset_free(&rs);
  free(gen);
  free(pdf);
  free(hostile);
  free(mark);
  free(runs);
  free(out);
  free(dir);
  return test_report("reports_report", fails);
}
