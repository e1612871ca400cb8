/* fixture — reads tests/fixtures/eval/reference.txt (written by tests/reference/eval_reference.py): one entry per
 * line, `name count v1 ... vcount`; lines starting with '#' are comments. Header-only helper for tests/eval. */
#ifndef DML_TESTS_EVAL_FIXTURE_H
#define DML_TESTS_EVAL_FIXTURE_H
#include <stddef.h>

struct fixture_entry {
  char name[96];
  size_t n;
  double *v;
};
struct fixture {
  struct fixture_entry *e;
  size_t n;
};

/* 0 on success; prints why and returns -1 when the file is missing or malformed. */
int fixture_load(const char *path, struct fixture *fx);
/* The entry named `name`, or NULL (printed, with the regeneration hint). */
const struct fixture_entry *fixture_get(const struct fixture *fx, const char *name);
void fixture_free(struct fixture *fx);
#endif
