/* fuzz_config — the --resume path of dml-train: a stored config JSON applied over dml-train's whole flag table
 * (dml_flags_from_json, every flag type), then written back (dml_flags_to_json), as train/main.c does. */
#include "common/flags.h"
#include "fuzz.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *js = fuzz_text(data, size);
  struct dml_train_opts o = {0};
  struct dml_train_cli tc;
  dml_train_cli_init(&tc, &o, NULL, 0);
  tc.cli.prog = "dml-train";
  tc.cli.max_positional = 0;
  char *argv[] = {"dml-train", NULL};
  if (!dml_flags_parse(&tc.cli, 1, argv) && !dml_flags_from_json(&tc.cli, js)) {
    char *back = dml_flags_to_json(&tc.cli);
    free(back);
  }
  dml_train_cli_free(&tc);
  free(js);
  dml_error_clear();
  return 0;
}
