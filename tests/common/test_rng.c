/* test_rng — Philox4x32-10 known-answer vectors (Random123's kat_vectors, independent source),
 * determinism of streams, and distribution sanity of the derived generators. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/rng.h"
#include "tests/testutil.h"

int main(void) {
  int fails = 0;
  /* Known-answer tests from the Random123 distribution (philox4x32 with 10 rounds). */
  struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (size_t k = 0; k < sizeof kat / sizeof *kat; k++) {
    uint32_t out[4];
    dml_philox4x32(kat[k].key, kat[k].ctr, out);
    char name[64];
    snprintf(name, sizeof name, "philox KAT %zu", k);
    fails += expect_true(name, !memcmp(out, kat[k].out, sizeof out));
  }
  /* Streams are pure functions of (seed, purpose, a, b). */
  struct dml_rng a = dml_rng_init(7, DML_RNG_SAMPLER, 3, 11), b = dml_rng_init(7, DML_RNG_SAMPLER, 3, 11);
  struct dml_rng c = dml_rng_init(7, DML_RNG_MINER, 3, 11), e = dml_rng_init(7, DML_RNG_SAMPLER, 3, 12);
  int same = 1, diff_c = 0, diff_e = 0;
  for (int i = 0; i < 100; i++) {
    uint32_t x = dml_rng_u32(&a), y = dml_rng_u32(&b), z = dml_rng_u32(&c), w = dml_rng_u32(&e);
    same &= x == y;
    diff_c += x != z;
    diff_e += x != w;
  }
  fails += expect_true("same key, same stream", same);
  fails += expect_true("other purpose, other stream", diff_c > 95);
  fails += expect_true("other counter, other stream", diff_e > 95);
  /* dml_rng_below: chi-square over 10 bins with 100000 draws; 99.9% quantile of chi2(9) is 27.88 */
  struct dml_rng r = dml_rng_init(1, DML_RNG_TEST, 0, 0);
  long cnt[10] = {0};
  for (int i = 0; i < 100000; i++) cnt[dml_rng_below(&r, 10)]++;
  double chi = 0;
  for (int i = 0; i < 10; i++) chi += (cnt[i] - 10000.0) * (cnt[i] - 10000.0) / 10000.0;
  fails += expect_true("below(10) chi-square < 27.88", chi < 27.88);
  /* uniform mean 0.5 (sd of mean 0.00091), normal mean 0, var 1 */
  double s = 0, s1 = 0, s2 = 0;
  for (int i = 0; i < 100000; i++) {
    double u = dml_rng_uniform(&r);
    fails += (u < 0 || u >= 1);
    s += u;
    double n = dml_rng_normal(&r);
    s1 += n;
    s2 += n * n;
  }
  fails += expect_scalar("uniform mean", s / 1e5, 0.5, 0.005, 0);
  fails += expect_scalar("normal mean", s1 / 1e5, 0.0, 0.02, 0);
  fails += expect_scalar("normal var", s2 / 1e5, 1.0, 0.03, 0);
  /* dml_rng_normal_at(k) = the (k+1)-th sequential normal of a fresh stream, bitwise (parallel weight init) */
  struct dml_rng fresh = dml_rng_init(7, DML_RNG_INIT, 12, 0), seq = fresh;
  int eq = 1;
  for (uint32_t k = 0; k < 70000; k++) {
    double a = dml_rng_normal(&seq), b = dml_rng_normal_at(&fresh, k);
    eq &= memcmp(&a, &b, sizeof a) == 0;
  }
  fails += expect_true("normal_at(k) = k-th sequential normal, 70000 draws bitwise", eq);
  return test_report("common_rng", fails);
}
