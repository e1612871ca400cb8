/* rel_h5_strings — variable-length strings are decoded by dml from the global heap (common/h5.c), never by
 * libhdf5 1.10.8, whose H5HG_read trusts a forged heap object (issue 15). Checks against the values h5dump prints
 * for the seed record, and the refusals of copies forged here byte by byte: a path's heap object claiming 256 MB,
 * a path pointing at an index its collection lacks, and an attribute message whose dataspace size overruns it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

static int expect_str(const char *name, const char *got, const char *want) {
  int ok = got && !strcmp(got, want);
  if (!ok) printf("FAIL %s: got \"%s\" want \"%s\"\n", name, got ? got : "(null)", want);
  return !ok;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(*n);
  if (fread(b, 1, *n, f) != *n) *n = 0;
  fclose(f);
  return b;
}

static void spill(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(b, 1, n, f);
  fclose(f);
}

/* read the latest test embeddings with paths: 0 when read (paths in *p), else the error is in dml_error_message */
static int read_paths(const char *path, char ***p, size_t *n) {
  float *e = NULL;
  int32_t *l = NULL;
  size_t d = 0;
  dml_status st = dml_runrecord_read_embeddings(path, "test", 0, &e, n, &d, &l, p);
  free(e);
  free(l);
  return st;
}

static void free_paths(char **p, size_t n) {
  for (size_t i = 0; p && i < n; i++) free(p[i]);
  free(p);
}

int main(void) {
  int f = 0;
  const char *seed = "tests/fuzz/corpus/runrecord/record_small.h5";
  char **p = NULL;
  size_t n = 0;
  f += expect_true("seed record paths read", read_paths(seed, &p, &n) == 0 && p && n == 6);
  for (size_t i = 0; p && i < n; i++) {
    char want[32];
    snprintf(want, sizeof want, "img%zu.jpg", i); /* h5dump: "img0.jpg" ... "img5.jpg" */
    f += expect_str("path", p[i], want);
  }
  free_paths(p, n);
  struct dml_run run;
  f += expect_true("seed record read", dml_runrecord_read(seed, &run) == 0);
  if (!f) {
    f += expect_str("status attribute", run.meta.status, "finished");
    dml_run_free(&run);
  }

  size_t sz = 0;
  unsigned char *b = slurp(seed, &sz);
  f += expect_true("seed readable", b && sz > 0);
  if (!b || !sz) return test_report("rel_h5_strings", f);
  char *dir = test_tmpdir("h5-strings");
  char *forged = dml_strfmt("%s/forged.h5", dir);
  /* each path object is (index u16, refs u16, reserved u32, size u64) then the bytes: find "img0.jpg" objects */
  size_t hits = 0;
  for (int mode = 0; mode < 2; mode++) {
    unsigned char *c = malloc(sz);
    memcpy(c, b, sz);
    hits = 0;
    for (size_t i = 16; i + 8 <= sz; i++)
      if (!memcmp(c + i, "img0.jpg", 8) && c[i - 8] == 8) {
        hits++;
        if (mode == 0) c[i - 5] = 0x10; /* size 8 -> 0x10000008 bytes */
        else if (hits == 1) c[i - 16] = 0xee; /* the first (latest's) object index -> 0xee: its element's is gone */
      }
    spill(forged, c, sz);
    free(c);
    p = NULL;
    int st = read_paths(forged, &p, &n);
    f += expect_true(mode ? "forged index refused" : "forged object size refused", st != 0 && !p);
    const char *msg = dml_error_message();
    printf("%s\n", msg);
    f += expect_true("names the dataset", strstr(msg, "'/embeddings/latest/test/paths'") != NULL);
    f += expect_true("says the string storage is forged", strstr(msg, "forged string storage") != NULL);
    f += expect_true(mode ? "says the object is missing" : "says the object overruns",
                     strstr(msg, mode ? "lacks the object" : "overruns") != NULL);
    free_paths(p, n);
  }
  f += expect_true("found the path objects to forge", hits >= 1);
  /* the root's schema_version attribute message (datatype size 12, dataspace size 8): dataspace size -> 2056 */
  unsigned char *c = malloc(sz);
  memcpy(c, b, sz);
  size_t at = 0;
  for (size_t i = 8; !at && i + 15 <= sz; i++)
    if (!memcmp(c + i, "schema_version", 14) && c[i - 8] == 1 && c[i - 2] == 8 && c[i - 1] == 0) at = i - 1;
  f += expect_true("found the schema_version attribute message", at != 0);
  if (at) {
    c[at] = 8;
    spill(forged, c, sz);
    dml_status st = dml_runrecord_read(forged, &run);
    if (!st) dml_run_free(&run);
    printf("%s\n", dml_error_message());
    f += expect_true("forged attribute message refused", st != 0 &&
                     strstr(dml_error_message(), "attribute's parts overrun its message") != NULL);
    f += expect_true("is_record says no", !dml_runrecord_is_record(forged));
  }
  free(c);
  free(b);
  free(forged);
  free(dir);
  return test_report("rel_h5_strings", f);
}
