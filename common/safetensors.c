/* safetensors — the one .safetensors reader and writer. See safetensors.h.
 * Never trusts the header: every offset and shape is validated at open, with overflow-safe arithmetic
 * (dims.h), before a byte of tensor data is read or a buffer sized from it. */
#include "common/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/output.h"

static size_t dtype_size(const char *d) {
  static const struct { const char *name; size_t size; } k[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
      {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  for (size_t i = 0; i < sizeof k / sizeof *k; i++)
    if (!strcmp(d, k[i].name)) return k[i].size;
  return 0;
}

void dml_safetensors_close(struct dml_safetensors *sf) {
  if (sf->f) fclose(sf->f);
  json_decref(sf->header);
  free(sf->t);
  free(sf->path);
  memset(sf, 0, sizeof *sf);
}

/* One header entry into t; an error names the file and the tensor. */
static dml_status parse_entry(const char *path, const char *key, json_t *v, uint64_t data_size, struct dml_st_tensor *t) {
  if (!json_is_object(v)) return dml_error(DML_ERR_FORMAT, "%s: header entry '%s' is not an object", path, key);
  json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
  if (!json_is_string(dt)) return dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has no dtype string", path, key);
  size_t es = dtype_size(json_string_value(dt));
  if (!es) return dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has unknown dtype '%s'", path, key, json_string_value(dt));
  if (!json_is_array(shape) || json_array_size(shape) > DML_DIMS_MAX_RANK)
    return dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has no shape array of at most %d dimensions", path, key, DML_DIMS_MAX_RANK);
  memset(t, 0, sizeof *t);
  t->name = key;
  t->dtype = json_string_value(dt);
  t->ndim = (int)json_array_size(shape);
  for (int k = 0; k < t->ndim; k++) {
    json_t *x = json_array_get(shape, (size_t)k);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
      return dml_error(DML_ERR_FORMAT, "%s: tensor '%s': shape entry %d is not a non-negative integer", path, key, k);
    t->shape[k] = (uint64_t)json_integer_value(x);
  }
  if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0)) ||
      !json_is_integer(json_array_get(offs, 1)))
    return dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has no data_offsets [begin, end]", path, key);
  json_int_t b = json_integer_value(json_array_get(offs, 0)), e = json_integer_value(json_array_get(offs, 1));
  if (b < 0 || e < b || (uint64_t)e > data_size)
    return dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has data_offsets [%lld, %lld] outside the %" PRIu64 "-byte data section",
                     path, key, (long long)b, (long long)e, data_size);
  char what[300];
  snprintf(what, sizeof what, "tensor '%.256s'", key);
  size_t bytes = 0;
  dml_status st = dml_dims_check(path, what, t->ndim, t->shape, es, t->dtype, NULL, (uint64_t)(e - b), &t->numel, &bytes);
  if (st) return st;
  if ((uint64_t)bytes != (uint64_t)(e - b))
    return dml_error(DML_ERR_FORMAT, "%s: tensor '%s': data_offsets span %lld bytes, its shape and dtype need %zu", path, key,
                     (long long)(e - b), bytes);
  t->begin = (uint64_t)b;
  t->end = (uint64_t)e;
  return DML_OK;
}

dml_status dml_safetensors_open(const char *path, struct dml_safetensors *sf) {
  memset(sf, 0, sizeof *sf);
  struct stat sb;
  if (stat(path, &sb)) return dml_error(DML_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode)) return dml_error(DML_ERR_FORMAT, "%s is not a regular file, not a safetensors file", path);
  FILE *f = fopen(path, "rb");
  if (!f) return dml_error(DML_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  sf->f = f;
  sf->path = xstrdup(path);
  uint64_t fsize = (uint64_t)sb.st_size;
  unsigned char le[8];
  uint64_t hl = 0;
  if (fsize < 8 || fread(le, 1, 8, f) != 8) {
    dml_safetensors_close(sf);
    return dml_error(DML_ERR_FORMAT, "%s: not a safetensors file (too short)", path);
  }
  for (int k = 0; k < 8; k++) hl |= (uint64_t)le[k] << (8 * k);
  if (hl < 2 || hl > DML_SAFETENSORS_MAX_HEADER || hl > fsize - 8) {
    dml_safetensors_close(sf);
    return dml_error(DML_ERR_FORMAT, "%s: not a safetensors file (header size %" PRIu64 ", file size %" PRIu64 ")", path, hl,
                     fsize);
  }
  char *js = xmalloc((size_t)hl + 1);
  dml_status st = DML_OK;
  if (fread(js, 1, (size_t)hl, f) != (size_t)hl) st = dml_error(DML_ERR_FORMAT, "%s: truncated header", path);
  json_error_t je;
  json_t *h = NULL;
  if (!st && !(h = json_loadb(js, (size_t)hl, JSON_REJECT_DUPLICATES, &je)))
    st = dml_error(DML_ERR_FORMAT, "%s: bad safetensors header: %s (at byte %d)", path, je.text, je.position);
  free(js);
  if (!st && !json_is_object(h)) st = dml_error(DML_ERR_FORMAT, "%s: safetensors header is not a JSON object", path);
  sf->header = h;
  sf->data0 = 8 + hl;
  sf->data_size = fsize - 8 - hl;
  if (!st) {
    json_t *meta = json_object_get(h, "__metadata__");
    if (meta && !json_is_object(meta)) st = dml_error(DML_ERR_FORMAT, "%s: __metadata__ is not an object", path);
    const char *key;
    json_t *v;
    if (!st && meta) json_object_foreach(meta, key, v) {
      if (!json_is_string(v)) {
        st = dml_error(DML_ERR_FORMAT, "%s: __metadata__ '%s' is not a string", path, key);
        break;
      }
    }
    sf->t = xcalloc(json_object_size(h) + 1, sizeof *sf->t);
    if (!st) json_object_foreach(h, key, v) {
      if (!strcmp(key, "__metadata__")) continue;
      if ((st = parse_entry(path, key, v, sf->data_size, &sf->t[sf->n]))) break;
      sf->n++;
    }
  }
  if (st) dml_safetensors_close(sf);
  return st;
}

