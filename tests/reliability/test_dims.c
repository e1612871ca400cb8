/* test_dims — the shared shape check (common/dims.h) on hand cases: overflow in 64 bits, caps, what the file
 * holds, and the exact counts when it passes. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/dims.h"

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { fails++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static void expect_err(const char *what, int rank, const uint64_t *d, size_t es, uint64_t avail, const char *pat) {
  size_t c = 7, b = 7;
  dml_status st = dml_dims_check("f.h5", what, rank, d, es, "float32", NULL, avail, &c, &b);
  CHECK(st == DML_ERR_FORMAT, "%s: expected an error, got %d", what, st);
  CHECK(strstr(dml_error_message(), pat) && strstr(dml_error_message(), "f.h5") && strstr(dml_error_message(), what),
        "%s: message '%s' lacks '%s'", what, dml_error_message(), pat);
  CHECK(c == 7 && b == 7, "%s: outputs written on error", what);
}

int main(void) {
  size_t s;
  CHECK(!dml_size_mul(SIZE_MAX / 2 + 1, 2, &s), "size_mul must overflow");
  CHECK(dml_size_mul(1u << 20, 1u << 20, &s) && s == (size_t)1 << 40, "size_mul exact");
  CHECK(!dml_size_add(SIZE_MAX, 1, &s), "size_add must overflow");
  uint64_t u;
  CHECK(!dml_u64_mul((uint64_t)1 << 32, (uint64_t)1 << 32, &u), "u64_mul must overflow");

  /* three dimensions under the per-dimension cap whose product overflows 64 bits */
  uint64_t big3[3] = {INT32_MAX, INT32_MAX, INT32_MAX};
  expect_err("tensor 'a'", 3, big3, 4, UINT64_MAX, "overflows 64 bits");
  /* the probe's shape: 2^20 x 2^42 x 4 bytes = 2^64 (wrapped to 0 before) */
  uint64_t wrap[2] = {(uint64_t)1 << 20, (uint64_t)1 << 42};
  expect_err("dataset 'e'", 2, wrap, 4, UINT64_MAX, "above the limit");
  uint64_t many[2] = {(uint64_t)1 << 30, (uint64_t)1 << 10}; /* 2^40 elements > 2^36 cap */
  expect_err("dataset 'm'", 2, many, 1, UINT64_MAX, "too large");
  uint64_t ok[2] = {1000, 128};
  expect_err("dataset 'h'", 2, ok, 4, 512000 - 1, "claims 512000 bytes but the file can hold only 511999");
  uint64_t r9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  expect_err("dataset 'r'", 9, r9, 4, UINT64_MAX, "9 dimensions");

  size_t c = 0, b = 0;
  CHECK(dml_dims_check("f.h5", "ok", 2, ok, 4, "float32", NULL, 512000, &c, &b) == DML_OK && c == 128000 && b == 512000,
        "exact fit must pass: %zu %zu", c, b);
  uint64_t zero[2] = {0, (uint64_t)1 << 30};
  CHECK(dml_dims_check("f.h5", "z", 2, zero, 4, "float32", NULL, 0, &c, &b) == DML_OK && c == 0 && b == 0, "empty passes");
  CHECK(dml_dims_check("f.h5", "s", 0, NULL, 8, "float64", NULL, 8, &c, &b) == DML_OK && c == 1 && b == 8, "scalar");
  dml_status st;
  void *p = dml_dims_alloc("f.h5", "x", (size_t)1 << 62, &st);
  CHECK(!p && st == DML_ERR_IO && strstr(dml_error_message(), "cannot allocate"), "huge alloc must fail cleanly");
  printf("%d passed, %d failed\n", fails ? 0 : 1, fails ? 1 : 0);
  return fails != 0;
}
