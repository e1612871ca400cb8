/* fuzz_graphql — the W&B GraphQL answer parser (dml_wandb_graphql_parse of analysis/wandb/client.c): data,
 * errors (strings or objects), malformed bodies; and the tolerant JSON loader it uses (dml_wj_loads, which also
 * reads W&B's NaN/Infinity). */
#include "analysis/wandb/wandb-impl.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *body = fuzz_text(data, size);
  json_t *d = NULL;
  int retry = 0;
  if (!dml_wandb_graphql_parse("fuzz.invalid", "a fuzz query", body, &d, &retry)) {
    char *s = dml_wj_dumps(d);
    free(s);
    json_decref(d);
  }
  dml_error_clear();
  free(body);
  return 0;
}
