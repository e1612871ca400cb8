/* toy_miner — a throwaway miner for the one-file-one-line test (test_methods.c): this file and the line
 * DML_MINER(toy) in tests/methods/miners_list.h. Every --miner_toy_every-th anchor a (a = 0, k, 2k, …) emits
 * (a, p, n) with p the first other position of a's label and n the first position of another label (anchors
 * without either are skipped). No randomness. */
#include <stdlib.h>

#include "train/methods.h"

struct toy_miner {
  int every;
};

static dml_status mine_toy(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                           struct dml_rng *r, struct dml_tuples *out) {
  (void)emb, (void)D, (void)r;
  const struct toy_miner *s = m->state;
  for (int a = 0; a < B; a += s->every) {
    int p = -1, n = -1;
    for (int j = 0; j < B; j++) {
      if (p < 0 && j != a && labels[j] == labels[a]) p = j;
      if (n < 0 && labels[j] != labels[a]) n = j;
    }
    if (p >= 0 && n >= 0) dml_tuples_push(out, a, p, n);
  }
  return DML_OK;
}

static const struct dml_flag toy_flags[] = {
  DML_METHOD_FLAG(miner_toy_every, INT, "1", "toy miner: stride between anchors"),
};

static dml_status toy_create(const struct dml_opts *opt, struct dml_miner *m) {
  int every = dml_opts_int(opt, "miner_toy_every");
  if (every < 1) return dml_error(DML_ERR_ARG, "--miner_toy_every must be >= 1");
  struct toy_miner *s = xmalloc(sizeof *s);
  s->every = every;
  m->state = s;
  return DML_OK;
}

const struct dml_miner_def dml_miner_def_toy = {
  .name = "toy",
  .internal_name = "toy",
  .summary = "(test) first positive and first negative of every k-th anchor",
  DML_METHOD_FLAGS(toy_flags),
  .create = toy_create,
  .mine = mine_toy,
};
