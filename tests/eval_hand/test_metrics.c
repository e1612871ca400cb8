/* test_metrics — every metric family on small cases computed by hand (the computation is written next to each
 * expected value), determinism across thread counts, and the error cases. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "eval/eval.h"
#include "tests/testutil.h"

/* Six points on a line (d = 1): x = 0, 1, 3, 10, 11, 13 with labels A A B B A B (0 0 1 1 0 1).
 * Nearest neighbours (self excluded; L2, ties broken by index):
 *   0: 1, 3(d3)…  order 1(1), 2(3), 3(10), 4(11), 5(13)        labels: A B B A B  → R@1 hit
 *   1: 0(1), 2(2), 3(9), 4(10), 5(12)                          labels: A B B A B  → R@1 hit
 *   2: 1(2), 0(3), 3(7), 4(8), 5(10)                           labels: A A B A B  → R@1 miss, R@2 miss, R@4 hit(3)
 *   3: 4(1), 5(3), 2(7), 1(9), 0(10)                           labels: A B B A A  → R@1 miss, R@2 hit
 *   4: 3(1), 5(2), 2(8), 1(10), 0(11)                          labels: B B B A A  → R@1 miss, R@2 miss, R@4 hit
 *   5: 4(2), 3(3), 2(10), 1(12), 0(13)                         labels: A B B A A  → R@1 miss, R@2 hit
 * R@1 = 2/6, R@2 = 4/6, R@4 = 6/6.
 * mAP_c (R = class size n_q = 3, normaliser 3): query 0: rel at ranks 1 (1/1) and 4? no: R = 3 → ranks 1..3 =
 *   A B B → AP = (1/1)/3 = 1/3. q1: A B B → 1/3. q2 (B): ranks A A B → rel at 3: (1/3)/3 = 1/9.
 *   q3 (B): A B B → rel at 2 (1/2) and 3 (2/3) → (1/2 + 2/3)/3 = 7/18. q4 (A): B B B → 0.
 *   q5 (B): A B B → 7/18. mean = (1/3 + 1/3 + 1/9 + 7/18 + 0 + 7/18)/6 = (6+6+2+7+0+7)/18/6 = 28/108 = 7/27.
 * mAP@R (R = n_q − 1 = 2): q0: A B → 1/2·(1/1) = 1/2; q1: 1/2; q2: A A → 0; q3: A B → (1/2)/2 = 1/4;
 *   q4: B B → 0; q5: A B → 1/4. mean = (1/2+1/2+0+1/4+0+1/4)/6 = 1.5/6 = 0.25.
 * r_precision (R = 2): q0 1/2, q1 1/2, q2 0, q3 1/2, q4 0, q5 1/2 → 2/6. */
static int line_case(void) {
  float x[6] = {0, 1, 3, 10, 11, 13};
  int32_t y[6] = {0, 0, 1, 1, 0, 1};
  const char *keys[] = {"e_recall@1", "e_recall@2", "e_recall@4", "mAP_c", "mAP@R", "r_precision"};
  struct dml_metric_result r[6];
  struct dml_eval_opts o = {0};
  int f = expect_true("line case runs", dml_eval_metrics(x, y, 6, 1, keys, 6, &o, r) == DML_OK);
  double got[6], ref[6] = {2.0 / 6, 4.0 / 6, 1.0, 7.0 / 27, 0.25, 2.0 / 6};
  for (int i = 0; i < 6; i++) got[i] = r[i].value;
  f += expect_close("recall@1,2,4 mAP_c mAP@R r_precision (hand)", got, ref, 6, 1e-12, 0);
  dml_eval_results_free(r, 6);
  return f;
}

/* Clustering scores on two well separated blobs per class: k-means finds the classes, NMI = F1 = 1.
 * Then NMI/F1 of a fixed assignment by hand are checked through a case where k-means must merge:
 * 3 classes, k = 2 ⇒ two classes share a cluster. Points: class 0 at 0, class 1 at 100, class 2 at 101 (2 each).
 * Clusters {0,0} {1,1,2,2}: contingency [[2,0],[0,2],[0,2]].
 * H(classes) = ln 3, H(clusters) = −(1/3 ln 1/3 + 2/3 ln 2/3) = 0.636514; MI = H(clusters) (clusters are a
 * function of the classes) ⇒ NMI = 0.636514 / ((1.098612 + 0.636514)/2) = 0.733680.
 * F1: A = Σ C(2,2) = 3, B = C(2,2) + C(4,2) = 7, T = 3 ⇒ F1 = 2·3/(3+7) = 0.6. */
