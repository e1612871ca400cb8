/* eval_hand — every metric family on cases small enough to compute by hand; the hand computation is written
 * next to each expected value. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval/eval-impl.h"
#include "eval/eval.h"
#include "eval/faiss_bridge.h"
#include "tests/testutil.h"

/* Five points on a line (d = 2, y = 0): p0 = 0 (A), p1 = 1 (A), p2 = 3 (B), p3 = 6.5 (A), p4 = 11 (B).
 * Neighbours, self excluded, nearest first (no ties):
 *   p0: p1 p2 p3 p4 → A B A B   rel 1 0 1 0   (class A, n = 3)
 *   p1: p0 p2 p3 p4 → A B A B   rel 1 0 1 0   (A, 3)
 *   p2: p1 p0 p3 p4 → A A A B   rel 0 0 0 1   (B, 2)
 *   p3: p2 p4 p1 p0 → B B A A   rel 0 0 1 1   (A, 3)
 *   p4: p3 p2 p1 p0 → A B A A   rel 0 1 0 0   (B, 2) */
static int line_case(void) {
  const float x[] = {0, 0, 1, 0, 3, 0, 6.5f, 0, 11, 0};
  const int32_t lab[] = {7, 7, -2, 7, -2};
  const char *keys[] = {"e_recall@1", "e_recall@2", "e_recall@3", "e_recall@4", "e_recall@9", "mAP_c", "mAP_1000",
                        "mAP_lim", "mAP", "mAP@R", "r_precision"};
  const double want[] = {
      2.0 / 5,     /* recall@1: p0, p1 */
      3.0 / 5,     /* recall@2: + p4 */
      4.0 / 5,     /* recall@3: + p3 */
      1.0,         /* recall@4: + p2 */
      1.0,         /* recall@9: k beyond the 4 retrievable → all 4 */
      53.0 / 180,  /* mAP_c, R = n_q, /n_q: p0,p1 (1 + 2/3)/3 = 5/9; p2 0; p3 (1/3)/3 = 1/9; p4 (1/2)/2 = 1/4;
                      (5/9 + 5/9 + 0 + 1/9 + 1/4)/5 = 53/180 */
      127.0 / 360, /* mAP_1000, window capped at N−1 = 4: p0,p1 5/9; p2 (1/4)/2 = 1/8; p3 (1/3 + 2/4)/3 = 5/18;
                      p4 1/4 → (40 + 40 + 9 + 20 + 18)/72/5 = 127/360 */
      127.0 / 360, /* mAP_lim: min(1023, 5) capped at 4: the same */
      127.0 / 360, /* mAP: N capped at 4: the same */
      1.0 / 5,     /* mAP@R, R = n_q − 1: p0,p1 (1)/2; p2 R=1 first is A → 0; p3 R=2 → 0; p4 R=1 → 0 → (1/2+1/2)/5 */
      1.0 / 5,     /* r_precision: p0,p1 1/2; others 0 → 1/5 */
  };
  struct dml_metric_result r[11];
  int fails = expect_true("line case computed", dml_eval_metrics(x, lab, 5, 2, keys, 11, NULL, r) == DML_OK);
  for (int i = 0; i < 11; i++) fails += expect_scalar(keys[i], r[i].value, want[i], 1e-15, 1e-14);
  return fails;
}

/* NMI and F1 of classes (0 0 0 1 1 1) against clusters (0 0 1 1 2 2), n = 6:
 *   contingency: class 0 → {c0: 2, c1: 1}; class 1 → {c1: 1, c2: 2}
 *   H(classes) = ln 2; H(clusters) = ln 3; MI = Σ n_ij/n ln(n n_ij / (a_i b_j)) = 1/3 ln(12/6) + 1/6 ln(6/6)
 *   + 1/6 ln 1 + 1/3 ln 2 = (2/3) ln 2;  NMI (arithmetic) = (2/3 ln 2) / ((ln 2 + ln 3)/2) = (4/3) ln 2 / ln 6.
 *   F1: A = C(3,2) + C(3,2) = 6 same-class pairs, B = 3·C(2,2) = 3 same-cluster pairs, T = C(2,2) + C(2,2) = 2;
 *   P = T/A = 1/3, R = T/B = 2/3, F1 = 2PR/(P+R) = 4/9. */