const struct dml_st_tensor *dml_safetensors_find(const struct dml_safetensors *sf, const char *name) {
  for (size_t i = 0; i < sf->n; i++)
    if (!strcmp(sf->t[i].name, name)) return &sf->t[i];
  return NULL;
}

const char *dml_safetensors_meta(const struct dml_safetensors *sf, const char *key) {
  return json_string_value(json_object_get(json_object_get(sf->header, "__metadata__"), key));
}

dml_status dml_safetensors_read_f32(struct dml_safetensors *sf, const struct dml_st_tensor *t, float *dst, size_t n) {
  if (strcmp(t->dtype, "F32"))
    return dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32", sf->path, t->name, t->dtype);
  if (t->numel != n)
    return dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has %zu elements, expected %zu", sf->path, t->name, t->numel, n);
  if (n == 0) return DML_OK;
  uint64_t at = sf->data0 + t->begin;
  if (at > (uint64_t)INT64_MAX || fseeko(sf->f, (off_t)at, SEEK_SET) || fread(dst, 4, n, sf->f) != n)
    return dml_error(DML_ERR_FORMAT, "%s: data of tensor '%s' is truncated", sf->path, t->name);
  return DML_OK;
}

dml_status dml_safetensors_write(const char *path, const struct dml_st_write *t, size_t n, const char *const *meta_keys,
                                 const char *const *meta_values, size_t n_meta) {
  dml_status st = dml_output_check(path, "safetensors output");
  if (st) return st;
  json_t *h = json_object(), *meta = json_object();
  size_t off = 0;
  size_t *numel = xcalloc(n + 1, sizeof *numel);
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_object(), *shape = json_array();
    numel[i] = 1;
    for (int k = 0; k < t[i].ndim; k++) {
      json_array_append_new(shape, json_integer(t[i].shape[k]));
      numel[i] *= (size_t)t[i].shape[k];
    }
    json_object_set_new(e, "dtype", json_string("F32"));
    json_object_set_new(e, "shape", shape);
    size_t bytes = numel[i] * 4;
    json_object_set_new(e, "data_offsets", json_pack("[II]", (json_int_t)off, (json_int_t)(off + bytes)));
    json_object_set_new(h, t[i].name, e);
    off += bytes;
  }
  for (size_t i = 0; i < n_meta; i++) json_object_set_new(meta, meta_keys[i], json_string(meta_values[i]));
  json_object_set_new(h, "__metadata__", meta);
  char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(h);
  size_t hl = strlen(js), pad = (8 - hl % 8) % 8; /* pad the header with spaces to 8-byte alignment */
  char *tmp;
  FILE *f = dml_output_open_tmp(path, &tmp, &st);
  if (f) {
    uint64_t len = hl + pad;
    unsigned char le[8];
    for (int k = 0; k < 8; k++) le[k] = (unsigned char)(len >> (8 * k));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(js, 1, hl, f) == hl && fwrite("        ", 1, pad, f) == pad;
    for (size_t i = 0; ok && i < n; i++) ok = fwrite(t[i].data, 4, numel[i], f) == numel[i];
    int err = ok ? 0 : errno;
    st = dml_output_close(f, tmp);
    if (!ok && !st) st = dml_error(DML_ERR_IO, "writing %s failed: %s", tmp, strerror(err));
    if (st) unlink(tmp);
    else st = dml_output_commit(tmp, path, "safetensors output");
  }
  free(tmp);
  free(numel);
  free(js);
  return st;
}
