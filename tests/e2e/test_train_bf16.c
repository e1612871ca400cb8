/* test_train_bf16 — --precision bf16 end to end through dml-train: a small conv net (resnet18_w8_normalize at
 * 32×32) trained 2 epochs on a Fashion-MNIST subset with 3 seeds in fp32 and in bf16. Asserted:
 *  - every run ends well above chance (test R@1 > 0.2; 10 classes). It is not asserted that 2 epochs beat the
 *    random-init features (R@1 ≈ 0.68 here): with batch-norm statistics still settling, both precisions end
 *    below that, so the comparison is of the two trajectories, not of learning;
 *  - bf16 reaches the fp32 test R@1: the bf16 mean over the seeds lies within the seeds' spread of the fp32 mean
 *    (|mean_bf16 − mean_fp32| <= max(range_fp32, range_bf16), range = max − min over the seeds);
 *  - the record's config says "precision": "bf16", "conv_bwd_threads": 2, and the root attribute cpu_isa names
 *    the ISA oneDNN chose (any: the test never assumes AMX);
 *  - a bf16 run with 1 thread equals the 2-thread run bitwise (losses and R@1);
 *  - --precision fp16 is rejected with one line naming the flag.
 * A CPU without bf16 convolutions (dml-train says so) skips the bf16 part (exit 77).
 * argv[1] = path of the dml-train binary. */
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

static const char *bin;
static char last_err[16384]; /* stderr of the last failed training run */

/* dml-train with args and OMP_NUM_THREADS=threads; stderr into err; exit status */
static int run(const char *threads, char *const extra[], char *err, size_t cap) {
  return test_spawn(bin, extra, threads, err, cap, NULL, 1);
}

/* the root string attribute `name` of an HDF5 file, or NULL */
static char *root_attr(const char *path, const char *name) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return NULL;
  char *out = NULL;
  if (H5Aexists(f, name) > 0) {
    hid_t a = H5Aopen(f, name, H5P_DEFAULT), t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *v = NULL;
    if (H5Aread(a, t, &v) >= 0 && v) {
      out = strdup(v);
      H5free_memory(v);
    }
    H5Tclose(t);
    H5Aclose(a);
  }
  H5Fclose(f);
  return out;
}

struct result { double before, after, loss[2]; int ok; };

static struct result train(const char *tmp, const char *prec, int seed, const char *threads, char **isa, char **config) {
  struct result res = {0};
  char save[4096], seedbuf[16], group[64], path[4400], *err = last_err;
  snprintf(seedbuf, sizeof seedbuf, "%d", seed);
  snprintf(group, sizeof group, "%s_t%s", prec, threads);
  snprintf(save, sizeof save, "%s/%s", tmp, group);
  char *args[] = {"--dataset", "fashion_mnist", "--arch", "resnet18_w8_normalize", "--not_pretrained", "--max_per_class", "40", "--bs", "20",
                  "--lr", "1e-3", "--embed_dim", "16", "--n_epochs", "2", "--no_train_metrics",
                  "--evaluation_metrics", "e_recall@1", "--seed", seedbuf, "--precision", (char *)prec,
                  "--group", group, "--save_path", save, NULL};
  int rc = run(threads, args, err, sizeof last_err);
  if (rc) {
    fprintf(stderr, "dml-train %s seed %d failed (%d): %s\n", prec, seed, rc, err);
    return res;
  }
  snprintf(path, sizeof path, "%s/fashion_mnist/%s_s%d/run.h5", save, group, seed);
  struct dml_run r = {0};
  if (dml_runrecord_read(path, &r)) return res;
  const struct dml_series *s = dml_run_series(&r, "test", "e_recall@1");
  if (s && s->n == 2 && r.n_train == 2) {
    res.before = s->value[0], res.after = s->value[1], res.loss[0] = r.train_loss[0], res.loss[1] = r.train_loss[1];
    res.ok = 1;
  }
  if (config) *config = r.meta.config_json ? strdup(r.meta.config_json) : NULL;
  if (isa) *isa = root_attr(path, "cpu_isa");
  dml_run_free(&r);
  return res;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  bin = argv[1];
  int fails = 0;
  char *tmp = test_tmpdir("bf16");
  char err[4096];
  char *bad[] = {"--precision", "fp16", "--n_epochs", "0", "--save_path", tmp, NULL};
  fails += expect_true("--precision fp16 rejected naming the flag", run("1", bad, err, sizeof err) != 0 &&
                                                                        strstr(err, "--precision"));
  double r1[2][3], loss1[2] = {0};
  const char *precs[2] = {"fp32", "bf16"};
  for (int p = 0; p < 2; p++)
    for (int k = 0; k < 3; k++) {
      char *isa = NULL, *config = NULL;
      struct result res = train(tmp, precs[p], k + 1, "2", &isa, &config);
      if (!res.ok && p == 1 && k == 0 && strstr(last_err, "no bf16")) {
        printf("skip: dml-train --precision bf16 does not run here (no bf16 convolution?)\n");
        return 77;
      }
      char what[200];
      snprintf(what, sizeof what, "%s seed %d: test R@1 %.3f after epoch 0, %.3f after epoch 1 (> 0.2)", precs[p], k + 1,
               res.before, res.after);
      fails += expect_true(what, res.ok && res.after > 0.2);
      r1[p][k] = res.after;
      if (p == 1 && k == 0) memcpy(loss1, res.loss, sizeof loss1);
      if (k == 0) {
        snprintf(what, sizeof what, "%s: record config holds the precision and conv_bwd_threads, cpu_isa '%s'", precs[p],
                 isa ? isa : "(none)");
        char want[64];
        snprintf(want, sizeof want, "\"precision\":\"%s\"", precs[p]);
        int has = config && strstr(config, want) && strstr(config, "\"conv_bwd_threads\":2");
        fails += expect_true(what, has && isa && *isa && strcmp(isa, "none"));
      }
      free(isa);
      free(config);
    }
  double mean[2], range[2];
  for (int p = 0; p < 2; p++) {
    double lo = 1, hi = 0, s = 0;
    for (int k = 0; k < 3; k++) lo = fmin(lo, r1[p][k]), hi = fmax(hi, r1[p][k]), s += r1[p][k];
    mean[p] = s / 3, range[p] = hi - lo;
  }
  printf("test R@1 over seeds 1-3: fp32 %.3f %.3f %.3f (mean %.3f), bf16 %.3f %.3f %.3f (mean %.3f)\n", r1[0][0],
         r1[0][1], r1[0][2], mean[0], r1[1][0], r1[1][1], r1[1][2], mean[1]);
  fails += expect_true("bf16 mean test R@1 within the seeds' spread of fp32",
                       fabs(mean[1] - mean[0]) <= fmax(range[0], range[1]));
  /* thread-count independence in bf16: 1 thread vs the 2-thread run of seed 1 */
  struct result a = train(tmp, "bf16", 1, "1", NULL, NULL);
  fails += expect_true("bf16 run with 1 thread equals 2 threads bitwise (losses, R@1)",
                       a.ok && a.after == r1[1][0] && !memcmp(a.loss, loss1, sizeof loss1));
  free(tmp);
  return test_report("e2e_train_bf16", fails);
}
