/* test_methods — adding a method is one file and one line (issue 11): this binary's registry is the real one plus
 * tests/methods/toy_criterion.c, toy_miner.c and toy_sampler.c, each registered by one line (criteria_list.h,
 * miners_list.h, samplers_list.h). Checked: all are listed; their flags join dml-train's flat table (exact names
 * and prefixes parse, the config JSON holds them, their defaults apply); --help lists them under their method's
 * heading; the sampler's batches, the miner's tuples and the criterion's loss and gradient equal hand
 * computations; a batch of the wrong embedding dimension is an error; and dml_train_run trains and evaluates a
 * 1-epoch run with --loss toy --batch_mining toy --data_sampler toy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/runrecord.h"
#include "tests/testutil.h"
#include "train/trainer.h"

static int listed(void) {
  int f = 0, crit = 0, miner = 0, sampler = 0;
  for (int i = 0; dml_criterion_name(i); i++) crit += !strcmp(dml_criterion_name(i), "toy");
  for (int i = 0; dml_miner_name(i); i++) miner += !strcmp(dml_miner_name(i), "toy");
  for (int i = 0; dml_sampler_name(i); i++) sampler += !strcmp(dml_sampler_name(i), "toy");
  f += expect_true("the toy criterion is registered once", crit == 1);
  f += expect_true("the toy miner is registered once", miner == 1);
  f += expect_true("the toy sampler is registered once", sampler == 1);
  f += expect_true("the real methods are still there",
                   dml_criterion_name(16) && dml_miner_name(10) && dml_sampler_name(5));
  return f;
}

static int flags_and_help(void) {
  int f = 0;
  struct dml_train_opts o;
  struct dml_train_cli tc;
  f += expect_true("--loss_toy_sc (a prefix) and --miner_toy_every parse",
                   dml_train_cli_parse_string(&tc, &o, "--loss toy --loss_toy_sc 2.5 --miner_toy_every 3") == DML_OK);
  struct dml_opts opt = dml_train_cli_opts(&tc);
  f += expect_true("the view reads --loss_toy_scale 2.5", dml_opts_float(&opt, "loss_toy_scale") == 2.5);
  f += expect_true("the view reads --miner_toy_every 3", dml_opts_int(&opt, "miner_toy_every") == 3);
  char *json = dml_flags_to_json(&tc.cli);
  f += expect_true("the config JSON holds the toy flags",
                   strstr(json, "\"loss_toy_scale\":2.5") && strstr(json, "\"miner_toy_every\":3"));
  f += expect_true("... and the real ones", strstr(json, "\"loss_margin_beta\":1.2") != NULL);
  free(json);
  char *buf = NULL;
  size_t len = 0;
  FILE *mf = open_memstream(&buf, &len);
  dml_flags_print_help(&tc.cli, mf);
  fclose(mf);
  const char *h = strstr(buf, "\n--loss toy: (test) pulls mined positives together (miner: any):\n");
  const char *hm = strstr(buf, "\n--batch_mining toy: ");
  f += expect_true("--help has a --loss toy heading", h != NULL);
  f += expect_true("... with --loss_toy_scale under it, default 1",
                   h && strstr(h, "  --loss_toy_scale X") && strstr(h, "toy: scale of the pull term [1]"));
  f += expect_true("--help has a --batch_mining toy heading with its flag", hm && strstr(hm, "--miner_toy_every INT"));
  const char *hs = strstr(buf, "\n--data_sampler toy: ");
  f += expect_true("an alias is named in its sampler's heading",
                   strstr(buf, "\n--data_sampler full_random (or random): bs - 1 uniform draws") != NULL);
  f += expect_true("--help has a --data_sampler toy heading with its flag", hs && strstr(hs, "--data_toy_offset INT"));
  f += expect_true("the flag is not also listed among the loop's flags",
                   h && strstr(buf, "--loss_toy_scale") == strstr(h, "--loss_toy_scale"));
  free(buf);
  dml_train_cli_free(&tc);
  struct dml_train_cli t2;
  f += expect_true("a wrong value is an error", dml_train_cli_parse_string(&t2, &o, "--loss_toy_scale x") == DML_ERR_ARG);
  dml_train_cli_free(&t2);
  return f;
}

static int loss_by_hand(void) {
  enum { B = 5, D = 3 };
  int f = 0;
  struct dml_train_opts o;
  struct dml_train_cli tc;
  dml_train_cli_parse_string(&tc, &o, "--loss_toy_scale 0.5");
  struct dml_opts opt = dml_train_cli_opts(&tc);
  int32_t classes[2] = {4, 9}, labels[B] = {4, 9, 4, 9, 9};
  struct dml_criterion_shape shape = {D, 2, classes};
  struct dml_criterion c;
  struct dml_miner m;
  f += expect_true("create the toy criterion", dml_criterion_create("toy", &opt, &shape, &c) == DML_OK);
  f += expect_true("create the toy miner (defaults: every anchor)", dml_miner_create("toy", &opt, &m) == DML_OK);
  dml_train_cli_free(&tc); /* methods copy what they read */
  float emb[B * D] = {0.1f, 0.2f, 0.3f, -0.4f, 0.5f, 0.6f, 0.7f, -0.8f, 0.9f, 1.0f, 1.1f, -1.2f, 0.3f, 0.2f, 0.1f};
  struct dml_tuples tu = {0};
  struct dml_rng r = dml_rng_init(1, DML_RNG_TEST, 0, 0);
  m.mine(&m, emb, labels, B, D, &r, &tu);
  /* by hand: first other same-label position and first other-label position */
  int want[B][3] = {{0, 2, 1}, {1, 3, 0}, {2, 0, 1}, {3, 1, 0}, {4, 1, 0}};
  int same = tu.n == B;
  for (int t = 0; same && t < B; t++) same = !memcmp(tu.t[t], want[t], sizeof want[t]);
  f += expect_true("the toy miner's tuples", same);
  double L = 0, ref = 0, gref[B * D] = {0}, got[B * D];
  float g[B * D];
  f += expect_true("loss", dml_criterion_loss(&c, emb, labels, B, D, &tu, &L, g) == DML_OK);
  for (int t = 0; t < B; t++)
    for (int k = 0; k < D; k++) {
      double u = (double)emb[want[t][0] * D + k] - emb[want[t][1] * D + k];
      ref += 0.5 * u * u / B;
      gref[want[t][0] * D + k] += 2 * 0.5 * u / B;
      gref[want[t][1] * D + k] -= 2 * 0.5 * u / B;
    }
  for (int i = 0; i < B * D; i++) got[i] = g[i];
  f += expect_scalar("toy loss = s · mean ‖x_a − x_p‖²", L, ref, 1e-12, 1e-9);
  f += expect_close("toy gradient", got, gref, B * D, 1e-7, 1e-6);
  f += expect_true("a batch of another embedding dimension is an error",
                   dml_criterion_loss(&c, emb, labels, B, D - 1, &tu, &L, g) == DML_ERR_ARG &&
                       strstr(dml_error_message(), "dimension 2"));
  dml_tuples_free(&tu);
  dml_miner_free(&m);
  dml_criterion_free(&c);
  return f;
}

