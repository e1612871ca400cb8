/* test_sampler_miner — class_random batch composition and determinism; distance-miner tuple validity and
 * sampling frequencies against the weights computed independently here in double (chi-square bound). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "train/train.h"

static int sampler_tests(void) {
  int f = 0;
  struct dml_dataset d = {0};
  d.n = 100;
  d.n_classes = 10;
  d.labels = malloc(d.n * sizeof *d.labels);
  d.classes = malloc(d.n_classes * sizeof *d.classes);
  for (int i = 0; i < d.n; i++) d.labels[i] = 10 + i % 10; /* labels 10..19 */
  for (int c = 0; c < 10; c++) d.classes[c] = 10 + c;
  struct dml_train_opts o;
  struct dml_train_cli tc;
  dml_train_cli_parse_string(&tc, &o, "");
  struct dml_opts opt = dml_train_cli_opts(&tc);
  struct dml_sampler_shape shape = {d.n, d.labels, d.n_classes, d.classes, 12, 3, 5};
  struct dml_sampler s;
  f += expect_true("sampler create", dml_sampler_create("class_random", &opt, &shape, &s) == DML_OK);
  f += expect_true("batches per epoch = floor(N/bs)", s.n_batches == 8);
  int32_t a[12], b[12];
  int groups_ok = 1;
  for (long step = 0; step < 50; step++) {
    s.batch(&s, 2, step, a);
    for (int g = 0; g < 4; g++)
      for (int j = 1; j < 3; j++) groups_ok &= d.labels[a[g * 3 + j]] == d.labels[a[g * 3]];
  }
  f += expect_true("every group of samples_per_class shares a class", groups_ok);
  s.batch(&s, 2, 7, a);
  s.batch(&s, 2, 7, b);
  f += expect_true("batch is a pure function of (seed, epoch, step)", !memcmp(a, b, sizeof a));
  s.batch(&s, 3, 7, b);
  f += expect_true("another epoch, another batch", memcmp(a, b, sizeof a) != 0);
  struct dml_sampler_shape bad = shape;
  bad.bs = 10;
  struct dml_sampler s2;
  f += expect_true("bs not divisible by spc is an error", dml_sampler_create("class_random", &opt, &bad, &s2) == DML_ERR_ARG);
  dml_train_cli_free(&tc);
  dml_sampler_free(&s);
  free(d.labels);
  free(d.classes);
  return f;
}

static int miner_tests(void) {
  int f = 0;
  enum { B = 8, D = 4 };
  struct dml_train_opts o;
  struct dml_train_cli tc;
  dml_train_cli_parse_string(&tc, &o, "--batch_mining distance --miner_distance_lower_cutoff 0.5");
  struct dml_opts opt = dml_train_cli_opts(&tc);
  struct dml_miner m;
  f += expect_true("miner create", dml_miner_create("distance", &opt, &m) == DML_OK);
  dml_train_cli_free(&tc);
  int32_t labels[B] = {0, 0, 1, 1, 2, 2, 3, 3};
  float emb[B * D];
  struct dml_rng r0 = dml_rng_init(9, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < B; i++) {
    double s = 0;
    for (int k = 0; k < D; k++) { emb[i * D + k] = (float)dml_rng_normal(&r0); s += emb[i * D + k] * emb[i * D + k]; }
    for (int k = 0; k < D; k++) emb[i * D + k] /= (float)sqrt(s);
  }
  /* independent weights for anchor 0 (Wu et al.): q(d) ∝ d^(D−2) (1 − d²/4)^((D−3)/2), w = 1/q on negatives */
  double w[B] = {0}, tot = 0;
  for (int j = 0; j < B; j++) {
    if (labels[j] == labels[0]) continue;
    double d2 = 0;
    for (int k = 0; k < D; k++) d2 += (emb[k] - emb[j * D + k]) * (emb[k] - emb[j * D + k]);
    double d = fmax(sqrt(d2), 0.5);
    w[j] = 1.0 / (pow(d, D - 2) * pow(1 - d * d / 4, (D - 3) / 2.0));
    tot += w[j];
  }
  long cnt[B] = {0};
  int valid = 1;
  const int N = 20000;
  for (int it = 0; it < N; it++) {
    struct dml_rng r = dml_rng_init(1, DML_RNG_MINER, 0, (uint64_t)it);
    struct dml_tuples tu = {0};
    m.mine(&m, emb, labels, B, D, &r, &tu);
    valid &= tu.n == B;
    for (int t = 0; t < tu.n; t++) {
      int a = tu.t[t][0], p = tu.t[t][1], n = tu.t[t][2];
      valid &= labels[a] == labels[p] && a != p && labels[n] != labels[a];
      if (a == 0) cnt[n]++;
    }
    dml_tuples_free(&tu);
  }
  f += expect_true("every tuple valid: same-class positive != anchor, other-class negative", valid);
  double chi = 0;
  int dof = -1;
  for (int j = 0; j < B; j++) {
    if (w[j] == 0) continue;
    double e = N * w[j] / tot;
    chi += (cnt[j] - e) * (cnt[j] - e) / e;
    dof++;
  }
  /* 5 dof: 99.9% quantile 20.52 */
  f += expect_true("negative frequencies match the distance weights (chi2, 5 dof, < 20.52)", dof == 5 && chi < 20.52);
  dml_miner_free(&m);
  return f;
}

