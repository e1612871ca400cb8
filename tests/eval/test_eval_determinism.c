/* eval_determinism — the same numbers, bit for bit, with 1 and 2 threads, for every key family (L2 and cosine
 * kNN, k-means, the Gram-matrix SVD), on 5,000 clustered rows (d 32, 500 classes): big enough that faiss takes its
 * BLAS path in several query blocks and OpenBLAS really splits work between threads. Also: a second call with the
 * same inputs gives the same bits, and the caller's OpenMP thread count is restored. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "eval/eval.h"
#include "tests/testutil.h"

static const char *const keys[] = {
    "e_recall@1", "e_recall@4", "c_recall@2", "nmi", "f1", "c_nmi", "c_f1", "mAP_1000", "mAP_lim", "mAP_c",
    "mAP", "mAP@R", "r_precision", "c_mAP_c", "c_mAP@R", "dists@intra", "dists@inter", "dists@intra_over_inter",
    "rho_spectrum@0", "rho_spectrum@-1", "rho_spectrum@1", "rho_spectrum@2", "rho_spectrum@10"};
#define NK (sizeof keys / sizeof *keys)

static int same(const struct dml_metric_result *a, const struct dml_metric_result *b, const char *what) {
  int fails = 0;
  for (size_t i = 0; i < NK; i++) {
    int ok = memcmp(&a[i].value, &b[i].value, sizeof(double)) == 0 && a[i].array_len == b[i].array_len &&
             (!a[i].array || !memcmp(a[i].array, b[i].array, a[i].array_len * sizeof(double)));
    if (!ok) printf("%s: %s differs: %.17g vs %.17g\n", what, keys[i], a[i].value, b[i].value);
    fails += !ok;
  }
  return fails;
}

int main(void) {
  const size_t n = 5000, d = 32, C = 500;
  float *x = malloc(n * d * sizeof *x), *centre = malloc(C * d * sizeof *centre);
  int32_t *lab = malloc(n * sizeof *lab);
  /* deterministic data without the rng API details: a small LCG → uniform → sum of uniforms ≈ Gaussian */
  uint64_t s = 12345;
#define U() ((s = s * 6364136223846793005ULL + 1442695040888963407ULL), (double)(s >> 11) / 9007199254740992.0)
  for (size_t i = 0; i < C * d; i++) centre[i] = (float)(U() + U() + U() - 1.5);
  for (size_t i = 0; i < n; i++) {
    lab[i] = (int32_t)(U() * C);
    for (size_t j = 0; j < d; j++) x[i * d + j] = centre[lab[i] * d + j] + 1.1f * (float)(U() + U() - 1.0);
  }
  struct dml_metric_result r1[NK], r2[NK], r3[NK];
  struct dml_eval_opts o1 = {.kmeans_k = 400, .n_threads = 1}, o2 = {.kmeans_k = 400, .n_threads = 2};
  int before = omp_get_max_threads();
  int fails = expect_true("1 thread", dml_eval_metrics(x, lab, n, d, keys, NK, &o1, r1) == DML_OK);
  fails += expect_true("thread count restored", omp_get_max_threads() == before);
  fails += expect_true("2 threads", dml_eval_metrics(x, lab, n, d, keys, NK, &o2, r2) == DML_OK);
  fails += expect_true("2 threads again", dml_eval_metrics(x, lab, n, d, keys, NK, &o2, r3) == DML_OK);
  fails += same(r1, r2, "1 vs 2 threads");
  fails += same(r2, r3, "repeat");
  /* sanity: the values are proper numbers in range (a test that compares garbage with garbage would pass) */
  for (size_t i = 0; i < NK; i++)
    if (!r1[i].array) fails += expect_true(keys[i], isfinite(r1[i].value) && r1[i].value >= 0);
  fails += expect_true("recall@1 in (0.05, 1)", r1[0].value > 0.05 && r1[0].value < 1);
  printf("e_recall@1 %.4f nmi %.4f mAP_c %.4f rho@2 %.4f\n", r1[0].value, r1[3].value, r1[9].value, r1[21].value);
  dml_eval_results_free(r1, NK);
  dml_eval_results_free(r2, NK);
  dml_eval_results_free(r3, NK);
  free(x);
  free(centre);
  free(lab);
  return test_report("eval_determinism", fails);
}
