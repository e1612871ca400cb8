/* fuzz_batch — dml-criterion's batch reader (read_batch and load_params of train/criterion_main.c, compiled in
 * here with its main renamed, so the harness exercises the program's own static functions). */
#define main dml_criterion_main
#include "train/criterion_main.c"
#undef main
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_file(data, size, ".h5");
  struct batch b;
  hid_t f = -1;
  if (!read_batch(p, &b, &f)) {
    volatile float sink = b.emb[(size_t)b.B * (size_t)b.D - 1] + (float)b.labels[b.B - 1];
    (void)sink;
    H5Fclose(f);
  }
  free(b.emb);
  free(b.labels);
  free(b.tuples);
  dml_error_clear();
  return 0;
}
