/* eval_reference — every metric against independent values from tests/reference/eval_reference.py (numpy exact
 * kNN, sklearn NMI and TruncatedSVD, scipy cdist), committed in tests/fixtures/eval/reference.txt.
 *   case A: 300 rows, d 8, 40 classes; case B: the same rows with two singleton classes (dists@intra NaN-fill
 *   quirk, mAP@R skipping); QG: 100 queries against a 200-row gallery.
 * NMI/F1: (1) our formulas on the fixture's fixed assignment vs sklearn / the pairwise F-measure; (2) when the
 * fixture has them, the full pipeline (our faiss bridge k-means) vs python-faiss's clustering with the reference
 * settings — identical clusterings give identical values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval-impl.h"
#include "eval/eval.h"
#include "fixture.h"
#include "tests/testutil.h"

static const char *const retrieval_names[] = {"recall@1", "recall@2", "recall@4", "recall@8", "recall@16",
                                              "mAP_1000", "mAP_lim",  "mAP_c",    "mAP",      "mAP@R",
                                              "r_precision"};
#define N_RET (sizeof retrieval_names / sizeof *retrieval_names)

/* our key for the fixture's "<p>e_<name>" / "<p>c_<name>" */
static void our_key(char *buf, size_t cap, char kind, const char *name) {
  if (!strncmp(name, "recall@", 7)) snprintf(buf, cap, "%c_%s", kind, name);
  else if (kind == 'e') snprintf(buf, cap, "%s", name);
  else snprintf(buf, cap, "c_%s", name);
}

static int check_value(const struct fixture *fx, const char *fname, const struct dml_metric_result *r, double atol,
                       double rtol) {
  const struct fixture_entry *e = fixture_get(fx, fname);
  if (!e) return 1;
  if (r->array) return expect_close(fname, r->array, e->v, e->n < r->array_len ? e->n : r->array_len, atol, rtol) +
                       expect_true("array length", r->array_len == e->n);
  return expect_scalar(fname, r->value, e->v[0], atol, rtol);
}

static int run_case(const struct fixture *fx, const char *p) {
  int fails = 0;
  char nm[128];
  snprintf(nm, sizeof nm, "%sembeddings", p);
  const struct fixture_entry *fe = fixture_get(fx, nm);
  snprintf(nm, sizeof nm, "%slabels", p);
  const struct fixture_entry *fl = fixture_get(fx, nm);
  if (!fe || !fl) return 1;
  size_t n = fl->n, d = fe->n / n;
  float *emb = xmalloc(n * d * sizeof *emb);
  int32_t *lab = xmalloc(n * sizeof *lab);
  for (size_t i = 0; i < n * d; i++) emb[i] = (float)fe->v[i];
  for (size_t i = 0; i < n; i++) lab[i] = (int32_t)fl->v[i];

  /* retrieval, both metrics: exact (the same ranking → the same float64 arithmetic up to summation order) */
  char keys[2 * N_RET][64];
  const char *kp[2 * N_RET];
  for (int m = 0; m < 2; m++)
    for (size_t i = 0; i < N_RET; i++) {
      our_key(keys[m * N_RET + i], 64, m ? 'c' : 'e', retrieval_names[i]);
      kp[m * N_RET + i] = keys[m * N_RET + i];
    }
  struct dml_metric_result res[2 * N_RET];
  struct dml_eval_opts o = {.kmeans_k = 0, .n_threads = 0};
  dml_status st = dml_eval_metrics(emb, lab, n, d, kp, 2 * N_RET, &o, res);
  fails += expect_true("retrieval metrics computed", st == DML_OK);
  if (!st)
    for (int m = 0; m < 2; m++)
      for (size_t i = 0; i < N_RET; i++) {
        snprintf(nm, sizeof nm, "%s%c_%s", p, m ? 'c' : 'e', retrieval_names[i]);
        fails += check_value(fx, nm, &res[m * N_RET + i], 1e-12, 1e-12);
      }

  /* dists and rho: float64 accumulation vs scipy/sklearn in float64 */
  const char *sk[] = {"dists@intra", "dists@inter", "dists@intra_over_inter", "rho_spectrum@0", "rho_spectrum@-1",
                      "rho_spectrum@1", "rho_spectrum@2", "rho_spectrum@3"};
  struct dml_metric_result sr[8];
  st = dml_eval_metrics(emb, lab, n, d, sk, 8, &o, sr);
  fails += expect_true("statistics computed", st == DML_OK);
  if (!st)
    for (int i = 0; i < 8; i++) {
      snprintf(nm, sizeof nm, "%s%s", p, sk[i]);
      /* tolerance: the reference normalises the class means in float32 (sklearn normalize on a float32 mean), so
       * dists agree to float32 rounding (1e-7); the SVD of float32 data via the float64 Gram matrix loses ~1e-8
       * relative on the smallest singular values */
      fails += check_value(fx, nm, &sr[i], 1e-9, 1e-7);
    }
  dml_eval_results_free(sr, 8);
  if (!st) {
    double s[64];
    snprintf(nm, sizeof nm, "%ssingular_values", p);
    const struct fixture_entry *fs = fixture_get(fx, nm);
    fails += expect_true("singular values", dml_metric_singular_values(emb, n, d, s) == 0 && fs && fs->n == d - 1);
    if (fs) fails += expect_close(nm, s, fs->v, d - 1, 1e-9, 1e-7);
  }

  /* NMI / F1 on the fixture's fixed assignment, through the family functions */
  int nu = 0;
  {
    int32_t *cls = xmalloc(n * sizeof *cls);
    int64_t *cl = xmalloc(n * sizeof *cl);
    snprintf(nm, sizeof nm, "%sfixed_clusters", p);
    const struct fixture_entry *fc = fixture_get(fx, nm);
    /* dense class ids by first appearance order does not matter for NMI/F1 */
    int32_t map_lab[512];
    for (size_t i = 0; i < n; i++) {
      int c = 0;
      while (c < nu && map_lab[c] != lab[i]) c++;
      if (c == nu) map_lab[nu++] = lab[i];
      cls[i] = c;
    }
    int kc = 0;
    for (size_t i = 0; fc && i < n; i++) {
      cl[i] = (int64_t)fc->v[i];
      if (cl[i] + 1 > kc) kc = (int)cl[i] + 1;
    }
    if (fc) {
      snprintf(nm, sizeof nm, "%sfixed_nmi", p);
      const struct fixture_entry *e = fixture_get(fx, nm);
      if (e) fails += expect_scalar(nm, dml_metric_nmi(cls, nu, cl, kc, n), e->v[0], 1e-12, 1e-12);
      snprintf(nm, sizeof nm, "%sfixed_f1", p);
      e = fixture_get(fx, nm);
      if (e) fails += expect_scalar(nm, dml_metric_f1(cls, nu, cl, kc, n), e->v[0], 1e-12, 1e-12);
    } else {
      fails++;
    }
    free(cls);
    free(cl);
  }

  /* the whole pipeline against python-faiss's clustering with the reference settings (if the fixture has it) */
  int has_faiss = 0;
  for (size_t i = 0; i < fx->n; i++)
    if (!strncmp(fx->e[i].name, p, strlen(p)) && strstr(fx->e[i].name, "faiss_kmeans_k")) has_faiss = 1;
  if (has_faiss) {
    snprintf(nm, sizeof nm, "%sfaiss_kmeans_k", p);
    struct dml_eval_opts ko = {.kmeans_k = (int)fixture_get(fx, nm)->v[0]};
    const char *ck[] = {"nmi", "f1", "c_nmi", "c_f1"};
    const char *cf[] = {"faiss_nmi", "faiss_f1", "faiss_c_nmi", "faiss_c_f1"};
    struct dml_metric_result cr[4];
    st = dml_eval_metrics(emb, lab, n, d, ck, 4, &ko, cr);
    fails += expect_true("clustering metrics computed", st == DML_OK);
    for (int i = 0; i < 4 && !st; i++) {
      snprintf(nm, sizeof nm, "%s%s", p, cf[i]);
      fails += check_value(fx, nm, &cr[i], 1e-12, 1e-12);
    }
  } else {
    printf("note: fixture has no python-faiss clustering (python3-faiss was not installed); skipped that check\n");
  }
  dml_eval_results_free(res, 2 * N_RET);
  free(emb);
  free(lab);
  return fails;
}

