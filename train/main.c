/* dml-train — one training run. Flags and defaults follow the reference parameters.py, so a line of the
 * reference run scripts works with `python main.py` replaced by `dml-train`. */
#include <stdio.h>
#include <stdlib.h>

#include "train/trainer.h"

int main(int argc, char **argv) {
  struct dml_train_opts o = {0};
  struct dml_flag flags[DML_TRAIN_MAX_FLAGS];
  size_t n = dml_train_flags(&o, flags, DML_TRAIN_MAX_FLAGS - 1);
  char *resume = NULL;
  flags[n++] = (struct dml_flag){"resume", DML_FLAG_STR, &resume, "",
                                 "continue the interrupted run in this folder (its configuration; flags given here override)"};
  struct dml_cli cli = {
    .prog = "dml-train",
    .summary = "train one deep metric learning run and record it as runs/<dataset>/<group>_s<seed>/run.h5",
    .usage = "[--dataset fashion_mnist] [--loss margin] [--batch_mining distance] [--n_epochs N] [flags]",
    .flags = flags, .n_flags = n, .max_positional = 0,
  };
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  if (*resume) {
    char *rec = dml_strfmt("%s/run.h5", resume);
    struct dml_run prev = {0};
    dml_status st = dml_runrecord_read(rec, &prev);
    if (!st) st = dml_flags_from_json(&cli, prev.meta.config_json ? prev.meta.config_json : "{}");
    if (st) dml_error_prefix(st, "--resume %s", resume);
    dml_run_free(&prev);
    free(rec);
    dml_exit_on_error(cli.prog, st);
  }
  char *config = dml_flags_to_json(&cli);
  char *path = NULL;
  dml_status st = dml_train_run(&o, config, *resume ? resume : NULL, &path);
  free(config);
  free(path);
  dml_flags_free(&cli);
  dml_exit_on_error("dml-train", st);
  return 0;
}
