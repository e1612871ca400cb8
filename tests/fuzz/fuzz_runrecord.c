/* fuzz_runrecord — the run-record reader (common/runrecord.c over common/h5.c) on arbitrary bytes: probe,
 * full read (metadata, every series, train rows) and both embedding sets of the test split. The `paths` strings
 * are not requested: reading variable-length string data of a forged file crashes inside libhdf5 1.10.8 itself
 * (H5HG_read, h5dump crashes the same way; see tests/fuzz/README.md), and no program of dml reads them. */
#include "common/runrecord.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_file(data, size, ".h5");
  (void)dml_runrecord_is_record(p);
  struct dml_run run;
  if (!dml_runrecord_read(p, &run)) dml_run_free(&run);
  for (int best = 0; best < 2; best++) {
    float *e = NULL;
    int32_t *l = NULL;
    size_t n = 0, d = 0;
    if (!dml_runrecord_read_embeddings(p, "test", best, &e, &n, &d, &l, NULL)) {
      volatile float sink = n && d ? e[n * d - 1] : 0;
      (void)sink;
    }
    free(e);
    free(l);
  }
  dml_error_clear();
  return 0;
}
