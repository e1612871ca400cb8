/* fixture — see fixture.h. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int fixture_load(const char *path, struct fixture *fx) {
  fx->e = NULL;
  fx->n = 0;
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "cannot open %s; regenerate with /usr/bin/python3 tests/reference/eval_reference.py\n", path);
    return -1;
  }
  size_t cap = 0;
  char name[96];
  int c;
  while ((c = fgetc(f)) != EOF) {
    if (c == '#' || c == '\n') {
      while (c != '\n' && c != EOF) c = fgetc(f);
      continue;
    }
    ungetc(c, f);
    size_t n;
    if (fscanf(f, "%95s %zu", name, &n) != 2) break;
    if (fx->n == cap) fx->e = xrealloc(fx->e, (cap = cap ? 2 * cap : 64) * sizeof *fx->e);
    struct fixture_entry *e = &fx->e[fx->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->n = n;
    e->v = xmalloc((n ? n : 1) * sizeof *e->v);
    for (size_t i = 0; i < n; i++)
      if (fscanf(f, "%lf", &e->v[i]) != 1) {
        fprintf(stderr, "%s: entry %s is short; regenerate with tests/reference/eval_reference.py\n", path, name);
        fclose(f);
        return -1;
      }
  }
  fclose(f);
  return fx->n ? 0 : -1;
}

const struct fixture_entry *fixture_get(const struct fixture *fx, const char *name) {
  for (size_t i = 0; i < fx->n; i++)
    if (!strcmp(fx->e[i].name, name)) return &fx->e[i];
  fprintf(stderr, "fixture entry %s missing; regenerate with /usr/bin/python3 tests/reference/eval_reference.py\n", name);
  return NULL;
}

void fixture_free(struct fixture *fx) {
  for (size_t i = 0; i < fx->n; i++) free(fx->e[i].v);
  free(fx->e);
  fx->e = NULL;
  fx->n = 0;
}
