/* dml-train — one training run. Flags and defaults follow the reference parameters.py, so a line of the
 * reference run scripts works with `python main.py` replaced by `dml-train`. */
#include <stdio.h>
#include <stdlib.h>

#include "train/trainer.h"

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
  char *config = dml_flags_to_json(cli);
  char *path = NULL;
  struct dml_opts opt = dml_train_cli_opts(&tc);
  dml_status st = dml_train_run(&o, &opt, config, *o.resume ? o.resume : NULL, &path);
  free(config);
  free(path);
  dml_train_cli_free(&tc);
  dml_exit_on_error("dml-train", st);
  return 0;
}
