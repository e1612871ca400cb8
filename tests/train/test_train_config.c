/* test_train_config — the command line of dml-train and the config JSON of its runs stay what they were when
 * tests/fixtures/train_config/ was written (before the method flags moved into the method files, issue 11):
 *  1. every command line below and every dml-train line of runs/presets/ scripts parses, and its config JSON
 *     (dml_flags_to_json of dml_train_cli_init's table, what dml-train records) has exactly the keys and values
 *     of the fixture: defaults.json holds the defaults, lines.jsonl per line the entries that differ from them;
 *  2. a real (1 epoch, 25 images) dml-train run records the same config in its run.h5;
 *  3. ambiguous and unknown abbreviations stay errors.
 * Flags added after the fixture was written are listed in tests/fixtures/train_config/added_flags.txt (one name
 * a line): their keys may appear beyond the fixture's. Key order is not compared (JSON objects are unordered).
 *
 *   test_train_config DML_TRAIN [--write]     (cwd: the source root; --write regenerates the fixture)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"
#include "train/train.h"

#define FIX "tests/fixtures/train_config"

static const char *cases[] = {
  "",
  "--loss triplet --batch_mining semihard --data_sampler d2_coreset --source /x --loss_margin_nu 0.01 "
  "--miner_rho_distance_cp 0.3 --data_batchmatch_bigbs 100 --diva_rho 1 2 --diva_decorrelations 0-1 1-2 "
  "--loss_oproxy_mode nca --loss_nir_nf_fc_init xavier --loss_margin_beta_constant --evaluation_metrics nmi "
  "--tau 10 20 --miner_parametric_mode=hards --loss_softtriplet_n_centroids 3 --loss_histogram_nb 11",
  "--loss margin --loss_margin_beta 0.6 --loss_margin_beta_lr 1e-3 --loss_margin_margin 0.1 --warmup 2 "
  "--data_ssl_set --data_hardneg_k 5 --miner_global_hardneg_k 4 --loss_multisimilarity_variant nir "
  "--loss_arcface_all_logits --loss_quadruplet_per_triplet --loss_softtriplet_paper --data_mb_mom 0.5",
};

/* Split a line on blanks into argv (argv[0] = "dml-train"); returns argc. */
static int split(char *line, char **argv, int cap) {
  int n = 0;
  argv[n++] = "dml-train";
  for (char *t = strtok(line, " \t\n"); t && n < cap - 1; t = strtok(NULL, " \t\n")) argv[n++] = t;
  argv[n] = NULL;
  return n;
}

/* The config JSON of a command line (NULL with the error in *err when it does not parse). */
static json_t *config_of(const char *args, char *err, size_t errcap) {
  char *copy = xstrdup(args);
  char *argv[256];
  int argc = split(copy, argv, 256);
  struct dml_train_opts o;
  memset(&o, 0, sizeof o);
  struct dml_train_cli tc;
  dml_train_cli_init(&tc, &o, NULL, 0);
  tc.cli.prog = "dml-train";
  tc.cli.max_positional = 0;
  json_t *j = NULL;
  if (dml_flags_parse(&tc.cli, argc, argv)) {
    snprintf(err, errcap, "%s", dml_error_message());
  } else {
    char *s = dml_flags_to_json(&tc.cli);
    j = json_loads(s, 0, NULL);
    free(s);
  }
  dml_train_cli_free(&tc);
  free(copy);
  return j;
}

/* Run a shell command (heap string, freed); returns its status. */
static int sh(char *cmd) {
  int rc = system(cmd);
  free(cmd);
  return rc;
}

