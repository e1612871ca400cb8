/* dims — overflow-safe size arithmetic and the one shape check for untrusted files (issue 15, point 1).
 * Every reader of a file whose header states sizes (HDF5 datasets, safetensors headers, image headers) checks
 * the stated shape here before it allocates: each dimension, the element count and the byte count against sane
 * caps, and the byte count against what the file can hold. A failure is one DML_ERR_FORMAT line naming the file
 * and the dataset/tensor, e.g.
 *   "x.h5: dataset '/embeddings' of shape (1048576, 4398046511104) float32 claims 18446744073709551616 bytes ..."
 *
 *   uint64_t dims[2] = {n, d};
 *   size_t count, bytes;
 *   if ((st = dml_dims_check(path, "embeddings", 2, dims, 4, "float32", &DML_DIMS_CAPS, avail, &count, &bytes)))
 *     return st;
 *   float *x = dml_dims_alloc(path, "embeddings", bytes, &st);   // NULL + error instead of an abort
 */
#ifndef DML_DIMS_H
#define DML_DIMS_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define DML_DIMS_MAX_RANK 8

struct dml_dims_caps {
  int max_rank;        /* 1 .. DML_DIMS_MAX_RANK */
  uint64_t max_dim;    /* each dimension */
  uint64_t max_elems;  /* product of the dimensions */
  uint64_t max_bytes;  /* product × element size */
};
/* rank ≤ 8, dimensions < 2^31 (indices are int32 downstream), ≤ 2^36 elements, ≤ 256 GiB. */
extern const struct dml_dims_caps DML_DIMS_CAPS;

/* a·b and a+b on size_t / uint64_t: 1 when exact, 0 on overflow (*out then unspecified). */
int dml_size_mul(size_t a, size_t b, size_t *out);
int dml_size_add(size_t a, size_t b, size_t *out);
int dml_u64_mul(uint64_t a, uint64_t b, uint64_t *out);

/* Check dims[0..rank) of `what` in `file` (elements of elem_size bytes, type_name for the message; caps NULL =
 * DML_DIMS_CAPS) and that the byte count is at most `avail` (what the file can hold; UINT64_MAX = unknown).
 * On success *count and *bytes (either may be NULL) receive the element and byte counts. */
dml_status dml_dims_check(const char *file, const char *what, int rank, const uint64_t *dims, size_t elem_size,
                          const char *type_name, const struct dml_dims_caps *caps, uint64_t avail, size_t *count,
                          size_t *bytes);
/* malloc(bytes) (at least 1 byte) or NULL with a DML_ERR_IO error naming the file and `what` (no abort: a
 * stated size that passed the caps can still exceed this machine's memory). */
void *dml_dims_alloc(const char *file, const char *what, size_t bytes, dml_status *st);
/* "(a, b, c)" into buf (cap bytes); returns buf. */
char *dml_dims_str(char *buf, size_t cap, int rank, const uint64_t *dims);
#endif