static int clustering_case(void) {
  const int32_t cls[] = {0, 0, 0, 1, 1, 1};
  const int64_t cl[] = {0, 0, 1, 1, 2, 2};
  int fails = expect_scalar("nmi", dml_metric_nmi(cls, 2, cl, 3, 6), 4.0 / 3 * log(2) / log(6), 1e-15, 1e-14);
  fails += expect_scalar("f1", dml_metric_f1(cls, 2, cl, 3, 6), 4.0 / 9, 1e-15, 1e-14);
  /* identical partitions: NMI 1, F1 1 */
  const int64_t same[] = {1, 1, 1, 0, 0, 0};
  fails += expect_scalar("nmi identical", dml_metric_nmi(cls, 2, same, 2, 6), 1.0, 1e-15, 1e-14);
  fails += expect_scalar("f1 identical", dml_metric_f1(cls, 2, same, 2, 6), 1.0, 1e-15, 1e-14);
  /* one cluster for everything: MI = 0 → NMI 0 (sklearn) */
  const int64_t one[] = {0, 0, 0, 0, 0, 0};
  fails += expect_scalar("nmi one cluster", dml_metric_nmi(cls, 2, one, 1, 6), 0.0, 1e-15, 0);
  /* the full pipeline: two well-separated blobs, k = 2 → k-means recovers the classes → nmi = f1 = 1 */
  const float x[] = {0, 0, 0.1f, 0, 0, 0.1f, 10, 10, 10.1f, 10, 10, 10.1f};
  const int32_t lab[] = {3, 3, 3, 9, 9, 9};
  const char *keys[] = {"nmi", "f1", "c_nmi", "c_f1"};
  struct dml_metric_result r[4];
  struct dml_eval_opts o = {.kmeans_k = 2};
  fails += expect_true("blobs computed", dml_eval_metrics(x, lab, 6, 2, keys, 4, &o, r) == DML_OK);
  fails += expect_scalar("nmi blobs", r[0].value, 1.0, 1e-12, 0);
  fails += expect_scalar("f1 blobs", r[1].value, 1.0, 1e-12, 0);
  /* cosine: the normalised centroids (≈(1,0)/(0,1)-ish vs (0.7,0.7)) — blob A near the origin points every way;
   * only check the values are proper */
  fails += expect_true("c_nmi in [0,1]", r[2].value >= 0 && r[2].value <= 1);
  fails += expect_true("c_f1 in [0,1]", r[3].value >= 0 && r[3].value <= 1);
  return fails;
}

/* dists on 2-D rows:
 *   class 0: a = (1,0), b = (0,1): cos 0 → 1 − cos = 1 for both ordered pairs → intra_0 = 2/2 = 1
 *   class 1: c = (2,0), e = (1,1): cos = 2/(2·√2) = 1/√2 → intra_1 = 1 − 1/√2
 *   intra = (1 + 1 − 1/√2)/2 = 1 − 1/(2√2)
 *   centres of the RAW means: (0.5,0.5) → (1,1)/√2; (1.5,0.5) → (3,1)/√10; cos = 4/√20 = 2/√5
 *   inter = 1 − 2/√5 (the mean over the 2 ordered pairs of distinct centres)
 *   (normalised-row means would give class 1 the centre direction (0.854, 0.354): a different value) */
