/* analysis_cli — the programs as `make demo` calls them, on synthetic runs laid out like runs/demo:
 *   dml-aggregate RUNS --out RUNS/aggregate.json
 *   dml-table RUNS/aggregate.json --latex --metrics e_recall@1,e_recall@2,nmi --scale 100 -o RUNS/table.tex
 *   dml-plot curves RUNS --metric e_recall@1 --split test -o RUNS/recall.png
 * plus every other figure, dml-report --no-pdf, --help (exit 0, lists every flag with its default) and bad input
 * (exit non-zero with one "error:" line). argv: the paths of dml-aggregate, dml-table, dml-plot, dml-report. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/analysis/synth.h"
#include "tests/testutil.h"

/* Run argv (no shell) with stdout+stderr into `log`; returns the exit status (-1 on a signal). */
static int run(char *const argv[], const char *log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = calloc((size_t)n + 1, 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
  fclose(f);
  return s;
}

static int nonempty(const char *p) {
  struct stat sb;
  return !stat(p, &sb) && sb.st_size > 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: analysis_cli DML_AGGREGATE DML_TABLE DML_PLOT DML_REPORT\n");
    return 2;
  }
  char *agg = argv[1], *table = argv[2], *plot = argv[3], *report = argv[4];
  int fails = 0;
  char *dir = test_tmpdir("analysis_cli"), *log = dml_strfmt("%s/log", dir);
  fails += expect_true("synthetic runs", synth_standard(dir) == DML_OK);
  char *json = dml_strfmt("%s/aggregate.json", dir), *tex = dml_strfmt("%s/table.tex", dir),
       *png = dml_strfmt("%s/recall.png", dir), *csv = dml_strfmt("%s/aggregate.csv", dir);

  fails += expect_true("dml-aggregate", run((char *[]){agg, dir, "--out", json, "--csv", csv, NULL}, log) == 0);
  char *out = slurp(log);
  fails += expect_true("dml-aggregate reports the foreign file", strstr(out, "foreign.h5") != NULL);
  fails += expect_true("dml-aggregate warns about the failed seed", strstr(out, "seed 3 failed") != NULL);
  free(out);
  out = slurp(json);
  fails += expect_true("aggregate.json: format and default rule", strstr(out, "\"format\": \"dml-aggregate/1\"") &&
                                                                      strstr(out, "\"rule\": \"max\"") &&
                                                                      strstr(out, "\"std\": \"sample\""));
  free(out);
  fails += expect_true("aggregate.csv", nonempty(csv));

  fails += expect_true("dml-table", run((char *[]){table, json, "--latex", "--metrics", "e_recall@1,e_recall@2,nmi", "--scale",
                                                   "100", "-o", tex, NULL}, log) == 0);
  out = slurp(tex);
  /* CUB_Margin_b12_Distance → "Margin (D, β=1.2)": max R@1 .65 .66 .67 → 66.00 ± 1.00 (bold: best of CUB) */
  fails += expect_true("table.tex has the hand-computed cell", strstr(out, "$\\mathbf{66.00 \\pm 1.00}$") != NULL);
  fails += expect_true("table.tex states the rule", strstr(out, "% dml-table: rule max") == out);
  fails += expect_true("table.tex: missing R@2 shown as $-\\pm-$", strstr(out, "$-\\pm-$") != NULL);
  free(out);
  fails += expect_true("dml-table to stdout", run((char *[]){table, json, "--markdown", NULL}, log) == 0);
  out = slurp(log);
  fails += expect_true("markdown on stdout", strstr(out, "| Method |") != NULL);
  free(out);

  int gnuplot = system("command -v gnuplot > /dev/null 2>&1") == 0;
  if (!gnuplot) fprintf(stderr, "analysis_cli: gnuplot not found, figure commands skipped\n");
  if (gnuplot) {
    fails += expect_true("dml-plot curves", run((char *[]){plot, "curves", dir, "--metric", "e_recall@1", "--split", "test", "-o",
                                                           png, NULL}, log) == 0);
    fails += expect_true("recall.png", nonempty(png));
    static const char *const figs[][2] = {{"relation", "--x=dists@intra_over_inter,rho_spectrum@2"},
                                          {"correlation", "--metrics=e_recall@1,nmi"},
                                          {"spectrum", "--split=test"}};
    for (int i = 0; i < 3; i++) {
      char *p = dml_strfmt("%s/%s.png", dir, figs[i][0]), name[64];
      snprintf(name, sizeof name, "dml-plot %s", figs[i][0]);
      fails += expect_true(name, run((char *[]){plot, (char *)figs[i][0], dir, (char *)figs[i][1], "-o", p, NULL}, log) == 0);
      fails += expect_true(name, nonempty(p));
      free(p);
    }
  }
  char *rep = dml_strfmt("%s/report", dir), *gen = dml_strfmt("%s/report/generated.tex", dir);
  fails += expect_true("dml-report --no-pdf", run((char *[]){report, dir, "-o", rep, "--no-pdf", NULL}, log) == 0);
  fails += expect_true("generated.tex", nonempty(gen));

  /* --help lists every flag with its default; bad input fails with one error line */
  fails += expect_true("dml-aggregate --help", run((char *[]){agg, "--help", NULL}, log) == 0);
  out = slurp(log);
  fails += expect_true("help lists --select and --population-std", strstr(out, "--select") && strstr(out, "--population-std"));
  free(out);
  fails += expect_true("dml-table --help", run((char *[]){table, "--help", NULL}, log) == 0);
  fails += expect_true("dml-plot --help", run((char *[]){plot, "--help", NULL}, log) == 0);
  fails += expect_true("dml-report --help", run((char *[]){report, "--help", NULL}, log) == 0);
  struct { char *argv[8]; const char *what; } bad[] = {
    {{agg, dir, "--select", "median", NULL}, "unknown rule"},
    {{agg, dir, "--by", "nonsense", NULL}, "unknown grouping"},
    {{agg, "/nonexistent/runs", NULL}, "missing folder"},
    {{table, "/nonexistent.json", NULL}, "missing aggregate"},
    {{table, csv, NULL}, "not an aggregate"},
    {{table, json, "--latex", "--csv", NULL}, "two formats"},
    {{plot, "pie", dir, NULL}, "unknown figure"},
    {{plot, "curves", dir, "--metric", "no_such_metric", "-o", png, NULL}, "unknown metric"},
    {{plot, "curves", dir, "-o", "/nonexistent/dir/x.png", NULL}, "unwritable output"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int rc = run(bad[i].argv, log);
    out = slurp(log);
    char name[128];
    snprintf(name, sizeof name, "bad input (%s): non-zero exit and an error line, no crash", bad[i].what);
    fails += expect_true(name, rc > 0 && rc < 128 && strstr(out, "error:") != NULL);
    free(out);
  }
  free(rep);
  free(gen);
  free(json);
  free(tex);
  free(png);
  free(csv);
  free(log);
  free(dir);
  return test_report("analysis_cli", fails);
}
