/* dml-train — one training run. Flags and defaults follow the reference parameters.py, so a line of the
 * reference run scripts works with `python main.py` replaced by `dml-train`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

/* The reference's lines carry flags that do nothing here; they are accepted and named once, in one line. */
static void report_inert(const struct dml_cli *cli, const struct dml_train_opts *o) {
  char line[1024] = "";
  size_t n = 0;
  if (dml_flags_given(cli, "gpu"))
    n += (size_t)snprintf(line + n, sizeof line - n, "%s--gpu (the device comes from --backend %s)", n ? "; " : "",
                          o->backend);
  if (dml_flags_given(cli, "evaluate_on_gpu") && n < sizeof line)
    n += (size_t)snprintf(line + n, sizeof line - n, "%s--evaluate_on_gpu (metrics run on the CPU faiss)",
                          n ? "; " : "");
  if (dml_flags_given(cli, "wandb_key") && n < sizeof line)
    n += (size_t)snprintf(line + n, sizeof line - n, "%s--wandb_key (the key comes from WANDB_API_KEY or ~/.netrc)",
                          n ? "; " : "");
  if (n) printf("accepted without effect here: %s\n", line);
}

/* --dry_run_lines FILE: every line of FILE (- = stdin) is a dml-train command line (a first word that is not a flag,
 * the program, is skipped; words are split on blanks, as the presets print them), parsed with a fresh flag table
 * and dry-run, in one process; --dry_run_skip_data carries over. One result line per command; exit 1 if any fails. */
static int dry_run_lines(const char *file, int skip_data) {
  FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
  if (!f) {
    fprintf(stderr, "dml-train: error: --dry_run_lines %s: cannot open it\n", file);
    return 1;
  }
  char line[16384];
  int n = 0, bad = 0;
  while (fgets(line, sizeof line, f)) {
    char text[16384], *argv[512];
    snprintf(text, sizeof text, "%s", line);
    text[strcspn(text, "\n")] = 0;
    int argc = 0;
    argv[argc++] = "dml-train";
    for (char *t = strtok(line, " \t\n"); t && argc < 511; t = strtok(NULL, " \t\n"))
      if (argc > 1 || !strncmp(t, "--", 2)) argv[argc++] = t;
    argv[argc] = NULL;
    if (argc == 1) continue;
    n++;
    struct dml_train_opts o;
    memset(&o, 0, sizeof o);
    struct dml_train_cli tc;
    dml_train_cli_init(&tc, &o, NULL, 0);
    tc.cli.prog = "dml-train";
    tc.cli.max_positional = 0;
    dml_status st = dml_flags_parse(&tc.cli, argc, argv);
    if (!st) {
      o.dry_run_skip_data |= skip_data;
      struct dml_opts opt = dml_train_cli_opts(&tc);
      st = dml_train_dry_run(&o, &opt, NULL);
    }
    if (st) printf("line %d: error: %s :: %s\n", n, dml_error_message(), text);
    else printf("line %d: ok\n", n);
    bad += st != DML_OK;
    dml_train_cli_free(&tc);
  }
  if (f != stdin) fclose(f);
  printf("dry run of %d lines: %d ok, %d refused\n", n, n - bad, bad);
  return bad ? 1 : 0;
}

int main(int argc, char **argv) {
  struct dml_train_opts o = {0};
  struct dml_train_cli tc;
  dml_train_cli_init(&tc, &o, NULL, 0);
  struct dml_cli *cli = &tc.cli;
  cli->prog = "dml-train";
  cli->summary = "train one deep metric learning run and record it as runs/<dataset>/<group>_s<seed>/run.h5";
  cli->usage = "[--dataset fashion_mnist] [--loss margin] [--batch_mining distance] [--n_epochs N] [flags]";
  cli->max_positional = 0;
  dml_exit_on_error(cli->prog, dml_flags_parse(cli, argc, argv));
  const char *resume = o.resume;
  if (*resume) {
    char *rec = dml_strfmt("%s/run.h5", resume);
    struct dml_run prev = {0};
    dml_status st = dml_runrecord_read(rec, &prev);
    if (!st) st = dml_flags_from_json(cli, prev.meta.config_json ? prev.meta.config_json : "{}");
    if (st) dml_error_prefix(st, "--resume %s", resume);
    dml_run_free(&prev);
    free(rec);
    dml_exit_on_error(cli->prog, st);
  }
  if (*o.dry_run_lines) {
    int rc = dry_run_lines(o.dry_run_lines, o.dry_run_skip_data);
    dml_train_cli_free(&tc);
    return rc;
  }
  report_inert(cli, &o);
  struct dml_opts opt = dml_train_cli_opts(&tc);
  if (o.dry_run) {
    dml_status st = dml_train_dry_run(&o, &opt, NULL);
    dml_train_cli_free(&tc);
    dml_exit_on_error("dml-train", st);
    return 0;
  }
  char *config = dml_flags_to_json(cli);
  char *path = NULL;
  dml_status st = dml_train_run(&o, &opt, config, *o.resume ? o.resume : NULL, &path);
  free(config);
  free(path);
  dml_train_cli_free(&tc);
  dml_exit_on_error("dml-train", st);
  return 0;
}
