/* rng — counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * A stream is named by a key (seed and a purpose tag mixed into 64 bits) and positioned by a
 * 64-bit counter, so the value for (seed, epoch, sample, purpose) never depends on which thread
 * asked first or how many numbers were drawn elsewhere: same seed, same numbers, any thread count.
 *
 *   struct dml_rng r = dml_rng_init(seed, DML_RNG_SAMPLER, epoch, 0);
 *   uint32_t k = dml_rng_below(&r, n_classes);   // uniform in [0, n)
 *   double u = dml_rng_uniform(&r);               // [0, 1)
 */
#ifndef DML_RNG_H
#define DML_RNG_H
#include <stdint.h>

/* Purpose tags: one per consumer, so streams of different consumers never overlap. */
enum dml_rng_purpose {
  DML_RNG_INIT = 1,     /* parameter initialisation */
  DML_RNG_SAMPLER,      /* batch composition */
  DML_RNG_MINER,        /* tuple mining */
  DML_RNG_AUGMENT,      /* per-sample augmentation */
  DML_RNG_DROPOUT,
  DML_RNG_EVAL,         /* k-means seeds and other evaluation randomness */
  DML_RNG_SPLIT,        /* train/val splits */
  DML_RNG_TEST          /* tests */
};

struct dml_rng {
  uint32_t key[2];
  uint32_t ctr[4];
  uint32_t buf[4];
  int pos; /* next unused word of buf; 4 = empty */
};

/* Stream for (seed, purpose, a, b): e.g. a = epoch, b = step or sample index. */
struct dml_rng dml_rng_init(uint64_t seed, uint32_t purpose, uint64_t a, uint64_t b);
uint32_t dml_rng_u32(struct dml_rng *r);
uint64_t dml_rng_u64(struct dml_rng *r);
/* Uniform integer in [0, n), unbiased (rejection); n > 0. */
uint32_t dml_rng_below(struct dml_rng *r, uint32_t n);
double dml_rng_uniform(struct dml_rng *r);     /* [0, 1), 53 bits */
float dml_rng_uniformf(struct dml_rng *r);     /* [0, 1), 24 bits */
double dml_rng_normal(struct dml_rng *r);      /* standard normal (Box-Muller, one per call) */
/* The normal the (k+1)-th dml_rng_normal call on the fresh stream r (just made by dml_rng_init) returns, without
 * drawing: lets a long fill run in parallel and stay bitwise equal to the sequential draws. */
double dml_rng_normal_at(const struct dml_rng *r, uint32_t k);
/* One Philox4x32-10 block: out = philox(key, ctr). Exposed for the known-answer test. */
void dml_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);
/* Fisher-Yates shuffle of n ints. */
void dml_rng_shuffle_i32(struct dml_rng *r, int32_t *v, uint32_t n);
#endif