static int run_qg(const struct fixture *fx) {
  const struct fixture_entry *fe = fixture_get(fx, "A.embeddings"), *fl = fixture_get(fx, "A.labels");
  if (!fe || !fl) return 1;
  size_t n = fl->n, d = fe->n / n, nq = 100;
  float *emb = xmalloc(n * d * sizeof *emb);
  int32_t *lab = xmalloc(n * sizeof *lab);
  for (size_t i = 0; i < n * d; i++) emb[i] = (float)fe->v[i];
  for (size_t i = 0; i < n; i++) lab[i] = (int32_t)fl->v[i];
  char keys[2 * N_RET][64], nm[128];
  const char *kp[2 * N_RET];
  for (int m = 0; m < 2; m++)
    for (size_t i = 0; i < N_RET; i++) {
      our_key(keys[m * N_RET + i], 64, m ? 'c' : 'e', retrieval_names[i]);
      kp[m * N_RET + i] = keys[m * N_RET + i];
    }
  struct dml_metric_result res[2 * N_RET];
  dml_status st = dml_eval_metrics_qg(emb, lab, nq, emb + nq * d, lab + nq, n - nq, d, kp, 2 * N_RET, NULL, res);
  int fails = expect_true("query/gallery metrics computed", st == DML_OK);
  for (int m = 0; m < 2 && !st; m++)
    for (size_t i = 0; i < N_RET; i++) {
      snprintf(nm, sizeof nm, "QG.%c_%s", m ? 'c' : 'e', retrieval_names[i]);
      fails += check_value(fx, nm, &res[m * N_RET + i], 1e-12, 1e-12);
    }
  free(emb);
  free(lab);
  return fails;
}

int main(void) {
  struct fixture fx;
  if (fixture_load("tests/fixtures/eval/reference.txt", &fx)) return test_report("eval_reference", 1);
  int fails = run_case(&fx, "A.");
  fails += run_case(&fx, "B.");
  fails += run_qg(&fx);
  fixture_free(&fx);
  return test_report("eval_reference", fails);
}
