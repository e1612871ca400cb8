/* fuzz — shared bits of the libFuzzer harnesses (issue 15, point 2). Each fuzz_<name>.c defines
 * LLVMFuzzerTestOneInput; built with clang -fsanitize=fuzzer it is a fuzzer, built with the normal compiler and
 * driver.c it replays a corpus (ctest runs every committed corpus and crash file that way). */
#ifndef DML_FUZZ_H
#define DML_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path[512];
static inline void fuzz_file_remove(void) { unlink(fuzz_path); }

/* The readers under test take file names: write the input to one per-process file (under $TMPDIR or /tmp)
 * and return its name (static storage). suffix: ".h5", ".safetensors" ... */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
  char *path = fuzz_path;
  if (!path[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(path, sizeof fuzz_path, "%s/dml_fuzz_%d%s", t && *t ? t : "/tmp", (int)getpid(), suffix);
    atexit(fuzz_file_remove);
  }
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  if (fclose(f)) abort();
  return path;
}

/* A NUL-terminated copy of the input (free it). */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = 0;
  return s;
}
#endif
