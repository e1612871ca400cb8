/* fuzz_safetensors — the one safetensors reader (common/safetensors.c): open (whole-header validation), every
 * metadata lookup and every F32 tensor read. */
#include "common/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = fuzz_file(data, size, ".safetensors");
  struct dml_safetensors sf;
  if (dml_safetensors_open(p, &sf)) {
    dml_error_clear();
    return 0;
  }
  (void)dml_safetensors_meta(&sf, "arch");
  for (size_t i = 0; i < sf.n; i++) {
    const struct dml_st_tensor *t = &sf.t[i];
    if (dml_safetensors_find(&sf, t->name) == NULL) abort();
    if (strcmp(t->dtype, "F32") || t->numel > ((size_t)1 << 24)) continue;
    float *buf = malloc(t->numel * sizeof *buf + 4);
    if (!dml_safetensors_read_f32(&sf, t, buf, t->numel) && t->numel) {
      volatile float sink = buf[t->numel - 1];
      (void)sink;
    }
    free(buf);
  }
  dml_safetensors_close(&sf);
  dml_error_clear();
  return 0;
}
