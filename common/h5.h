/* h5 — the HDF5 layer every reader of an untrusted HDF5 file goes through (run records in common/runrecord.c,
 * plain embedding files in eval/input.c, criterion batches in train/criterion_main.c). It opens files safely
 * and reads datasets only after their stated shape passed dml_dims_check (common/dims.h): caps on rank,
 * dimensions, elements and bytes, and what the file can hold (a dataset without filters must have its bytes
 * stored in the file; a compressed one may expand at most 1100× what it stores, beyond deflate's 1032:1).
 * Values are converted without clamping: int64 labels ≥ 2^31, float64 values above FLT_MAX, a fraction or NaN
 * read as int32 are an error. Every failure is one line naming the file and the dataset; HDF5's own error
 * printing is off.
 *
 *   dml_h5_id f;
 *   if ((st = dml_h5_open_read(path, &f))) return st;
 *   struct dml_h5_shape sh;
 *   float *emb;
 *   st = dml_h5_read_alloc(f, path, "embeddings", DML_H5_F32, 2, NULL, &sh, (void **)&emb);
 *   dml_h5_close(f);
 */
#ifndef DML_H5_H
#define DML_H5_H
#include <stddef.h>
#include <stdint.h>

#include "common/dims.h"
#include "common/error.h"

typedef int64_t dml_h5_id; /* an hid_t (int64_t since HDF5 1.10) */

enum dml_h5_class { DML_H5_CLASS_OTHER, DML_H5_CLASS_INT, DML_H5_CLASS_FLOAT, DML_H5_CLASS_STRING };
enum dml_h5_mem { DML_H5_F32, DML_H5_F64, DML_H5_I32 };

struct dml_h5_shape {
  int rank;
  uint64_t dims[DML_DIMS_MAX_RANK];
  enum dml_h5_class cls;
};

/* Switch HDF5's automatic error printing off (idempotent; every function here calls it). */
void dml_h5_quiet(void);
/* Open an existing file read-only (a regular file with the HDF5 signature whose root object header lies inside
 * the file, see dml_h5_precheck; file locking off, so readers never block a writer). Errors: missing, folder, device, not HDF5, corrupt — one line naming path. */
dml_status dml_h5_open_read(const char *path, dml_h5_id *file);
/* Before libhdf5 opens `path`: find the superblock and check the root group's object header as dml_h5_attr_str
 * does (chunks inside the file, attribute messages sound). A forged one is an error naming the file. */
dml_status dml_h5_precheck(const char *path);
/* Close a file or group id opened by this layer or by H5Fopen/H5Gopen (ignores ids < 0). */
void dml_h5_close(dml_h5_id id);
/* 1 when every level of the link path `name` ("a/b/c") exists under loc as a hard link whose object header
 * passed dml's check (chunks inside the file, a group's local heap and B-tree sound) — libhdf5 1.10 trusts
 * the sizes it finds there. 0 otherwise (a forged level too: use dml_h5_open_group or the readers to get its
 * error). */
int dml_h5_has(dml_h5_id loc, const char *name);
/* Open group loc/name (a path) after the same checks: *group -1 and DML_OK when absent or not a group; an error
 * naming file when an object header on the way is forged. */
dml_status dml_h5_open_group(dml_h5_id loc, const char *file, const char *name, dml_h5_id *group);
/* 1 when loc/name exists and is a group. */
int dml_h5_is_group(dml_h5_id loc, const char *name);
/* Rank, dimensions and class of dataset loc/name (rank above DML_DIMS_MAX_RANK is an error). */
dml_status dml_h5_shape(dml_h5_id loc, const char *file, const char *name, struct dml_h5_shape *s);
/* Read numeric dataset loc/name as `mem` into a new buffer (*out, free()). want_rank > 0 requires that rank.
 * caps NULL = DML_DIMS_CAPS. shape (may be NULL) receives the shape. */
dml_status dml_h5_read_alloc(dml_h5_id loc, const char *file, const char *name, enum dml_h5_mem mem, int want_rank,
                             const struct dml_dims_caps *caps, struct dml_h5_shape *shape, void **out);
/* Read numeric dataset loc/name as `mem` into dst, which holds exactly `count` elements (the dataset must have
 * that many). */
dml_status dml_h5_read_into(dml_h5_id loc, const char *file, const char *name, enum dml_h5_mem mem, void *dst,
                            size_t count);
/* Scalar string attribute `name` of loc (variable or fixed length) as a new string in *out (free()); *out NULL
 * when loc has no such attribute, it is not a scalar string, or it is a null string. Variable-length strings
 * are decoded by dml from the file's global heap, checked first (libhdf5 1.10 crashes on forged heap objects):
 * forged storage is an error naming the file and the attribute. */
dml_status dml_h5_attr_str(dml_h5_id loc, const char *file, const char *name, char **out);
/* Scalar integer attribute `name` of loc into *v: 1 when read, 0 when absent or not an integer scalar, -1 with a
 * dml_error naming file when the object header is forged. Before any attribute call, dml_h5_attr_str and
 * dml_h5_attr_ll check the object's header themselves (libhdf5 1.10 trusts the sizes in attribute messages). */
int dml_h5_attr_ll(dml_h5_id loc, const char *file, const char *name, long long *v);
/* The 1-D variable-length string dataset loc/name of exactly n elements, decoded and checked as for
 * dml_h5_attr_str, into *out (n strings + NULL; free each and the array). *out NULL and DML_OK when loc/name
 * is absent or not such a dataset; an error when its storage is forged. */
dml_status dml_h5_read_strings(dml_h5_id loc, const char *file, const char *name, size_t n, char ***out);
#endif
