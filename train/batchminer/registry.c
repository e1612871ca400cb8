/* registry (batchminer) — a miner by name from the list (train/batchminer/list.h, tabled in train/registry.c),
 * tuple lists and the detached distance matrix. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

const struct dml_miner_def *dml_miner_def(int i) {
  for (int k = 0; dml_miner_defs[k]; k++)
    if (k == i) return dml_miner_defs[k];
  return NULL;
}

const char *dml_miner_name(int i) {
  const struct dml_miner_def *d = dml_miner_def(i);
  return d ? d->name : NULL;
}

dml_status dml_miner_create(const char *name, const struct dml_opts *opt, struct dml_miner *m) {
  memset(m, 0, sizeof *m);
  for (int i = 0; dml_miner_defs[i]; i++) {
    const struct dml_miner_def *d = dml_miner_defs[i];
    if (strcmp(name, d->name)) continue;
    m->name = d->name;
    m->internal_name = d->internal_name;
    m->def = d;
    m->mine = d->mine;
    dml_status st = d->create ? d->create(opt, m) : DML_OK;
    if (st) memset(m, 0, sizeof *m);
    return st;
  }
  char known[256] = "";
  for (int i = 0; dml_miner_defs[i]; i++) {
    strncat(known, i ? " " : "", sizeof known - strlen(known) - 1);
    strncat(known, dml_miner_defs[i]->name, sizeof known - strlen(known) - 1);
  }
  return dml_error(DML_ERR_ARG, "unknown --batch_mining '%s' (known: %s)", name, known);
}

void dml_miner_free(struct dml_miner *m) {
  free(m->state);
  memset(m, 0, sizeof *m);
}

void dml_tuples_push(struct dml_tuples *tu, int32_t a, int32_t p, int32_t n) {
  if (tu->n == tu->cap) {
    tu->cap = tu->cap ? 2 * tu->cap : 128;
    tu->t = xrealloc(tu->t, (size_t)tu->cap * sizeof *tu->t);
  }
  tu->t[tu->n][0] = a;
  tu->t[tu->n][1] = p;
  tu->t[tu->n][2] = n;
  tu->n++;
}

void dml_tuples_set_fourth(struct dml_tuples *tu, const int32_t *q) {
  free(tu->fourth);
  tu->fourth = xmalloc((size_t)(tu->n ? tu->n : 1) * sizeof *tu->fourth);
  memcpy(tu->fourth, q, (size_t)tu->n * sizeof *q);
}

void dml_tuples_free(struct dml_tuples *tu) {
  free(tu->t);
  free(tu->fourth);
  memset(tu, 0, sizeof *tu);
}

void dml_pairwise_distances(const float *emb, int B, int D, double *out) {
  double *sq = xmalloc((size_t)B * sizeof *sq);
  for (int i = 0; i < B; i++) {
    double s = 0;
    for (int k = 0; k < D; k++) s += (double)emb[(size_t)i * D + k] * emb[(size_t)i * D + k];
    sq[i] = s;
  }
  for (int i = 0; i < B; i++)
    for (int j = 0; j < B; j++) {
      double dot = 0;
      for (int k = 0; k < D; k++) dot += (double)emb[(size_t)i * D + k] * emb[(size_t)j * D + k];
      double v = sq[i] + sq[j] - 2 * dot;
      out[(size_t)i * B + j] = sqrt(v > 0 ? v : 0);
    }
  free(sq);
}
