/* dml-sync — upload the W&B rows a training run could not deliver online (see sync.c). */
#include <stdio.h>

#include "analysis/wandb/wandb.h"
#include "common/flags.h"

int main(int argc, char **argv) {
  struct dml_cli cli = {.prog = "dml-sync",
                        .summary = "upload a run's undelivered W&B rows (<RUN_DIR>/wandb-pending.jsonl) and its completion",
                        .usage = "RUN_DIR [RUN_DIR ...]",
                        .flags = NULL, .n_flags = 0, .min_positional = 1, .max_positional = -1};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  dml_status first = DML_OK;
  for (int i = 0; i < cli.n_positional; i++) {
    size_t sent = 0;
    dml_status st = dml_wandb_sync(cli.positional[i], &sent, stdout);
    if (st) {
      fprintf(stderr, "dml-sync: error: %s: %s\n", cli.positional[i], dml_error_message());
      if (!first) first = st;
    }
  }
  dml_flags_free(&cli);
  if (first) dml_exit_on_error("dml-sync", dml_error(first, "some runs were not synced (see above)"));
  return 0;
}
