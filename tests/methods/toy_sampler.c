/* toy_sampler — a throwaway batch sampler for the one-file-one-line test (test_methods.c): this file and the line
 * DML_SAMPLER(toy) in tests/methods/samplers_list.h. Group g of batch `step` is class position
 * (step·G + g + --data_toy_offset) mod C (G = bs / spc groups), filled with that class's members
 * (epoch + j) mod count, j = 0 … spc − 1. No randomness. */
#include "train/methods.h"

struct toy_sampler {
  int offset;
};

static void toy_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  const struct toy_sampler *t = s->state;
  int spc = s->samples_per_class, G = s->bs / spc, C = s->data.n_classes;
  for (int g = 0; g < G; g++) {
    int c = (int)((step * G + g + t->offset) % C);
    for (int j = 0; j < spc; j++) idx[g * spc + j] = s->by_class[c][(epoch + j) % s->class_count[c]];
  }
}

static const struct dml_flag toy_flags[] = {
  DML_METHOD_FLAG(data_toy_offset, INT, "0", "toy sampler: first class position"),
};

static dml_status toy_create(const struct dml_opts *opt, struct dml_sampler *s) {
  int offset = dml_opts_int(opt, "data_toy_offset");
  if (offset < 0) return dml_error(DML_ERR_ARG, "--data_toy_offset must be >= 0");
  struct toy_sampler *t = xmalloc(sizeof *t);
  t->offset = offset;
  s->state = t;
  return DML_OK;
}

const struct dml_sampler_def dml_sampler_def_toy = {
  .name = "toy",
  .summary = "(test) consecutive classes, deterministic members",
  DML_METHOD_FLAGS(toy_flags),
  .create = toy_create,
  .batch = toy_batch,
};
