/* checkpoint — training state in and out of .safetensors through the one safetensors module
 * (common/safetensors.h, which validates the whole header before reading). */
#include "train/checkpoint.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/safetensors.h"

dml_status dml_checkpoint_write(const char *path, const struct dml_ckpt_tensor *t, size_t n, const char *const *meta_keys,
                                const char *const *meta_values, size_t n_meta) {
  struct dml_st_write *w = xcalloc(n + 1, sizeof *w);
  for (size_t i = 0; i < n; i++) w[i] = (struct dml_st_write){t[i].name, t[i].data, t[i].ndim, t[i].shape};
  dml_status st = dml_safetensors_write(path, w, n, meta_keys, meta_values, n_meta);
  free(w);
  return st;
}

dml_status dml_checkpoint_read(const char *path, const struct dml_ckpt_tensor *t, size_t n, int allow_extra,
                               const char *const *meta_keys, char **meta_out, size_t n_meta) {
  for (size_t i = 0; i < n_meta; i++) meta_out[i] = NULL;
  struct dml_safetensors sf;
  dml_status st = dml_safetensors_open(path, &sf);
  if (st) return dml_error_prefix(st, "checkpoint");
  for (size_t i = 0; !st && i < n; i++) {
    const struct dml_st_tensor *e = dml_safetensors_find(&sf, t[i].name);
    if (!e) {
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' is missing", path, t[i].name);
      break;
    }
    int same = !strcmp(e->dtype, "F32") && e->ndim == t[i].ndim;
    size_t want = 1;
    for (int k = 0; k < t[i].ndim; k++) {
      same = same && t[i].shape[k] >= 0 && e->shape[k] == (uint64_t)t[i].shape[k];
      want *= (size_t)(t[i].shape[k] > 0 ? t[i].shape[k] : 0);
    }
    if (!same) {
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has dtype %s and another shape than expected", path, t[i].name, e->dtype);
      break;
    }
    st = dml_safetensors_read_f32(&sf, e, t[i].data, want);
  }
  for (size_t i = 0; !st && !allow_extra && i < sf.n; i++) {
    int known = 0;
    for (size_t j = 0; j < n && !known; j++) known = !strcmp(sf.t[i].name, t[j].name);
    if (!known) st = dml_error(DML_ERR_FORMAT, "%s: unexpected tensor '%s'", path, sf.t[i].name);
  }
  for (size_t i = 0; !st && i < n_meta; i++) {
    const char *v = dml_safetensors_meta(&sf, meta_keys[i]);
    meta_out[i] = v ? xstrdup(v) : NULL;
  }
  dml_safetensors_close(&sf);
  return st;
}
