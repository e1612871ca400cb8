/* eval_bridge — the faiss bridge's exact kNN (L2 and inner product) against a brute-force double-precision ranking
 * (an order may differ only between candidates whose scores agree to 1e-5), and its k-means on separated blobs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/faiss_bridge.h"
#include "tests/testutil.h"

static uint64_t s = 99;
static double u(void) {
  s = s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(s >> 11) / 9007199254740992.0;
}

int main(void) {
  const size_t n = 3000, nb = 700, d = 24;
  float *x = malloc(n * d * sizeof *x), *b = malloc(nb * d * sizeof *b);
  for (size_t i = 0; i < n * d; i++) x[i] = (float)(u() * 2 - 1);
  for (size_t i = 0; i < nb * d; i++) b[i] = (float)(u() * 2 - 1);
  char err[256];
  int fails = 0;
  /* exact kNN vs a double-precision brute force (no near-ties at this size: checked by the margin below) */
  const size_t k = 6, nq = 50;
  int64_t *idx = malloc(nq * k * sizeof *idx);
  for (int metric = 0; metric < 2; metric++) {
    fails += expect_true("knn", dml_faiss_knn(b, nb, x, nq, d, k, metric, idx, NULL, err, sizeof err) == 0);
    size_t bad = 0;
    for (size_t q = 0; q < nq; q++) {
      double sc[700];
      for (size_t j = 0; j < nb; j++) {
        double v = 0;
        for (size_t c = 0; c < d; c++) {
          double a = x[q * d + c], e = b[j * d + c];
          v += metric ? -a * e : (a - e) * (a - e);
        }
        sc[j] = v;
      }
      for (size_t r = 0; r < k; r++) {
        size_t best = 0;
        for (size_t j = 1; j < nb; j++)
          if (sc[j] < sc[best]) best = j;
        if ((size_t)idx[q * k + r] != best && fabs(sc[idx[q * k + r]] - sc[best]) > 1e-5) bad++;
        sc[best] = INFINITY;
      }
    }
    fails += expect_true(metric ? "inner-product kNN order" : "L2 kNN order", bad == 0);
  }
  /* k-means: 4 tight blobs of 50 points, k = 4 → every blob one cluster */
  float *p = malloc(200 * 2 * sizeof *p), cent[8];
  int64_t as[200];
  for (size_t i = 0; i < 200; i++) {
    p[2 * i] = (float)((i / 50) % 2) * 10 + (float)u() * 0.1f;
    p[2 * i + 1] = (float)((i / 50) / 2) * 10 + (float)u() * 0.1f;
  }
  fails += expect_true("kmeans", dml_faiss_kmeans(p, 200, 2, 4, cent, as, err, sizeof err) == 0);
  int pure = 1;
  for (size_t i = 0; i < 200; i++) pure &= as[i] == as[(i / 50) * 50];
  fails += expect_true("blobs recovered", pure && as[0] != as[50] && as[0] != as[100] && as[0] != as[150] &&
                                              as[50] != as[100] && as[50] != as[150] && as[100] != as[150]);
  free(p);
  free(x);
  free(b);
  free(idx);
  return test_report("eval_bridge", fails);
}