static int dists_case(void) {
  const float x[] = {1, 0, 0, 1, 2, 0, 1, 1};
  const int32_t lab[] = {0, 0, 1, 1};
  const char *keys[] = {"dists@intra", "dists@inter", "dists@intra_over_inter"};
  struct dml_metric_result r[3];
  int fails = expect_true("dists computed", dml_eval_metrics(x, lab, 4, 2, keys, 3, NULL, r) == DML_OK);
  double intra = 1 - 1 / (2 * sqrt(2)), inter = 1 - 2 / sqrt(5);
  fails += expect_scalar("dists@intra", r[0].value, intra, 1e-15, 1e-14);
  fails += expect_scalar("dists@inter", r[1].value, inter, 1e-15, 1e-13);
  fails += expect_scalar("dists@intra_over_inter", r[2].value, intra / inter, 1e-15, 1e-13);
  /* the NaN-fill quirk: classes (sorted) 0: {(1,0),(0,1)} intra 1; 1: {(2,0),(1,1)} intra 1 − 1/√2;
   * 2: {(0,3)} alone → NaN; 3: {(1,0),(−1,0)} cos −1 → intra 2.
   * Reference fill = max(v[0], v[1]) = 1 (not the true max 2): intra = (1 + 1 − 1/√2 + 1 + 2)/4 */
  const float y[] = {1, 0, 0, 1, 2, 0, 1, 1, 0, 3, 1, 0, -1, 0};
  const int32_t ly[] = {0, 0, 1, 1, 2, 3, 3};
  fails += expect_true("quirk computed", dml_eval_metrics(y, ly, 7, 2, keys, 1, NULL, r) == DML_OK);
  fails += expect_scalar("dists@intra NaN fill", r[0].value, (5 - 1 / sqrt(2)) / 4, 1e-15, 1e-14);
  /* a singleton at class 0 → fill = NaN (np.max propagates it) → intra NaN, as the reference */
  const int32_t lz[] = {5, 5, 1, 1, 0, 3, 3};
  fails += expect_true("quirk NaN computed", dml_eval_metrics(y, lz, 7, 2, keys, 1, NULL, r) == DML_OK);
  fails += expect_true("dists@intra NaN when class 0 is a singleton", isnan(r[0].value));
  return fails;
}

/* rho on F = diag(3, 2, 1) (n = d = 3): singular values 3, 2, 1; the CPU path keeps the top d − 1 = 2: (3, 2).
 *   @0: s̄ = (3/5, 2/5);  @1: KL(u‖s̄), u = (1/2, 1/2): ½ ln(½/0.6) + ½ ln(½/0.4) = ½ ln(25/24)
 *   @−1: KL(s̄‖u) = 0.6 ln 1.2 + 0.4 ln 0.8;  @2: drop the largest → (2) → s̄ = u = (1) → 0
 *   (with all d values, @1 would be KL(1/3‖(1/2, 1/3, 1/6)) ≠ ½ ln(25/24)) */
static int rho_case(void) {
  const float x[] = {3, 0, 0, 0, 2, 0, 0, 0, 1};
  const int32_t lab[] = {0, 0, 1};
  const char *keys[] = {"rho_spectrum@0", "rho_spectrum@1", "rho_spectrum@-1", "rho_spectrum@2"};
  struct dml_metric_result r[4];
  int fails = expect_true("rho computed", dml_eval_metrics(x, lab, 3, 3, keys, 4, NULL, r) == DML_OK);
  const double s0[] = {0.6, 0.4};
  fails += expect_true("rho@0 is an array of d-1", r[0].array && r[0].array_len == 2 && isnan(r[0].value));
  if (r[0].array) fails += expect_close("rho_spectrum@0", r[0].array, s0, 2, 1e-14, 1e-13);
  fails += expect_scalar("rho_spectrum@1", r[1].value, 0.5 * log(25.0 / 24), 1e-14, 1e-12);
  fails += expect_scalar("rho_spectrum@-1", r[2].value, 0.6 * log(1.2) + 0.4 * log(0.8), 1e-14, 1e-12);
  fails += expect_scalar("rho_spectrum@2", r[3].value, 0.0, 1e-14, 0);
  fails += expect_true("definition names the CPU path", strstr(r[1].definition, "top(d-1)") != NULL);
  dml_eval_results_free(r, 4);
  fails += expect_true("freed", r[0].array == NULL);
  return fails;
}

