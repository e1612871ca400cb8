/* dml-train — one training run. Flags and defaults follow the reference parameters.py, so a line of the
 * reference run scripts works with `python main.py` replaced by `dml-train`. */
#include <stdio.h>
#include <stdlib.h>

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