static int adam_tests(void) {
  /* Hand case: torch.optim.Adam, lr 0.1, one parameter p = 1 with gradient g = 0.5, weight decay 0.1:
   * step 1: g' = 0.5 + 0.1·1 = 0.6; m = 0.06, v = 0.00036; m̂ = 0.6, v̂ = 0.36 → p = 1 − 0.1·0.6/(0.6 + 1e-8)
   *         = 0.9000000017; step 2 with g = 0.5: g' = 0.59; m = 0.9·0.06 + 0.1·0.59 = 0.113,
   *         v = 0.999·0.00036 + 0.001·0.3481 = 0.00070774; m̂ = 0.113/0.19, v̂ = 0.00070774/0.001999 */
  struct dml_backend *be = dml_backend_cpu_new();
  struct dml_params ps;
  dml_params_init(&ps, be);
  dml_params_declare(&ps, "p", 1, (int[]){1}, 1, 0);
  dml_params_alloc(&ps);
  ps.values[0] = 1;
  float m[16] = {0}, v[16] = {0};
  struct dml_adam a = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  double lr[1] = {0.1};
  unsigned char frozen[1] = {1}, thawed[1] = {0};
  long steps[1] = {0};
  ps.grads[0] = 0.5f;
  dml_adam_step(&a, &ps, m, v, 0.1, lr, frozen, steps); /* not stepped: no change, count stays 0 */
  int f = expect_true("a frozen parameter is not stepped", ps.values[0] == 1 && steps[0] == 0);
  dml_adam_step(&a, &ps, m, v, 0.1, lr, thawed, steps);
  f += expect_scalar("adam step 1", ps.values[0], 1 - 0.1 * 0.6 / (0.6 + 1e-8), 1e-6, 0);
  double p1 = ps.values[0];
  double g2 = 0.5 + 0.1 * p1, m2 = 0.9 * 0.06 + 0.1 * g2, v2 = 0.999 * 0.00036 + 0.001 * g2 * g2;
  double ref = p1 - 0.1 * (m2 / 0.19) / (sqrt(v2 / (1 - 0.999 * 0.999)) + 1e-8);
  ps.grads[0] = 0.5f;
  dml_adam_step(&a, &ps, m, v, 0.1, lr, NULL, steps);
  f += expect_scalar("adam step 2", ps.values[0], ref, 1e-6, 0);
  dml_params_free(&ps);
  dml_backend_free(be);
  return f;
}

int main(void) {
  int fails = sampler_tests() + miner_tests() + adam_tests();
  return test_report("train_sampler_miner_adam", fails);
}