/* Every "dml-train …" line the preset scripts print with PRINT=1 and stub programs, one seed. */
static int preset_lines(char ***out) {
  char *stub = test_tmpdir("cfgstub");
  const char *names[] = {"dml-train", "dml-aggregate", "dml-table"};
  for (int i = 0; i < 3; i++) {
    char *p = dml_strfmt("%s/%s", stub, names[i]);
    FILE *f = fopen(p, "w");
    fprintf(f, "#!/bin/sh\n%s\n", i ? "true" : "echo \"dml-train $*\"");
    fclose(f);
    sh(dml_strfmt("chmod +x %s", p));
    free(p);
  }
  char *cmd = dml_strfmt("for f in runs/presets/*.sh; do PRINT=1 SEEDS=0 BIN=%s DML=%s/dml-train DATAPATH=/data "
                         "OUT=runs/fmnist bash \"$f\" || echo FAILED \"$f\"; done", stub, stub);
  FILE *p = popen(cmd, "r");
  int n = 0, cap = 64;
  char **lines = xmalloc((size_t)cap * sizeof *lines);
  char buf[8192];
  while (p && fgets(buf, sizeof buf, p)) {
    buf[strcspn(buf, "\n")] = 0;
    const char *sp = strchr(buf, ' ');
    const char *tok_end = sp ? sp : buf + strlen(buf);
    int is_train = tok_end - buf >= 9 && !strncmp(tok_end - 9, "dml-train", 9);
    if (!strncmp(buf, "FAILED", 6)) {
      fprintf(stderr, "preset script failed: %s\n", buf);
      lines[n++] = xstrdup("--this_preset_failed");
    } else if (is_train) {
      if (n == cap) lines = xrealloc(lines, (size_t)(cap *= 2) * sizeof *lines);
      lines[n++] = xstrdup(sp ? sp + 1 : "");
    }
    if (n == cap) lines = xrealloc(lines, (size_t)(cap *= 2) * sizeof *lines);
  }
  if (p) pclose(p);
  sh(dml_strfmt("rm -rf %s", stub));
  free(cmd);
  free(stub);
  *out = lines;
  return n;
}

static int is_added(const char *key) {
  FILE *f = fopen(FIX "/added_flags.txt", "r");
  if (!f) return 0;
  char buf[256];
  int found = 0;
  while (!found && fgets(buf, sizeof buf, f)) {
    buf[strcspn(buf, "\n \t#")] = 0;
    found = *buf && !strcmp(buf, key);
  }
  fclose(f);
  return found;
}

/* Compare a config with the expectation (defaults overlaid by the line's entries); prints every difference. */
static int compare(const char *what, const json_t *got, const json_t *defaults, const json_t *diff) {
  int bad = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)defaults, k, v) {
    const json_t *want = json_object_get(diff, k) ? json_object_get(diff, k) : v;
    const json_t *g = json_object_get(got, k);
    if (!g) {
      fprintf(stderr, "%s: key '%s' is missing\n", what, k), bad++;
    } else if (!json_equal((json_t *)g, (json_t *)want)) {
      char *a = json_dumps(g, JSON_ENCODE_ANY), *b = json_dumps(want, JSON_ENCODE_ANY);
      fprintf(stderr, "%s: '%s' is %s, expected %s\n", what, k, a, b), bad++;
      free(a), free(b);
    }
  }
  json_object_foreach((json_t *)got, k, v) if (!json_object_get(defaults, k) && !is_added(k)) {
    fprintf(stderr, "%s: key '%s' is not in the fixture (a new flag? list it in " FIX "/added_flags.txt)\n", what, k);
    bad++;
  }
  return bad;
}

/* Entries of got that differ from defaults. */
static json_t *diff_of(const json_t *got, const json_t *defaults) {
  json_t *d = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)got, k, v) {
    const json_t *dv = json_object_get(defaults, k);
    if (!dv || !json_equal(v, (json_t *)dv)) json_object_set(d, k, v);
  }
  return d;
}

/* Run dml-train for 1 epoch in a fresh folder; returns the config JSON of its run.h5 (NULL on failure). */
static json_t *real_run(const char *bin, const char *args) {
  char *dir = test_tmpdir("cfgrun");
  char *cmd = dml_strfmt("cd %s && DML_PROGRESS=0 OMP_NUM_THREADS=1 %s %s >out.txt 2>&1", dir, bin, args);
  int rc = system(cmd);
  json_t *j = NULL;
  char *rec = dml_strfmt("%s/out/fashion_mnist/cfg_s1/run.h5", dir);
  struct dml_run r = {0};
  if (rc) {
    fprintf(stderr, "dml-train %s failed (%d); see %s/out.txt\n", args, rc, dir);
  } else if (dml_runrecord_read(rec, &r) == DML_OK) {
    j = json_loads(r.meta.config_json ? r.meta.config_json : "", 0, NULL);
    dml_run_free(&r);
  }
  if (j) sh(dml_strfmt("rm -rf %s", dir));
  free(rec);
  free(cmd);
  free(dir);
  return j;
}

