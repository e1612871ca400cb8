/* rng — Philox4x32-10 counter-based generator. See rng.h.
 * Constants from Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC'11). */
#include "common/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void dml_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]) {
  uint32_t k0 = key[0], k1 = key[1];
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* splitmix64 finaliser: mixes (seed, purpose) into the 64-bit key. */
static uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct dml_rng dml_rng_init(uint64_t seed, uint32_t purpose, uint64_t a, uint64_t b) {
  struct dml_rng r;
  uint64_t k = mix64(seed ^ mix64((uint64_t)purpose));
  r.key[0] = (uint32_t)k;
  r.key[1] = (uint32_t)(k >> 32);
  /* counter words: [draw index (32 bits), b low, a low, a high ^ b high] — the draw index is in word 0 */
  r.ctr[0] = 0;
  r.ctr[1] = (uint32_t)b;
  r.ctr[2] = (uint32_t)a;
  r.ctr[3] = (uint32_t)(a >> 32) ^ (uint32_t)(b >> 32) * 0x85EBCA6Bu;
  r.pos = 4;
  return r;
}

uint32_t dml_rng_u32(struct dml_rng *r) {
  if (r->pos == 4) {
    dml_philox4x32(r->key, r->ctr, r->buf);
    r->ctr[0]++;
    r->pos = 0;
  }
  return r->buf[r->pos++];
}

uint64_t dml_rng_u64(struct dml_rng *r) {
  uint64_t hi = dml_rng_u32(r);
  return (hi << 32) | dml_rng_u32(r);
}

uint32_t dml_rng_below(struct dml_rng *r, uint32_t n) {
  /* Lemire's nearly-divisionless rejection: unbiased */
  uint64_t m = (uint64_t)dml_rng_u32(r) * n;
  uint32_t l = (uint32_t)m;
  if (l < n) {
    uint32_t t = (uint32_t)(-n) % n;
    while (l < t) {
      m = (uint64_t)dml_rng_u32(r) * n;
      l = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

double dml_rng_uniform(struct dml_rng *r) { return (double)(dml_rng_u64(r) >> 11) * 0x1.0p-53; }

float dml_rng_uniformf(struct dml_rng *r) { return (float)(dml_rng_u32(r) >> 8) * 0x1.0p-24f; }

static double box_muller(double u1, double u2) {
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double dml_rng_normal(struct dml_rng *r) {
  double u1 = dml_rng_uniform(r), u2 = dml_rng_uniform(r);
  return box_muller(u1, u2);
}

double dml_rng_normal_at(const struct dml_rng *r, uint32_t k) {
  /* a normal takes two 64-bit uniforms = the four words of one Philox block, so on a fresh stream the k-th
   * normal is made from block ctr[0] + k */
  uint32_t ctr[4] = {r->ctr[0] + k, r->ctr[1], r->ctr[2], r->ctr[3]}, w[4];
  dml_philox4x32(r->key, ctr, w);
  double u1 = (double)((((uint64_t)w[0] << 32) | w[1]) >> 11) * 0x1.0p-53;
  double u2 = (double)((((uint64_t)w[2] << 32) | w[3]) >> 11) * 0x1.0p-53;
  return box_muller(u1, u2);
}

void dml_rng_shuffle_i32(struct dml_rng *r, int32_t *v, uint32_t n) {
  for (uint32_t i = n; i > 1; i--) {
    uint32_t j = dml_rng_below(r, i);
    int32_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}
