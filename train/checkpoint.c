/* checkpoint — .safetensors writing and reading (8-byte little-endian header length, a JSON header of
 * {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the raw little-endian data). */
#include "train/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t numel(const struct dml_ckpt_tensor *t) {
  size_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
  return n;
}

dml_status dml_checkpoint_write(const char *path, const struct dml_ckpt_tensor *t, size_t n, const char *const *meta_keys,
                                const char *const *meta_values, size_t n_meta) {
  json_t *h = json_object(), *meta = json_object();
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_object(), *shape = json_array();
    for (int k = 0; k < t[i].ndim; k++) json_array_append_new(shape, json_integer(t[i].shape[k]));
    json_object_set_new(e, "dtype", json_string("F32"));
    json_object_set_new(e, "shape", shape);
    size_t bytes = numel(&t[i]) * 4;
    json_object_set_new(e, "data_offsets", json_pack("[II]", (json_int_t)off, (json_int_t)(off + bytes)));
    json_object_set_new(h, t[i].name, e);
    off += bytes;
  }
  for (size_t i = 0; i < n_meta; i++) json_object_set_new(meta, meta_keys[i], json_string(meta_values[i]));
  json_object_set_new(h, "__metadata__", meta);
  char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(h);
  size_t hl = strlen(js), pad = (8 - hl % 8) % 8; /* pad the header with spaces to 8-byte alignment */
  char *tmp = dml_strfmt("%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  dml_status st = DML_OK;
  if (!f) {
    st = dml_error(DML_ERR_IO, "cannot write checkpoint %s: %s", tmp, strerror(errno));
  } else {
    uint64_t len = hl + pad;
    unsigned char le[8];
    for (int k = 0; k < 8; k++) le[k] = (unsigned char)(len >> (8 * k));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(js, 1, hl, f) == hl && fwrite("        ", 1, pad, f) == pad;
    for (size_t i = 0; ok && i < n; i++) ok = fwrite(t[i].data, 4, numel(&t[i]), f) == numel(&t[i]);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) || !ok) st = dml_error(DML_ERR_IO, "writing checkpoint %s failed: %s", tmp, strerror(errno));
    else if (rename(tmp, path)) st = dml_error(DML_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
  }
  free(tmp);
  free(js);
  return st;
}

dml_status dml_checkpoint_read(const char *path, const struct dml_ckpt_tensor *t, size_t n, int allow_extra,
                               const char *const *meta_keys, char **meta_out, size_t n_meta) {
  FILE *f = fopen(path, "rb");
  if (!f) return dml_error(DML_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
  unsigned char le[8];
  dml_status st = DML_OK;
  uint64_t hl = 0;
  if (fread(le, 1, 8, f) != 8) st = dml_error(DML_ERR_FORMAT, "%s: not a safetensors file (too short)", path);
  for (int k = 0; k < 8; k++) hl |= (uint64_t)le[k] << (8 * k);
  if (!st && (hl == 0 || hl > (100u << 20))) st = dml_error(DML_ERR_FORMAT, "%s: not a safetensors file (header size %llu)", path, (unsigned long long)hl);
  char *js = NULL;
  json_t *h = NULL;
  if (!st) {
    js = xmalloc(hl + 1);
    if (fread(js, 1, hl, f) != hl) st = dml_error(DML_ERR_FORMAT, "%s: truncated header", path);
    js[hl] = 0;
  }
  json_error_t je;
  if (!st && !(h = json_loads(js, 0, &je))) st = dml_error(DML_ERR_FORMAT, "%s: bad safetensors header: %s", path, je.text);
  long data0 = 8 + (long)hl;
  for (size_t i = 0; !st && i < n; i++) {
    json_t *e = json_object_get(h, t[i].name);
    if (!e) {
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' is missing", path, t[i].name);
      break;
    }
    const char *dtype = json_string_value(json_object_get(e, "dtype"));
    json_t *shape = json_object_get(e, "shape"), *offs = json_object_get(e, "data_offsets");
    int same = dtype && !strcmp(dtype, "F32") && json_array_size(shape) == (size_t)t[i].ndim;
    for (int k = 0; same && k < t[i].ndim; k++) same = json_integer_value(json_array_get(shape, k)) == t[i].shape[k];
    if (!same) {
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has dtype %s and another shape than expected", path, t[i].name,
                     dtype ? dtype : "?");
      break;
    }
    long b = (long)json_integer_value(json_array_get(offs, 0)), e2 = (long)json_integer_value(json_array_get(offs, 1));
    if ((size_t)(e2 - b) != numel(&t[i]) * 4 || fseek(f, data0 + b, SEEK_SET) ||
        fread(t[i].data, 4, numel(&t[i]), f) != numel(&t[i]))
      st = dml_error(DML_ERR_FORMAT, "%s: data of tensor '%s' is truncated", path, t[i].name);
  }
  if (!st && !allow_extra) {
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
      if (!strcmp(key, "__metadata__")) continue;
      int known = 0;
      for (size_t i = 0; i < n && !known; i++) known = !strcmp(key, t[i].name);
      if (!known) {
        st = dml_error(DML_ERR_FORMAT, "%s: unexpected tensor '%s'", path, key);
        break;
      }
    }
  }
  for (size_t i = 0; i < n_meta; i++) {
    const char *v = h ? json_string_value(json_object_get(json_object_get(h, "__metadata__"), meta_keys[i])) : NULL;
    meta_out[i] = !st && v ? xstrdup(v) : NULL;
  }
  json_decref(h);
  free(js);
  fclose(f);
  return st;
}
