/* fuzz_plain — dml-eval's input reader (eval/input.c): a run record or a plain HDF5 embeddings file, at the
 * root and in the group "test". */
#include "eval/input.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_file(data, size, ".h5");
  const char *splits[2] = {NULL, "test"};
  for (int s = 0; s < 2; s++) {
    struct dml_eval_input in;
    if (!dml_eval_read_input(p, splits[s], 0, &in)) {
      volatile float sink = in.n && in.d ? in.emb[in.n * in.d - 1] + (float)in.labels[in.n - 1] : 0;
      (void)sink;
      dml_eval_input_free(&in);
    }
  }
  dml_error_clear();
  return 0;
}
