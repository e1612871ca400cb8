/* full_random — the reference's full_random sampler (spec A7; alias "random"): bs − 1 times a class
 * uniformly, then a sample uniformly within it (so not uniform over images); the last element: a random element
 * already in the batch, then a random sample of its class (so the batch holds at least one positive pair).
 * floor(N/bs) batches per epoch; a pure function of (seed, epoch, step). */
#include "train/methods.h"

static void full_random_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  struct dml_rng r = dml_rng_init(s->seed, DML_RNG_SAMPLER, (uint64_t)epoch, (uint64_t)step);
  for (int k = 0; k < s->bs - 1; k++) {
    int c = (int)dml_rng_below(&r, (uint32_t)s->data.n_classes);
    idx[k] = s->by_class[c][dml_rng_below(&r, (uint32_t)s->class_count[c])];
  }
  if (s->bs == 1) {
    int c = (int)dml_rng_below(&r, (uint32_t)s->data.n_classes);
    idx[0] = s->by_class[c][dml_rng_below(&r, (uint32_t)s->class_count[c])];
    return;
  }
  int c = dml_sampler_class_of(s, idx[dml_rng_below(&r, (uint32_t)(s->bs - 1))]);
  idx[s->bs - 1] = s->by_class[c][dml_rng_below(&r, (uint32_t)s->class_count[c])];
}

const struct dml_sampler_def dml_sampler_def_full_random = {
  .name = "full_random",
  .alias = "random",
  .summary = "bs - 1 uniform draws of (class, image), the last shares a class",
  .batch = full_random_batch,
};