static int sampler_by_hand(void) {
  int f = 0;
  enum { N = 12, C = 3 };
  int32_t labels[N], classes[C] = {10, 20, 30}, a[4];
  for (int i = 0; i < N; i++) labels[i] = classes[i % C]; /* class position c holds c, c + 3, c + 6, c + 9 */
  struct dml_train_opts o;
  struct dml_train_cli tc;
  dml_train_cli_parse_string(&tc, &o, "--data_toy_off 1");
  struct dml_opts opt = dml_train_cli_opts(&tc);
  struct dml_sampler_shape shape = {N, labels, C, classes, 4, 2, 7};
  struct dml_sampler s;
  f += expect_true("create the toy sampler", dml_sampler_create("toy", &opt, &shape, &s) == DML_OK);
  dml_train_cli_free(&tc);
  s.batch(&s, 1, 2, a); /* groups: class positions (2·2 + 0 + 1) mod 3 = 2, then 0; members 1, 2 of each */
  int want[4] = {5, 8, 3, 6};
  f += expect_true("the toy sampler's batch", !memcmp(a, want, sizeof a));
  f += expect_true("floor(N / bs) batches", s.n_batches == 3);
  dml_sampler_free(&s);
  return f;
}

static int trains(void) {
  int f = 0;
  char *dir = test_tmpdir("methods");
  char *args = dml_strfmt("--dataset fashion_mnist --loss toy --batch_mining toy --data_sampler toy --loss_toy_scale 2 --miner_toy_every 2 "
                          "--data_toy_offset 1 --max_per_class 10 "
                          "--n_epochs 1 --embed_dim 4 --bs 20 --no_train_metrics --evaluation_metrics e_recall@1 "
                          "--kernels 1 --group toy --save_path %s",
                          dir);
  struct dml_train_opts o;
  struct dml_train_cli tc;
  f += expect_true("the run's flags parse", dml_train_cli_parse_string(&tc, &o, args) == DML_OK);
  struct dml_opts opt = dml_train_cli_opts(&tc);
  char *config = dml_flags_to_json(&tc.cli), *path = NULL;
  setenv("DML_PROGRESS", "0", 1);
  dml_status st = dml_train_run(&o, &opt, config, NULL, &path);
  f += expect_true("dml_train_run with --loss toy --batch_mining toy succeeds", st == DML_OK);
  if (st) fprintf(stderr, "  %s\n", dml_error_message());
  struct dml_run run = {0};
  if (!st && dml_runrecord_read(path, &run) == DML_OK) {
    const struct dml_series *r1 = dml_run_series(&run, "test", "e_recall@1");
    f += expect_true("finished, one train row with a finite positive loss",
                     !strcmp(run.meta.status, "finished") && run.n_train == 1 && isfinite(run.train_loss[0]) &&
                         run.train_loss[0] > 0);
    f += expect_true("evaluated: test e_recall@1 in [0, 1]", r1 && r1->n >= 1 && r1->value[r1->n - 1] >= 0 &&
                                                                 r1->value[r1->n - 1] <= 1);
    f += expect_true("the record names the loss and miner", !strcmp(run.meta.loss, "toy") &&
                                                               !strcmp(run.meta.batch_mining, "toy"));
    f += expect_true("the record's config holds the toy flags",
                     strstr(run.meta.config_json, "\"loss_toy_scale\":2") &&
                         strstr(run.meta.config_json, "\"data_sampler\":\"toy\"") &&
                         strstr(run.meta.config_json, "\"data_toy_offset\":1"));
    dml_run_free(&run);
  } else {
    f += expect_true("the run record reads", 0);
  }
  free(path);
  free(config);
  dml_train_cli_free(&tc);
  char *rm = dml_strfmt("rm -rf %s", dir);
  if (system(rm)) {}
  free(rm);
  free(args);
  free(dir);
  return f;
}

int main(void) {
  int f = listed() + flags_and_help() + loss_by_hand() + sampler_by_hand() + trains();
  return test_report("methods_one_file", f);
}
