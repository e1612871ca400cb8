/* sweep_preset — preset parsing by hand cases: words as a POSIX shell splits them (quotes, escapes, comments,
 * continuations; each expected list was checked against `bash -c 'printf "<%s>" ...'`), shell syntax refused
 * with its line number, seed lists expanded, every run's folder fixed from --dataset/--group/--seed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/sweep/sweep.h"
#include "tests/testutil.h"

static int words_are(const char *text, const char *const *want, int n_want) {
  char **w = NULL;
  int n = 0;
  dml_status st = dml_sweep_split_words(text, 1, &w, &n);
  char name[300];
  snprintf(name, sizeof name, "words of [%s]", text);
  int ok = !st && n == n_want;
  for (int i = 0; ok && i < n; i++) ok = !strcmp(w[i], want[i]);
  if (!ok) {
    printf("  got (%s):", st ? dml_error_message() : "ok");
    for (int i = 0; !st && i < n; i++) printf(" <%s>", w[i]);
    printf("\n");
  }
  for (int i = 0; !st && i < n; i++) free(w[i]);
  if (!st) free(w);
  return expect_true(name, ok);
}

static int refused(const char *text, const char *needle) {
  char **w = NULL;
  int n = 0;
  dml_status st = dml_sweep_split_words(text, 7, &w, &n);
  char name[300];
  snprintf(name, sizeof name, "[%s] refused mentioning '%s'", text, needle);
  int ok = st != DML_OK && strstr(dml_error_message(), needle) && strstr(dml_error_message(), "line 7");
  if (!ok) printf("  message: %s\n", st ? dml_error_message() : "(accepted)");
  if (!st) {
    for (int i = 0; i < n; i++) free(w[i]);
    free(w);
  }
  return expect_true(name, ok);
}

static int preset_fails(const char *tmp, const char *text, const char *needle) {
  char path[4096];
  snprintf(path, sizeof path, "%s/bad.txt", tmp);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  struct dml_sweep s;
  char sp[4200];
  snprintf(sp, sizeof sp, "%s/study", tmp);
  struct dml_sweep_opts o = {.save_path = sp};
  dml_status st = dml_sweep_from_preset(&s, path, &o);
  char name[300];
  snprintf(name, sizeof name, "preset refused: %s", needle);
  int ok = st && strstr(dml_error_message(), needle);
  if (!ok) printf("  message: %s\n", st ? dml_error_message() : "(accepted)");
  if (!st) dml_sweep_free(&s);
  return expect_true(name, ok);
}

int main(void) {
  int f = 0;
  /* words (expected lists as bash splits them) */
  f += words_are("dml-train --group 'a b' --x \"c d\"", (const char *[]){"dml-train", "--group", "a b", "--x", "c d"}, 5);
  f += words_are("a\\ b 'it'\\''s' \"q\\\"q\\\\\" ''", (const char *[]){"a b", "it's", "q\"q\\", ""}, 4);
  f += words_are("x --a 1 \\\n   --b 2 # comment ; rm -rf /", (const char *[]){"x", "--a", "1", "--b", "2"}, 5);
  f += words_are("x a#b '#c' \"x\"y'z'", (const char *[]){"x", "a#b", "#c", "xyz"}, 4);
  f += words_are("x --metrics rho_spectrum@* e_recall@{1,2}", (const char *[]){"x", "--metrics", "rho_spectrum@*", "e_recall@{1,2}"}, 4);
  f += words_are("x --group 'g; touch PWNED $(id) `id` | &'", (const char *[]){"x", "--group", "g; touch PWNED $(id) `id` | &"}, 3);
  f += words_are("x \"\\$HOME\"", (const char *[]){"x", "$HOME"}, 2);
  /* shell syntax refused */
  f += refused("dml-train --group $G", "'$'");
  f += refused("dml-train --group \"$G\"", "'$'");
  f += refused("dml-train --group `id`", "'`'");
  f += refused("dml-train --x 1; rm -rf /", "';'");
  f += refused("dml-train --x 1 && id", "'&'");
  f += refused("dml-train --x 1 | tee log", "'|'");
  f += refused("dml-train --x 1 > log", "'>'");
  f += refused("dml-train --group $(id)", "'$'");
  f += refused("OMP=1 dml-train --x 1", "assignments");
  f += refused("dml-train --group 'open", "unterminated");
  f += refused("dml-train --group \"open", "unterminated");

  /* seeds */
  long *v = NULL;
  size_t n = 0;
  f += expect_true("seeds 0-2,5,9-10", !dml_sweep_parse_seeds("0-2,5,9-10", &v, &n) && n == 6 && v[0] == 0 && v[2] == 2 &&
                                         v[3] == 5 && v[4] == 9 && v[5] == 10);
  free(v);
  v = NULL, n = 0;
  f += expect_true("seeds 3-1 refused", dml_sweep_parse_seeds("3-1", &v, &n) != DML_OK);
  f += expect_true("seeds 'x' refused", dml_sweep_parse_seeds("x", &v, &n) != DML_OK);
  f += expect_true("seeds '1,' refused", dml_sweep_parse_seeds("1,,", &v, &n) != DML_OK);
  free(v);

  /* a preset → runs */
  char *tmp = test_tmpdir("sweep_preset");
  char path[4096], sp[4200];
  snprintf(path, sizeof path, "%s/p.txt", tmp);
  snprintf(sp, sizeof sp, "%s/study", tmp);
  FILE *fp = fopen(path, "w");
  fputs("#!/usr/bin/env dml-sweep\n"
        "# two methods\n"
        "\n"
        "build/bin/dml-train --dataset fashion_mnist --group A --seed 0,1 \\\n"
        "    --kernels 6 --save_path elsewhere --evaluation_metrics e_recall@1 nmi\n"
        "dml-train --dataset=fashion_mnist --group='B x' --seed 2 3 --lr 1e-3\n",
        fp);
  fclose(fp);
  struct dml_sweep s;
  struct dml_sweep_opts o = {.save_path = sp};
  dml_status st = dml_sweep_from_preset(&s, path, &o);
  if (st) printf("  %s\n", dml_error_message());
  f += expect_true("preset parsed into 4 runs", !st && s.n == 4);
  if (!st && s.n == 4) {
    char want[4300];
    snprintf(want, sizeof want, "%s/fashion_mnist/A_s1/run.h5", sp);
    f += expect_true("run 1 record path", !strcmp(s.runs[1].record, want) && s.runs[1].seed == 1 && s.runs[1].line == 4);
    snprintf(want, sizeof want, "%s/fashion_mnist/B x_s3", sp);
    f += expect_true("run 3 folder (quoted group, seed list 2 3)", !strcmp(s.runs[3].dir, want) && s.runs[3].line == 6);
    int has_k = 0, has_else = 0;
    for (int j = 0; j < s.runs[0].argc; j++) {
      has_k |= !strcmp(s.runs[0].argv[j], "--kernels");
      has_else |= !strcmp(s.runs[0].argv[j], "elsewhere");
    }
    f += expect_true("the line's --kernels and --save_path are the sweep's",
                     !has_k && !has_else && !strcmp(s.runs[0].argv[s.runs[0].argc - 1], sp));
    f += expect_true("metrics list kept", !strcmp(s.runs[0].argv[4], "--evaluation_metrics") &&
                                              !strcmp(s.runs[0].argv[6], "nmi"));
    /* manifest round trip */
    f += expect_true("manifest written", dml_sweep_write_manifest(&s) == DML_OK);
    struct dml_sweep r;
    st = dml_sweep_read_manifest(&r, sp);
    f += expect_true("manifest read back", !st && r.n == 4);
    if (!st) {
      int same = 1;
      for (size_t i = 0; i < 4; i++) {
        same &= !strcmp(r.runs[i].record, s.runs[i].record) && r.runs[i].argc == s.runs[i].argc;
        for (int j = 0; same && j < r.runs[i].argc; j++) same &= !strcmp(r.runs[i].argv[j], s.runs[i].argv[j]);
      }
      f += expect_true("manifest argv identical", same);
      struct dml_sweep_state ss;
      dml_sweep_state_of(&r, 2, &ss);
      f += expect_true("a run not started is missing", ss.kind == DML_SWEEP_MISSING);
      dml_sweep_free(&r);
    }
    dml_sweep_free(&s);
  }
  o.seeds = "5-6";
  st = dml_sweep_from_preset(&s, path, &o);
  f += expect_true("--seeds 5-6 replaces every line's seeds", !st && s.n == 4 && s.runs[0].seed == 5 && s.runs[3].seed == 6);
  if (!st) dml_sweep_free(&s);

  f += preset_fails(tmp, "echo hello\n", "not a dml-train line");
  f += preset_fails(tmp, "dml-train --group A --seed 0\n", "--dataset");
  f += preset_fails(tmp, "dml-train --dataset d --seed 0\n", "--group");
  f += preset_fails(tmp, "dml-train --dataset d --group A --seed 0\ndml-train --dataset d --group A --seed 0-1\n",
                    "line 1 and line 2");
  f += preset_fails(tmp, "dml-train --dataset d --group ../up --seed 0\n", "folder name");
  f += preset_fails(tmp, "dml-train --dataset d --group A --resume x\n", "--resume");
  f += preset_fails(tmp, "# nothing\n", "no dml-train lines");
  f += preset_fails(tmp, "dml-train --dataset d --group A --seed 0 \\\n --x $HOME\n", "line 2");
  free(tmp);
  return test_report("sweep_preset", f);
}
