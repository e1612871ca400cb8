/* dims — overflow-safe size arithmetic and the shape check for untrusted files. See dims.h. */
#include "common/dims.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct dml_dims_caps DML_DIMS_CAPS = {
    .max_rank = DML_DIMS_MAX_RANK,
    .max_dim = (uint64_t)INT32_MAX,
    .max_elems = (uint64_t)1 << 36,
    .max_bytes = (uint64_t)1 << 38,
};

int dml_size_mul(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
int dml_size_add(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }
int dml_u64_mul(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }

char *dml_dims_str(char *buf, size_t cap, int rank, const uint64_t *dims) {
  size_t at = 0;
  if (cap == 0) return buf;
  buf[0] = 0;
  at += (size_t)snprintf(buf, cap, "(");
  for (int k = 0; k < rank && at < cap; k++)
    at += (size_t)snprintf(buf + at, cap - at, "%s%" PRIu64, k ? ", " : "", dims[k]);
  if (at < cap) snprintf(buf + at, cap - at, ")");
  return buf;
}

dml_status dml_dims_check(const char *file, const char *what, int rank, const uint64_t *dims, size_t elem_size,
                          const char *type_name, const struct dml_dims_caps *caps, uint64_t avail, size_t *count,
                          size_t *bytes) {
  if (!caps) caps = &DML_DIMS_CAPS;
  if (!type_name) type_name = "";
  if (rank < 0 || rank > caps->max_rank)
    return dml_error(DML_ERR_FORMAT, "%s: %s has %d dimensions (at most %d supported)", file, what, rank, caps->max_rank);
  char shape[8 * 22 + 8];
  dml_dims_str(shape, sizeof shape, rank, dims);
  uint64_t n = 1;
  int over = 0;
  for (int k = 0; k < rank; k++) {
    if (dims[k] > caps->max_dim)
      return dml_error(DML_ERR_FORMAT, "%s: %s of shape %s: dimension %d is %" PRIu64 ", above the limit %" PRIu64,
                       file, what, shape, k, dims[k], caps->max_dim);
    if (!dml_u64_mul(n, dims[k], &n)) over = 1;
  }
  uint64_t b = 0;
  if (!over && !dml_u64_mul(n, (uint64_t)elem_size, &b)) over = 1;
  if (over || n > caps->max_elems || b > caps->max_bytes || b > (uint64_t)SIZE_MAX)
    return dml_error(DML_ERR_FORMAT, "%s: %s of shape %s %s is too large (%s; limits %" PRIu64 " elements, %" PRIu64
                     " bytes)", file, what, shape, type_name, over ? "the byte count overflows 64 bits" : "above the limits",
                     caps->max_elems, caps->max_bytes);
  if (b > avail)
    return dml_error(DML_ERR_FORMAT, "%s: %s of shape %s %s claims %" PRIu64 " bytes but the file can hold only %" PRIu64
                     " (truncated or forged header)", file, what, shape, type_name, b, avail);
  if (count) *count = (size_t)n;
  if (bytes) *bytes = (size_t)b;
  return DML_OK;
}

void *dml_dims_alloc(const char *file, const char *what, size_t bytes, dml_status *st) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) *st = dml_error(DML_ERR_IO, "%s: cannot allocate %zu bytes for %s: %s", file, bytes, what, strerror(errno));
  else *st = DML_OK;
  return p;
}
