/* recdiff — are two run records the same run? Every metric series (split, key, epochs and values), the
 * training losses and learning rates, and the latest and best test embeddings must be bitwise equal; the
 * status must be the same. Timestamps, seconds and paths may differ. Used by the sweep tests.
 *   recdiff A.h5 B.h5      exit 0 when equal, 1 with the first difference on stdout */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/runrecord.h"

static int differ(const char *what, const char *a, const char *b) {
  printf("recdiff: %s differs: %s vs %s\n", what, a, b);
  return 1;
}

static int same_doubles(const double *a, const double *b, size_t n) { return !n || !memcmp(a, b, n * sizeof *a); }

static int embeddings(const char *pa, const char *pb, const char *split, int best) {
  float *ea = NULL, *eb = NULL;
  int32_t *la = NULL, *lb = NULL;
  char **xa = NULL, **xb = NULL;
  size_t na = 0, da = 0, nb = 0, db = 0;
  dml_status sa = dml_runrecord_read_embeddings(pa, split, best, &ea, &na, &da, &la, &xa);
  dml_status sb = dml_runrecord_read_embeddings(pb, split, best, &eb, &nb, &db, &lb, &xb);
  int bad = 0;
  if (!!sa != !!sb) bad = differ("presence of embeddings", sa ? "absent" : "present", sb ? "absent" : "present");
  else if (!sa && (na != nb || da != db || memcmp(ea, eb, na * da * sizeof *ea) || memcmp(la, lb, na * sizeof *la)))
    bad = differ(best ? "best embeddings" : "latest embeddings", pa, pb);
  if (!bad && !sa) printf("recdiff: %s %s embeddings equal (%zu x %zu)\n", best ? "best" : "latest", split, na, da);
  free(ea); free(eb); free(la); free(lb);
  for (size_t i = 0; xa && i < na; i++) free(xa[i]);
  for (size_t i = 0; xb && i < nb; i++) free(xb[i]);
  free(xa); free(xb);
  return bad;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: recdiff A.h5 B.h5\n");
    return 2;
  }
  struct dml_run a = {0}, b = {0};
  if (dml_runrecord_read(argv[1], &a) || dml_runrecord_read(argv[2], &b)) {
    printf("recdiff: cannot read: %s\n", dml_error_message());
    return 1;
  }
  int bad = 0;
  if (strcmp(a.meta.status, b.meta.status)) bad = differ("status", a.meta.status, b.meta.status);
  if (!bad && (a.n_train != b.n_train || !same_doubles(a.train_loss, b.train_loss, a.n_train) ||
               !same_doubles(a.train_lr, b.train_lr, a.n_train) || !same_doubles(a.train_epoch, b.train_epoch, a.n_train)))
    bad = differ("training losses", argv[1], argv[2]);
  if (!bad && a.n_series != b.n_series) bad = differ("number of metric series", argv[1], argv[2]);
  for (size_t i = 0; !bad && i < a.n_series; i++) {
    const struct dml_series *x = &a.series[i], *y = &b.series[i];
    char what[256];
    snprintf(what, sizeof what, "metrics/%s/%s", x->split, x->key);
    if (strcmp(x->split, y->split) || strcmp(x->key, y->key) || x->n != y->n || !same_doubles(x->epoch, y->epoch, x->n) ||
        !same_doubles(x->value, y->value, x->n))
      bad = differ(what, argv[1], argv[2]);
  }
  if (!bad) printf("recdiff: %zu epochs, %zu metric series bitwise equal\n", a.n_train, a.n_series);
  if (!bad) bad = embeddings(argv[1], argv[2], "test", 0);
  if (!bad) bad = embeddings(argv[1], argv[2], "test", 1);
  dml_run_free(&a);
  dml_run_free(&b);
  return bad;
}