static int clustering_case(void) {
  float x[12] = {0, 0, 0.1f, 0, 100, 0, 100.1f, 0, 101, 0, 101.1f, 0};
  int32_t y[6] = {0, 0, 1, 1, 2, 2};
  const char *keys[] = {"nmi", "f1"};
  struct dml_metric_result r[2];
  struct dml_eval_opts o = {.kmeans_k = 2};
  int f = expect_true("clustering case runs", dml_eval_metrics(x, y, 6, 2, keys, 2, &o, r) == DML_OK);
  double h3 = log(3.0), hc = -(1.0 / 3 * log(1.0 / 3) + 2.0 / 3 * log(2.0 / 3));
  double got[2] = {r[0].value, r[1].value}, ref[2] = {hc / ((h3 + hc) / 2), 0.6};
  f += expect_close("nmi, f1 with k = 2 (hand)", got, ref, 2, 1e-9, 0);
  o.kmeans_k = 3;
  f += expect_true("k = 3 runs", dml_eval_metrics(x, y, 6, 2, keys, 2, &o, r) == DML_OK);
  double g2[2] = {r[0].value, r[1].value}, r2[2] = {1, 1};
  f += expect_close("nmi, f1 perfect clustering", g2, r2, 2, 1e-12, 0);
  return f;
}

/* dists on unit vectors: class 0 = {(1,0), (0,1)}, class 1 = {(−1,0), (0,−1)}.
 * intra: each class has one ordered pair value 1 − cos = 1 − 0 = 1 ⇒ intra = 1.
 * inter: centres normalise((1,1)/2) and normalise((−1,−1)/2): cos = −1 ⇒ 1 − cos = 2 ⇒ inter = 2, ratio 0.5.
 * rho_spectrum: FᵀF = diag(2, 2) ⇒ s = (√2, √2); the top d−1 = 1 value ⇒ s̄ = (1): KL(u‖s̄) = 0 for @1 and the
 * @0 array is (1).
 * The reference's NaN fill (QUIRK, metrics/dists.py): a class of one sample has intra NaN (0/0), replaced by
 * max(intra[1 − isnan(intra)]), i.e. the max over elements 0 and 1 chosen by an integer index; with classes
 * {2 samples, 1 sample} that is max(intra[[1, 0]]) = max(NaN, 1) = NaN, and the mean is NaN — as numpy gives. */
static int dists_case(void) {
  float x[8] = {1, 0, 0, 1, -1, 0, 0, -1};
  int32_t y[4] = {0, 0, 1, 1};
  const char *keys[] = {"dists@intra", "dists@inter", "dists@intra_over_inter", "rho_spectrum@1", "rho_spectrum@0"};
  struct dml_metric_result r[5];
  struct dml_eval_opts o = {0};
  int f = expect_true("dists case runs", dml_eval_metrics(x, y, 4, 2, keys, 5, &o, r) == DML_OK);
  double got[4] = {r[0].value, r[1].value, r[2].value, r[3].value};
  double ref[4] = {1, 2, 0.5, 0};
  f += expect_close("dists intra, inter, ratio, rho@1 (hand)", got, ref, 4, 1e-6, 0);
  f += expect_true("rho_spectrum@0 is an array (1)", r[4].array && r[4].array_len == 1 && fabs(r[4].array[0] - 1) < 1e-12);
  dml_eval_results_free(r, 5);
  float q[6] = {1, 0, 0, 1, -1, 0};
  int32_t qy[3] = {0, 0, 1};
  f += expect_true("quirk case runs", dml_eval_metrics(q, qy, 3, 2, keys, 1, &o, r) == DML_OK);
  f += expect_true("reference NaN-fill quirk: singleton class at position 1 gives NaN", isnan(r[0].value));
  dml_eval_results_free(r, 1);
  return f;
}