#define RUN_ARGS "--dataset fashion_mnist --max_per_class 5 --n_epochs 1 --embed_dim 4 --bs 20 --no_train_metrics --evaluation_metrics " \
  "e_recall@1 --save_path out --group cfg --kernels 1 --loss_margin_nu 0.01 --miner_distance_lower 0.4"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_train_config DML_TRAIN [--write]\n");
    return 2;
  }
  int write = argc > 2 && !strcmp(argv[2], "--write");
  char err[512] = "";
  int f = 0;
  /* every line: the explicit cases, the real run's, then the presets' */
  char **preset;
  int np = preset_lines(&preset);
  int ncases = (int)(sizeof cases / sizeof *cases);
  int n = ncases + 1 + np;
  const char **lines = xmalloc((size_t)n * sizeof *lines);
  for (int i = 0; i < ncases; i++) lines[i] = cases[i];
  lines[ncases] = RUN_ARGS;
  for (int i = 0; i < np; i++) lines[ncases + 1 + i] = preset[i];
  f += expect_true("the presets print dml-train lines", np >= 10);
  json_t *defaults = config_of("", err, sizeof err);
  if (expect_true("the defaults parse", defaults != NULL)) return test_report("train_config", 1);
  if (write) {
    FILE *fd = fopen(FIX "/defaults.json", "w"), *fl = fopen(FIX "/lines.jsonl", "w");
    if (!fd || !fl) return test_report("train_config: cannot write " FIX, 1);
    json_dumpf(defaults, fd, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    fputc('\n', fd);
    for (int i = 0; i < n; i++) {
      json_t *got = config_of(lines[i], err, sizeof err);
      if (!got) {
        fprintf(stderr, "line does not parse: %s: %s\n", lines[i], err);
        return test_report("train_config", 1);
      }
      json_t *d = diff_of(got, defaults);
      json_t *row = json_pack("{s:s, s:O}", "args", lines[i], "config", d);
      char *s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER);
      fprintf(fl, "%s\n", s);
      free(s);
      json_decref(row), json_decref(d), json_decref(got);
    }
    fclose(fd), fclose(fl);
    printf("wrote " FIX "/defaults.json and lines.jsonl (%d lines)\n", n);
    return 0;
  }
  json_t *want_defaults = json_load_file(FIX "/defaults.json", 0, NULL);
  if (expect_true("fixture defaults.json reads", want_defaults != NULL)) return test_report("train_config", 1);
  f += expect_true("defaults: same keys and values", !compare("defaults", defaults, want_defaults, NULL));
  /* the fixture's lines, by their argument string */
  FILE *fl = fopen(FIX "/lines.jsonl", "r");
  json_t *rows = json_array();
  char buf[65536];
  while (fl && fgets(buf, sizeof buf, fl)) json_array_append_new(rows, json_loads(buf, 0, NULL));
  if (fl) fclose(fl);
  int checked = 0;
  for (int i = 0; i < n; i++) {
    json_t *diff = NULL;
    for (size_t r = 0; r < json_array_size(rows); r++) {
      json_t *row = json_array_get(rows, r);
      if (!strcmp(json_string_value(json_object_get(row, "args")), lines[i])) diff = json_object_get(row, "config");
    }
    json_t *got = config_of(lines[i], err, sizeof err);
    char tag[160];
    snprintf(tag, sizeof tag, "line %d (%.100s)", i, lines[i]);
    if (!got) {
      fprintf(stderr, "%s does not parse: %s\n", tag, err);
      f++;
      continue;
    }
    if (diff) { /* a line the fixture knows: same config */
      f += compare(tag, got, want_defaults, diff) != 0;
      checked++;
    }
    json_decref(got);
  }
  printf("%d of %d lines compared with the fixture (%d preset lines parse)\n", checked, n, np);
  f += expect_true("every explicit case and the run line are in the fixture", checked >= ncases + 1);
  /* the real run records the same config */
  char *bin = realpath(argv[1], NULL);
  json_t *run = bin ? real_run(bin, RUN_ARGS) : NULL;
  free(bin);
  int no_run = expect_true("the 1-epoch run writes a config", run != NULL);
  f += no_run;
  if (!no_run) {
    json_t *diff = NULL;
    for (size_t r = 0; r < json_array_size(rows); r++)
      if (!strcmp(json_string_value(json_object_get(json_array_get(rows, r), "args")), RUN_ARGS))
        diff = json_object_get(json_array_get(rows, r), "config");
    f += expect_true("run.h5 config: same keys and values", diff && !compare("run.h5", run, want_defaults, diff));
    json_decref(run);
  }
  /* abbreviations: unique prefixes resolve (cases above), ambiguous ones stay errors */
  f += expect_true("ambiguous prefix is an error", !config_of("--loss_margin_b 1", err, sizeof err) &&
                                                   strstr(err, "ambiguous"));
  f += expect_true("unknown flag is an error", !config_of("--loss_nosuch 1", err, sizeof err) &&
                                               strstr(err, "did you mean"));
  json_decref(rows);
  json_decref(defaults);
  json_decref(want_defaults);
  for (int i = 0; i < np; i++) free(preset[i]);
  free(preset);
  free(lines);
  return test_report("train_config", f);
}
