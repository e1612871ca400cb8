/* fuzz_runrecord — the run-record reader (common/runrecord.c over common/h5.c) on arbitrary bytes: probe,
 * full read (metadata, every series, train rows), one attribute, and both embedding sets of the test split with
 * their `paths` (variable-length strings, which dml decodes from the global heap itself: libhdf5 1.10.8's own
 * H5HG_read crashes on forged heap objects, see tests/fuzz/README.md). */
#include "common/runrecord.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_file(data, size, ".h5");
  (void)dml_runrecord_is_record(p);
  struct dml_run run;
  if (!dml_runrecord_read(p, &run)) dml_run_free(&run);
  char *v = NULL;
  if (!dml_runrecord_read_attr(p, "error", &v)) free(v);
  for (int best = 0; best < 2; best++) {
    float *e = NULL;
    int32_t *l = NULL;
    char **paths = NULL;
    size_t n = 0, d = 0;
    if (!dml_runrecord_read_embeddings(p, "test", best, &e, &n, &d, &l, &paths)) {
      volatile float sink = n && d ? e[n * d - 1] : 0;
      volatile size_t len = paths && n ? strlen(paths[n - 1]) : 0;
      (void)sink;
      (void)len;
    }
    for (size_t i = 0; paths && i < n; i++) free(paths[i]);
    free(paths);
    free(e);
    free(l);
  }
  dml_error_clear();
  return 0;
}