/* rho_spectrum@m on a diagonal spectrum: F = diag(4, 2, 1, 1) (rows) ⇒ singular values 4, 2, 1, 1; top d−1 =
 * (4, 2, 1). @1: s̄ = (4,2,1)/7, u = 1/3: KL(u‖s̄) = Σ (1/3) ln((1/3)/s̄_i). @2 drops the largest: s̄ = (2,1)/3,
 * u = 1/2. @−1: KL(s̄‖u) on (4,2,1)/7. */
static int rho_case(void) {
  float x[16] = {4, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  int32_t y[4] = {0, 1, 0, 1};
  const char *keys[] = {"rho_spectrum@1", "rho_spectrum@2", "rho_spectrum@-1"};
  struct dml_metric_result r[3];
  struct dml_eval_opts o = {0};
  int f = expect_true("rho case runs", dml_eval_metrics(x, y, 4, 4, keys, 3, &o, r) == DML_OK);
  double s1[3] = {4 / 7.0, 2 / 7.0, 1 / 7.0}, k1 = 0, km = 0;
  for (int i = 0; i < 3; i++) {
    k1 += (1 / 3.0) * log((1 / 3.0) / s1[i]);
    km += s1[i] * log(s1[i] / (1 / 3.0));
  }
  double k2 = 0.5 * log(0.5 / (2 / 3.0)) + 0.5 * log(0.5 / (1 / 3.0));
  double got[3] = {r[0].value, r[1].value, r[2].value}, ref[3] = {k1, k2, km};
  f += expect_close("rho_spectrum @1 @2 @-1 (hand)", got, ref, 3, 1e-9, 0);
  return f;
}

static int determinism_and_errors(void) {
  enum { N = 600, D = 16 };
  float *x = malloc(N * D * sizeof *x);
  int32_t y[N];
  struct dml_rng g = dml_rng_init(5, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < N; i++) {
    y[i] = i % 12;
    for (int k = 0; k < D; k++) x[i * D + k] = (float)(dml_rng_normal(&g) + (k == y[i] % D ? 2.0 : 0.0));
  }
  const char *keys[] = {"e_recall@1", "c_recall@4", "nmi", "c_nmi", "f1", "mAP_1000", "mAP_lim", "mAP_c", "c_mAP_c", "mAP",
                        "mAP@R", "dists@intra_over_inter", "rho_spectrum@2"};
  size_t nk = sizeof keys / sizeof *keys;
  struct dml_metric_result a[13], b[13];
  struct dml_eval_opts o1 = {.kmeans_k = 12, .n_threads = 1}, o2 = {.kmeans_k = 12, .n_threads = 2};
  int f = expect_true("1 thread", dml_eval_metrics(x, y, N, D, keys, nk, &o1, a) == DML_OK);
  f += expect_true("2 threads", dml_eval_metrics(x, y, N, D, keys, nk, &o2, b) == DML_OK);
  int same = 1;
  for (size_t i = 0; i < nk; i++) {
    int eq = !memcmp(&a[i].value, &b[i].value, sizeof(double));
    if (!eq) printf("    %s: %.17g (1 thread) vs %.17g (2 threads)\n", keys[i], a[i].value, b[i].value);
    same &= eq;
  }
  f += expect_true("bitwise equal with 1 and 2 threads", same);
  int sane = 1;
  for (size_t i = 0; i < nk; i++) sane &= isfinite(a[i].value);
  f += expect_true("all finite", sane);
  /* the full-ranking mAP is at least mAP_c's */
  f += expect_true("mAP (full) >= mAP_c", a[9].value >= a[7].value);
  const char *bad[] = {"e_recal@1"};
  f += expect_true("unknown key → DML_ERR_ARG naming the closest", dml_eval_metrics(x, y, N, D, bad, 1, &o1, a) == DML_ERR_ARG &&
                                                                      strstr(dml_error_message(), "closest: e_recall@1"));
  int32_t one[N];
  for (int i = 0; i < N; i++) one[i] = 7;
  f += expect_true("single class → error", dml_eval_metrics(x, one, N, D, keys, 1, &o1, a) == DML_ERR_ARG);
  x[5] = NAN;
  f += expect_true("NaN → DML_ERR_NUMERIC", dml_eval_metrics(x, y, N, D, keys, 1, &o1, a) == DML_ERR_NUMERIC);
  free(x);
  return f;
}

int main(void) {
  int f = line_case() + clustering_case() + dists_case() + rho_case() + determinism_and_errors();
  return test_report("eval_hand_metrics", f);
}