/* Query/gallery: gallery g0 = 0 (A), g1 = 2 (B), g2 = 5 (A); queries q0 = 1.2 (A), q1 = 4 (B), q2 = 10 (C).
 *   q0: g1 0.8, g0 1.2, g2 3.8 → B A A (2 relevant);  q1: g2 1, g1 2, g0 4 → A B A (1 relevant);  q2: no relevant.
 *   recall@1 = 0/3; recall@2 = 2/3 (q2 always misses)
 *   mAP_c (R = n_q = gallery count): q0 (1/2)/2 = 1/4; q1 R=1 → 0; q2 left out → 1/8
 *   mAP_1000 (window capped at 3): q0 (1/2 + 2/3)/2 = 7/12; q1 (1/2)/1 = 1/2 → 13/24
 *   mAP@R = mAP_c here = 1/8; r_precision: q0 1/2, q1 0 → 1/4 */
static int qg_case(void) {
  const float q[] = {1.2f, 0, 4, 0, 10, 0}, g[] = {0, 0, 2, 0, 5, 0};
  const int32_t ql[] = {1, 2, 3}, gl[] = {1, 2, 1};
  const char *keys[] = {"e_recall@1", "e_recall@2", "mAP_c", "mAP_1000", "mAP@R", "r_precision"};
  const double want[] = {0, 2.0 / 3, 1.0 / 8, 13.0 / 24, 1.0 / 8, 1.0 / 4};
  struct dml_metric_result r[6];
  int fails = expect_true("qg computed", dml_eval_metrics_qg(q, ql, 3, g, gl, 3, 2, keys, 6, NULL, r) == DML_OK);
  for (int i = 0; i < 6; i++) fails += expect_scalar(keys[i], r[i].value, want[i], 1e-15, 1e-14);
  const char *bad[] = {"nmi"};
  fails += expect_true("qg rejects nmi", dml_eval_metrics_qg(q, ql, 3, g, gl, 3, 2, bad, 1, NULL, r) == DML_ERR_ARG);
  return fails;
}

/* Exact duplicates of different labels (class_random can repeat an image; two datasets can share one):
 * p0 = (0,0) A, p1 = (0,0) B (the same point), p2 = (3,0) A, p3 = (0,4) B. Distances: p0–p1 0, p0/p1–p2 3,
 * p0/p1–p3 4, p2–p3 5. faiss lists equal distances by increasing index (checked below, first), so p1's raw list is
 * p0 p1 p2 p3: the reference's rule drops the FIRST hit — p0, the duplicate — and keeps p1 itself.
 *   first-neighbour rule (e_recall@k, mAP_*):  q0: p1 p2 p3 → B A B;  q1: p1 p2 p3 → B A B (itself first);
 *                                               q2: p0 p1 p3 → A B B;  q3: p0 p1 p2 → A B A
 *     e_recall@1 = (0 + 1 + 1 + 0)/4 = 1/2;  mAP_c (R = n = 2, /2): q0 (1/2)/2, q1 1/2, q2 1/2, q3 (1/2)/2 → 3/8
 *     mAP_1000 (window 3): q0 1/4, q1 (1 + 2/3)/2 = 5/6, q2 1/2, q3 1/4 → 11/24;  mAP (full ranking): the same
 *   by-index rule (mAP@R, r_precision; R = 1): q0 p1 → 0; q1 p0 → 0; q2 p0 → 1; q3 p0 → 0 → 1/4 each */
