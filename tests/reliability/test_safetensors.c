/* test_safetensors — the one safetensors reader (common/safetensors.h) against the crafted headers of
 * tests/fixtures/hostile/st_*.safetensors (each must be refused with a line naming the file and the cause) and a
 * write → read round trip, including the checkpoint wrapper and a refused device-node output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/safetensors.h"

static int fails = 0, checks = 0;
#define CHECK(c, ...) do { checks++; if (!(c)) { fails++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

#define DIR "tests/fixtures/hostile/"

static void refused(const char *file, const char *pat) {
  char path[256];
  snprintf(path, sizeof path, DIR "%s", file);
  struct dml_safetensors sf;
  dml_status st = dml_safetensors_open(path, &sf);
  CHECK(st == DML_ERR_FORMAT, "%s: expected DML_ERR_FORMAT, got %d (%s)", file, st, dml_error_message());
  CHECK(strstr(dml_error_message(), path) && strstr(dml_error_message(), pat), "%s: message '%s' lacks '%s'", file,
        dml_error_message(), pat);
  if (!st) dml_safetensors_close(&sf);
  printf("refused %-36s %s\n", file, dml_error_message());
}

int main(void) {
  refused("st_hl_huge.safetensors", "header size 9223372036854775808");
  refused("st_hl_beyond.safetensors", "header size 4096");
  refused("st_hl_zero.safetensors", "header size 0");
  refused("st_offsets_out.safetensors", "outside the 16-byte data section");
  refused("st_offsets_reversed.safetensors", "data_offsets [16, 0]");
  refused("st_shape_overflow.safetensors", "tensor 'w' of shape (4294967296, 4294967296, 16)");
  refused("st_shape_negative.safetensors", "not a non-negative integer");
  refused("st_shape_span.safetensors", "claims 24 bytes but the file can hold only 16");
  refused("st_dtype_unknown.safetensors", "unknown dtype 'Q4'");
  refused("st_duplicate.safetensors", "duplicate");
  refused("st_not_object.safetensors", "not a JSON object");
  refused("st_bad_json.safetensors", "bad safetensors header");
  refused("st_meta_not_string.safetensors", "'epoch' is not a string");

  struct dml_safetensors sf;
  dml_status st = dml_safetensors_open(DIR "st_ok.safetensors", &sf);
  CHECK(!st, "st_ok: %s", dml_error_message());
  if (!st) {
    const struct dml_st_tensor *t = dml_safetensors_find(&sf, "w");
    float v[4] = {0};
    CHECK(t && !dml_safetensors_read_f32(&sf, t, v, 4) && v[0] == 1 && v[3] == 4, "st_ok data");
    CHECK(t && dml_safetensors_read_f32(&sf, t, v, 3) == DML_ERR_FORMAT, "element count mismatch refused");
    CHECK(dml_safetensors_meta(&sf, "arch") && !strcmp(dml_safetensors_meta(&sf, "arch"), "x"), "metadata");
    dml_safetensors_close(&sf);
  }

  /* round trip through the writer */
  char tmpl[] = "/tmp/dml_st_XXXXXX";
  char *d = mkdtemp(tmpl);
  char *p = dml_strfmt("%s/rt.safetensors", d);
  float a[6] = {1, -2, 3.5f, 4, 5, 6}, b[6] = {0};
  int sa[2] = {2, 3}, sb[1] = {0};
  struct dml_st_write w[2] = {{"a", a, 2, sa}, {"empty", b, 1, sb}};
  const char *k[] = {"epoch"}, *vv[] = {"7"};
  CHECK(!dml_safetensors_write(p, w, 2, k, vv, 1), "write: %s", dml_error_message());
  CHECK(!dml_safetensors_open(p, &sf), "reopen: %s", dml_error_message());
  if (sf.f) {
    const struct dml_st_tensor *t = dml_safetensors_find(&sf, "a");
    CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && !dml_safetensors_read_f32(&sf, t, b, 6) &&
              !memcmp(a, b, sizeof a), "round trip values");
    CHECK(sf.n == 2 && !strcmp(dml_safetensors_meta(&sf, "epoch"), "7"), "round trip names/metadata");
    dml_safetensors_close(&sf);
  }
  char *tmp = dml_strfmt("%s.tmp", p);
  CHECK(access(tmp, F_OK) != 0, "no stray temporary");
  /* an output that is a folder or a device node is never replaced */
  CHECK(dml_safetensors_write(d, w, 1, k, vv, 1) == DML_ERR_ARG && strstr(dml_error_message(), "is a folder"),
        "folder output refused: %s", dml_error_message());
  CHECK(dml_safetensors_write("/dev/null", w, 1, k, vv, 1) == DML_ERR_ARG &&
            strstr(dml_error_message(), "not a regular file"), "device output refused: %s", dml_error_message());
  unlink(p);
  rmdir(d);
  free(tmp);
  free(p);
  printf("%d passed, %d failed\n", checks - fails, fails);
  return fails != 0;
}
