/* safetensors — the one reader and writer of .safetensors files in dml (checkpoints in train/checkpoint.c,
 * network weights in train/nn/safetensors.c). Format: an 8-byte little-endian header length N, N bytes of JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}, then the data.
 * The header is untrusted: dml_safetensors_open validates all of it before anything is read — N in [2, 100 MiB]
 * and inside the file, JSON without duplicate keys, every entry an object with a known dtype, a shape of
 * non-negative integers checked by dml_dims_check (common/dims.h), and offsets with begin ≤ end inside the data
 * section whose length is exactly shape × dtype size; "__metadata__" an object of strings. One line naming the
 * file and the tensor for each way it can fail.
 *
 *   struct dml_safetensors sf;
 *   if ((st = dml_safetensors_open(path, &sf))) return st;
 *   const struct dml_st_tensor *t = dml_safetensors_find(&sf, "fc1.weight");
 *   if (t) st = dml_safetensors_read_f32(&sf, t, dst, n);   // dtype F32 and exactly n elements, or an error
 *   const char *arch = dml_safetensors_meta(&sf, "arch");  // NULL when absent
 *   dml_safetensors_close(&sf);
 */
#ifndef DML_SAFETENSORS_H
#define DML_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/dims.h"
#include "common/error.h"

#define DML_SAFETENSORS_MAX_HEADER ((uint64_t)100 << 20)

struct dml_st_tensor {
  const char *name;        /* owned by the header */
  const char *dtype;       /* "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL" ... */
  int ndim;
  uint64_t shape[DML_DIMS_MAX_RANK];
  size_t numel;
  uint64_t begin, end;     /* byte offsets inside the data section */
};

struct dml_safetensors {
  char *path;
  FILE *f;
  uint64_t data0;          /* file offset of the data section (8 + N) */
  uint64_t data_size;      /* bytes after the header */
  size_t n;
  struct dml_st_tensor *t; /* (n), in header order */
  void *header;            /* the parsed JSON (json_t *) */
};

dml_status dml_safetensors_open(const char *path, struct dml_safetensors *sf);
void dml_safetensors_close(struct dml_safetensors *sf);
const struct dml_st_tensor *dml_safetensors_find(const struct dml_safetensors *sf, const char *name);
/* The string __metadata__[key], or NULL. */
const char *dml_safetensors_meta(const struct dml_safetensors *sf, const char *key);
/* Read tensor t, which must be F32 with exactly n elements, into dst (little-endian host assumed). */
dml_status dml_safetensors_read_f32(struct dml_safetensors *sf, const struct dml_st_tensor *t, float *dst, size_t n);

/* Writing: tensors (float32) under their names, plus string metadata; written to "<path>.tmp", fsynced and
 * renamed, so a kill never leaves a torn file. */
struct dml_st_write {
  const char *name;
  const float *data;
  int ndim;
  const int *shape;        /* (ndim) */
};
dml_status dml_safetensors_write(const char *path, const struct dml_st_write *t, size_t n, const char *const *meta_keys,
                                 const char *const *meta_values, size_t n_meta);
#endif
