/* registry (batchminer) — miner name → constructor, tuple lists and the detached distance matrix. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

static const struct {
  const char *name;
  dml_status (*create)(const struct dml_train_opts *, struct dml_miner *);
} miners[] = {
  {"random", dml_miner_random},
  {"semihard", dml_miner_semihard},
  {"softhard", dml_miner_softhard},
  {"distance", dml_miner_distance},
  {"rho_distance", dml_miner_rho_distance},
  {"npair", dml_miner_npair},
  {"parametric", dml_miner_parametric},
  {"lifted", dml_miner_lifted},
  {"random_distance", dml_miner_random_distance},
  {"intra_random", dml_miner_intra_random},
  {"global_hardneg", dml_miner_global_hardneg}, /* (dml) the course lab's hard-negative miner */
};

const char *dml_miner_name(int i) {
  return i >= 0 && (size_t)i < sizeof miners / sizeof *miners ? miners[i].name : NULL;
}

dml_status dml_miner_create(const struct dml_train_opts *o, struct dml_miner *m) {
  memset(m, 0, sizeof *m);
  for (size_t i = 0; i < sizeof miners / sizeof *miners; i++)
    if (!strcmp(o->batch_mining, miners[i].name)) {
      m->name = miners[i].name;
      return miners[i].create(o, m);
    }
  char known[256] = "";
  for (size_t i = 0; i < sizeof miners / sizeof *miners; i++) {
    strncat(known, i ? " " : "", sizeof known - strlen(known) - 1);
    strncat(known, miners[i].name, sizeof known - strlen(known) - 1);
  }
  return dml_error(DML_ERR_ARG, "unknown --batch_mining '%s' (known: %s)", o->batch_mining, known);
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

void dml_tuples_free(struct dml_tuples *tu) {
  free(tu->t);
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