static int duplicate_case(void) {
  const float x[] = {0, 0, 0, 0, 3, 0, 0, 4};
  const int32_t lab[] = {1, 2, 1, 2};
  int64_t idx[16];
  float dist[16];
  char err[256];
  int fails = expect_true("faiss search", dml_faiss_knn(x, 4, x, 4, 2, 4, 0, idx, dist, err, sizeof err) == 0);
  fails += expect_true("faiss lists the tied p0, p1 by index (the expectations below assume it)",
                       idx[0] == 0 && idx[1] == 1 && idx[4] == 0 && idx[5] == 1 && idx[9] == 0 && idx[10] == 1);
  const char *keys[] = {"e_recall@1", "mAP_c", "mAP_1000", "mAP", "mAP@R", "r_precision"};
  const double want[] = {1.0 / 2, 3.0 / 8, 11.0 / 24, 11.0 / 24, 1.0 / 4, 1.0 / 4};
  struct dml_metric_result r[6];
  fails += expect_true("duplicate case computed", dml_eval_metrics(x, lab, 4, 2, keys, 6, NULL, r) == DML_OK);
  for (int i = 0; i < 6; i++) {
    char tag[96];
    snprintf(tag, sizeof tag, "exact duplicates of two labels: %s", keys[i]);
    fails += expect_scalar(tag, r[i].value, want[i], 1e-15, 1e-14);
  }
  fails += expect_true("mAP@R's definition says the query is excluded by index", strstr(r[4].definition, "by index") != NULL);
  dml_eval_results_free(r, 6);
  return fails;
}

/* Errors: each a dml_status with a clear message. */
static int error_cases(void) {
  const float x[] = {0, 0, 1, 0, 3, 0, 6.5f, 0};
  const int32_t lab[] = {1, 1, 2, 2}, one[] = {4, 4, 4, 4};
  struct dml_metric_result r[2];
  const char *k1[] = {"e_recal@1"};
  int fails = expect_true("unknown key", dml_eval_metrics(x, lab, 4, 2, k1, 1, NULL, r) == DML_ERR_ARG);
  fails += expect_true("message names the key and the closest",
                       strstr(dml_error_message(), "'e_recal@1'") && strstr(dml_error_message(), "closest: e_recall@1"));
  const char *k0[] = {"e_recall@0"};
  fails += expect_true("recall@0 unknown", dml_eval_metrics(x, lab, 4, 2, k0, 1, NULL, r) == DML_ERR_ARG);
  const char *ok[] = {"e_recall@1"};
  fails += expect_true("n < 2", dml_eval_metrics(x, lab, 1, 2, ok, 1, NULL, r) == DML_ERR_ARG);
  fails += expect_true("single class", dml_eval_metrics(x, one, 4, 2, ok, 1, NULL, r) == DML_ERR_ARG &&
                                           strstr(dml_error_message(), "2 classes"));
  float bad[8];
  memcpy(bad, x, sizeof bad);
  bad[5] = NAN;
  fails += expect_true("NaN", dml_eval_metrics(bad, lab, 4, 2, ok, 1, NULL, r) == DML_ERR_NUMERIC &&
                                  strstr(dml_error_message(), "row 2"));
  bad[5] = INFINITY;
  fails += expect_true("Inf", dml_eval_metrics(bad, lab, 4, 2, ok, 1, NULL, r) == DML_ERR_NUMERIC);
  fails += expect_true("known: rho_spectrum@-7", dml_eval_known_metric("rho_spectrum@-7"));
  fails += expect_true("known: c_mAP@R", dml_eval_known_metric("c_mAP@R"));
  fails += expect_true("known: e_recall@1000", dml_eval_known_metric("e_recall@1000"));
  fails += expect_true("unknown: nmi@1", !dml_eval_known_metric("nmi@1"));
  fails += expect_true("unknown: rho_spectrum@x", !dml_eval_known_metric("rho_spectrum@x"));
  return fails;
}

int main(void) {
  int fails = line_case();
  fails += clustering_case();
  fails += dists_case();
  fails += rho_case();
  fails += qg_case();
  fails += duplicate_case();
  fails += error_cases();
  return test_report("eval_hand", fails);
}
