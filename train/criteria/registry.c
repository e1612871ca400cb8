/* registry (criteria) — a criterion by name from the list (train/criteria/list.h, tabled in train/registry.c),
 * built for a shape; the batch check every loss call goes through (embedding dimension, finite values, tuple
 * entries inside the batch). */
#include <math.h>
#include <string.h>

#include "train/criteria/ad.h"
#include "train/train.h"

const struct dml_criterion_def *dml_criterion_def(int i) {
  for (int k = 0; dml_criterion_defs[k]; k++)
    if (k == i) return dml_criterion_defs[k];
  return NULL;
}

const char *dml_criterion_name(int i) {
  const struct dml_criterion_def *d = dml_criterion_def(i);
  return d ? d->name : NULL;
}

dml_status dml_criterion_create(const char *name, const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                struct dml_criterion *c) {
  memset(c, 0, sizeof *c);
  const struct dml_criterion_def *d = NULL;
  for (int i = 0; dml_criterion_defs[i] && !d; i++)
    if (!strcmp(name, dml_criterion_defs[i]->name)) d = dml_criterion_defs[i];
  if (!d) {
    char known[512] = "";
    for (int i = 0; dml_criterion_defs[i]; i++) {
      strncat(known, i ? " " : "", sizeof known - strlen(known) - 1);
      strncat(known, dml_criterion_defs[i]->name, sizeof known - strlen(known) - 1);
    }
    return dml_error(DML_ERR_ARG, "unknown --loss '%s' (known: %s)", name, known);
  }
  if (shape->embed_dim < 1) return dml_error(DML_ERR_ARG, "--loss %s: embedding dimension %d", name, shape->embed_dim);
  if (shape->n_classes < 1 || !shape->classes)
    return dml_error(DML_ERR_ARG, "--loss %s: needs at least one training class", name);
  c->name = d->name;
  c->def = d;
  c->embed_dim = shape->embed_dim;
  c->n_classes = shape->n_classes;
  c->requires_miner = d->requires_miner;
  c->allowed_miners = d->allowed_miners;
  dml_status st = d->create(opt, shape, c);
  if (st) memset(c, 0, sizeof *c); /* constructors free what they made before failing */
  return st;
}

dml_status dml_criterion_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                              const struct dml_tuples *tuples, double *loss, float *grad_emb) {
  if (D != c->embed_dim)
    return dml_error(DML_ERR_ARG, "%s: the batch has embedding dimension %d, the criterion was built for %d", c->name, D,
                     c->embed_dim);
  if (B < 1) return dml_error(DML_ERR_ARG, "%s: empty batch", c->name);
  for (long i = 0; i < (long)B * D; i++) /* a NaN would only come back as a NaN loss, or steer a mining choice */
    if (!isfinite(emb[i]))
      return dml_error(DML_ERR_NUMERIC, "%s: embedding row %ld, column %ld is %g (not finite)", c->name, i / D, i % D,
                       (double)emb[i]);
  for (int i = 0; tuples && i < tuples->n; i++) /* −1 marks the implicit sets; each criterion checks its arity */
    for (int k = 0; k < 3; k++)
      if (tuples->t[i][k] < -1 || tuples->t[i][k] >= B)
        return dml_error(DML_ERR_ARG, "%s: tuple %d holds %d, outside the batch (B = %d)", c->name, i,
                         tuples->t[i][k], B);
  return c->loss(c, emb, labels, B, D, tuples, loss, grad_emb);
}

dml_status dml_criterion_check_miner(const struct dml_criterion *c, const struct dml_miner *m) {
  const char *a = c->allowed_miners ? c->allowed_miners : "*";
  if (!strcmp(a, "*")) return DML_OK;
  size_t len = strlen(m->internal_name);
  for (const char *p = a; *p;) { /* whole space-separated names only */
    size_t n = strcspn(p, " ");
    if (n == len && !strncmp(p, m->internal_name, n)) return DML_OK;
    p += n + (p[n] == ' ');
  }
  return dml_error(DML_ERR_ARG, "--loss %s cannot use --batch_mining %s (allowed: %s)", c->name, m->name, a);
}

void dml_criterion_free(struct dml_criterion *c) {
  if (c->destroy) c->destroy(c);
  crit_tape_free(c);
  memset(c, 0, sizeof *c);
}
