/* class_random — the reference's default batch sampler (spec A7): for each batch, bs/spc times: a class
 * uniformly from all training classes (with replacement across draws), then spc samples of that class
 * uniformly with replacement. floor(N/bs) batches per epoch. Randomness: the counter stream
 * (seed, SAMPLER, epoch, step), so a batch is a pure function of its position (resume-safe). */
#include "train/methods.h"

void dml_sampler_class_random_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  struct dml_rng r = dml_rng_init(s->seed, DML_RNG_SAMPLER, (uint64_t)epoch, (uint64_t)step);
  int k = 0;
  for (int g = 0; g < s->bs / s->samples_per_class; g++) {
    int c = (int)dml_rng_below(&r, (uint32_t)s->data.n_classes);
    for (int j = 0; j < s->samples_per_class; j++)
      idx[k++] = s->by_class[c][dml_rng_below(&r, (uint32_t)s->class_count[c])];
  }
}

const struct dml_sampler_def dml_sampler_def_class_random = {
  .name = "class_random",
  .summary = "classes uniformly, samples_per_class images each (the reference default)",
  .batch = dml_sampler_class_random_batch,
};
