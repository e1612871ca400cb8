/* test_train_e2e — the foundation slice end to end through the dml-train program on a small Fashion-MNIST
 * subset (100 images per class):
 *  1. a run with 1 thread and the same run with 2 threads give bitwise-identical losses and metrics;
 *  2. the record is `finished`, holds epochs -1..1 of the test metrics, the train rows and embeddings, and
 *     R@1 after training is clearly above R@1 before (the network learns);
 *  3. SIGKILL after the first committed epoch leaves a readable record with that epoch, status `running`, and
 *     `--resume` continues it to the same losses and metrics as an unbroken run;
 *  4. bad input: an unknown flag (exit 2, "did you mean"), a missing dataset folder, a hostile group name,
 *     a bs/samples_per_class mismatch, googlenet with _frozen (the reference has no frozen googlenet) — one-line
 *     errors, non-zero exits, no record written.
 * argv[1] = path of the dml-train binary. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

static const char *bin;

/* Run dml-train with extra args and `--kernels threads` (the OpenMP team size); stderr captured into errbuf;
 * returns exit status (or -signal). */
static int run(const char *threads, char *const extra[], char *errbuf, size_t errcap, pid_t *pid_out, int wait_it) {
  return test_spawn(bin, extra, threads, errbuf, errcap, pid_out, wait_it);
}

#define BASE_ARGS "--dataset", "fashion_mnist", "--max_per_class", "100", "--n_epochs", "2", "--lr", "1e-3", "--embed_dim", "8", \
  "--bs", "56", "--samples_per_class", "2", "--seed", "3", "--no_train_metrics", "--eval_init", "--kernels", "2"

static int compare_runs(const char *pa, const char *pb) {
  struct dml_run a = {0}, b = {0};
  int f = 0;
  f += expect_true("record 1 reads", dml_runrecord_read(pa, &a) == DML_OK);
  f += expect_true("record 2 reads", dml_runrecord_read(pb, &b) == DML_OK);
  if (f) return f;
  f += expect_true("status finished", !strcmp(a.meta.status, "finished"));
  f += expect_true("seed and group in meta", a.meta.seed == 3 && !strcmp(a.meta.group, "e2e"));
  f += expect_true("config holds every flag", a.meta.config_json && strstr(a.meta.config_json, "\"samples_per_class\":2"));
  f += expect_true("2 train rows", a.n_train == 2 && b.n_train == 2);
  if (a.n_train == 2 && b.n_train == 2)
    f += expect_true("train loss bitwise equal with 1 and 2 threads", !memcmp(a.train_loss, b.train_loss, 2 * sizeof(double)));
  const struct dml_series *ra = dml_run_series(&a, "test", "e_recall@1"), *rb = dml_run_series(&b, "test", "e_recall@1");
  const struct dml_series *na = dml_run_series(&a, "test", "nmi");
  f += expect_true("test e_recall@1 and nmi series", ra && rb && na);
  if (ra && rb && na) {
    f += expect_true("epochs -1, 0, 1", ra->n == 3 && ra->epoch[0] == -1 && ra->epoch[2] == 1);
    f += expect_true("metrics bitwise equal with 1 and 2 threads", ra->n == rb->n && !memcmp(ra->value, rb->value, ra->n * sizeof(double)));
    printf("R@1 before %.4f after %.4f, NMI before %.4f after %.4f\n", ra->value[0], ra->value[ra->n - 1], na->value[0],
           na->value[na->n - 1]);
    f += expect_true("R@1 rises by > 0.03 after 2 epochs", ra->value[ra->n - 1] > ra->value[0] + 0.03);
    f += expect_true("R@1 in [0,1]", ra->value[0] >= 0 && ra->value[ra->n - 1] <= 1);
  }
  float *emb = NULL;
  int32_t *labels = NULL;
  char **paths = NULL;
  size_t n = 0, d = 0;
  f += expect_true("latest test embeddings stored",
                   dml_runrecord_read_embeddings(pa, "test", 0, &emb, &n, &d, &labels, &paths) == DML_OK && n == 500 && d == 8);
  if (emb) {
    double s = 0;
    for (size_t k = 0; k < d; k++) s += (double)emb[k] * emb[k];
    f += expect_scalar("embeddings are L2-normalised (mlp_normalize)", s, 1.0, 1e-5, 0);
    f += expect_true("test labels are the unseen classes 5..9", labels[0] >= 5 && labels[n - 1] <= 9);
  }
  free(emb);
  free(labels);
  if (paths) {
    for (size_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
  }
  dml_run_free(&a);
  dml_run_free(&b);
  return f;
}

/* Kill a longer run with SIGKILL after its first committed epoch, check the record, resume it up to 3 epochs and
 * compare with an unbroken 3-epoch run: losses and metrics must be bitwise equal. */
static int kill_resume_test(const char *tmp) {
  char save[4096], dir[4200], path[4300], save_u[4096], path_u[4300];
  snprintf(save, sizeof save, "%s/k", tmp);
  snprintf(dir, sizeof dir, "%s/fashion_mnist/kill_s3", save);
  snprintf(path, sizeof path, "%s/run.h5", dir);
  snprintf(save_u, sizeof save_u, "%s/u", tmp);
  snprintf(path_u, sizeof path_u, "%s/fashion_mnist/kill_s3/run.h5", save_u);
  char *args[] = {BASE_ARGS, "--max_per_class", "2000", "--n_epochs", "50", "--group", "kill", "--save_path", save, NULL};
  pid_t pid;
  char err[8192];
  run("1", args, err, sizeof err, &pid, 0);
  int f = 0, seen = 0;
  for (int i = 0; i < 3000 && !seen; i++) { /* up to 60 s for the first epoch */
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    struct dml_run r = {0};
    if (dml_runrecord_read(path, &r) == DML_OK) {
      seen = r.n_train >= 1;
      dml_run_free(&r);
    }
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  f += expect_true("first epoch committed before the kill", seen);
  struct dml_run r = {0};
  f += expect_true("killed run's record still reads", dml_runrecord_read(path, &r) == DML_OK);
  if (f) return f;
  printf("killed after %zu committed epoch(s)\n", r.n_train);
  f += expect_true("killed run is 'running' with >= 1 complete epoch", !strcmp(r.meta.status, "running") && r.n_train >= 1);
  const struct dml_series *s = dml_run_series(&r, "test", "e_recall@1");
  f += expect_true("metrics of every committed epoch present", s && s->n == r.n_train + 1);
  dml_run_free(&r);

  char *resume[] = {"--resume", dir, "--n_epochs", "3", NULL};
  int rc = run("2", resume, err, sizeof err, NULL, 1);
  if (rc) printf("stderr: %s\n", err);
  f += expect_true("--resume exits 0", rc == 0);
  char *unbroken[] = {BASE_ARGS, "--max_per_class", "2000", "--n_epochs", "3", "--group", "kill", "--save_path", save_u, NULL};
  rc = run("1", unbroken, err, sizeof err, NULL, 1);
  f += expect_true("unbroken run exits 0", rc == 0);
  struct dml_run a = {0}, b = {0};
  if (dml_runrecord_read(path, &a) || dml_runrecord_read(path_u, &b)) return f + expect_true("both records read", 0);
  f += expect_true("resumed run finished", !strcmp(a.meta.status, "finished"));
  f += expect_true("resumed run has at least 3 train rows", a.n_train >= 3 && b.n_train == 3);
  if (a.n_train >= 3 && b.n_train == 3)
    f += expect_true("resumed losses bitwise equal to the unbroken run", !memcmp(a.train_loss, b.train_loss, 3 * sizeof(double)));
  const struct dml_series *sa = dml_run_series(&a, "test", "e_recall@1"), *sb = dml_run_series(&b, "test", "e_recall@1");
  f += expect_true("resumed R@1 bitwise equal to the unbroken run",
                   sa && sb && sa->n >= 4 && sb->n == 4 && !memcmp(sa->value, sb->value, 4 * sizeof(double)));
  dml_run_free(&a);
  dml_run_free(&b);
  return f;
}

/* A small ResNet (width 8) on Fashion-MNIST (gray → RGB, padded to 32×32): 1 epoch then --resume to 2 with another
 * thread count must equal 2 unbroken epochs bitwise — batch-norm running statistics travel in the checkpoint. */
static int conv_resume_test(const char *tmp) {
  char s1[4096], s2[4096], d2[4200], p1[4300], p2[4300], err[8192];
  snprintf(s1, sizeof s1, "%s/c1", tmp);
  snprintf(s2, sizeof s2, "%s/c2", tmp);
  snprintf(d2, sizeof d2, "%s/fashion_mnist/conv_s3", s2);
  snprintf(p1, sizeof p1, "%s/fashion_mnist/conv_s3/run.h5", s1);
  snprintf(p2, sizeof p2, "%s/run.h5", d2);
#define CONV_ARGS "--dataset", "fashion_mnist", "--arch", "resnet18_w8_normalize", "--not_pretrained", \
  "--max_per_class", "40", "--bs", "20", "--lr", "1e-3", \
  "--embed_dim", "8", "--no_train_metrics", "--group", "conv", "--seed", "3", "--evaluation_metrics", "e_recall@1", "nmi"
  char *a[] = {CONV_ARGS, "--n_epochs", "2", "--save_path", s1, NULL};
  char *b[] = {CONV_ARGS, "--n_epochs", "1", "--save_path", s2, NULL};
  char *r[] = {"--resume", d2, "--n_epochs", "2", NULL};
  int f = expect_true("conv: 2 epochs", run("2", a, err, sizeof err, NULL, 1) == 0);
  f += expect_true("conv: 1 epoch", run("2", b, err, sizeof err, NULL, 1) == 0);
  f += expect_true("conv: resume to 2 with 1 thread", run("1", r, err, sizeof err, NULL, 1) == 0);
  struct dml_run x = {0}, y = {0};
  if (f || dml_runrecord_read(p1, &x) || dml_runrecord_read(p2, &y)) return f + expect_true("conv records read", 0);
  f += expect_true("conv resume: losses bitwise equal", x.n_train == 2 && y.n_train == 2 &&
                                                          !memcmp(x.train_loss, y.train_loss, 2 * sizeof(double)));
  const struct dml_series *sx = dml_run_series(&x, "test", "nmi"), *sy = dml_run_series(&y, "test", "nmi");
  f += expect_true("conv resume: nmi bitwise equal", sx && sy && sx->n == 2 && sy->n == 2 &&
                                                       !memcmp(sx->value, sy->value, 2 * sizeof(double)));
  dml_run_free(&x);
  dml_run_free(&y);
  return f;
}

static int bad_input(const char *tmp) {
  int f = 0;
  char err[8192], save[4096];
  snprintf(save, sizeof save, "%s/bad", tmp);
  char *a1[] = {"--lrr", "1e-3", NULL};
  int rc = run("1", a1, err, sizeof err, NULL, 1);
  f += expect_true("unknown flag: exit 2 with 'did you mean --lr'", rc == 2 && strstr(err, "did you mean --lr?"));
  char *a2[] = {"--dataset", "fashion_mnist", "--source_path", "/nonexistent/fmnist", "--save_path", save, NULL};
  rc = run("1", a2, err, sizeof err, NULL, 1);
  f += expect_true("missing dataset folder: one clear line, exit 1", rc == 1 && strstr(err, "/nonexistent/fmnist") &&
                                                                          strstr(err, "dml-train: error:"));
  char *a3[] = {BASE_ARGS, "--group", "../../escape", "--save_path", save, NULL};
  rc = run("1", a3, err, sizeof err, NULL, 1);
  f += expect_true("hostile group name rejected", rc == 2 && strstr(err, "cannot be a folder name"));
  char *a4[] = {BASE_ARGS, "--bs", "55", "--save_path", save, NULL};
  rc = run("1", a4, err, sizeof err, NULL, 1);
  f += expect_true("bs not a multiple of samples_per_class", rc == 2 && strstr(err, "--samples_per_class"));
  char *a5[] = {BASE_ARGS, "--arch", "googlenet_w8_frozen", "--not_pretrained", "--save_path", save, NULL};
  rc = run("1", a5, err, sizeof err, NULL, 1);
  f += expect_true("googlenet _frozen refused (the reference has no frozen googlenet)",
                   rc == 2 && strstr(err, "googlenet has no _frozen handling"));
  struct stat st;
  char esc[4200];
  snprintf(esc, sizeof esc, "%s/escape", tmp);
  f += expect_true("nothing written outside --save_path", stat(esc, &st) != 0);
  return f;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  bin = argv[1];
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
    printf("Fashion-MNIST not installed (scripts/install-deps): skipped\n");
    return 77;
  }
  char *tmp = test_tmpdir("e2e");
  char sa[4096], sb[4096], pa[4200], pb[4200], err[8192];
  snprintf(sa, sizeof sa, "%s/a", tmp);
  snprintf(sb, sizeof sb, "%s/b", tmp);
  char *args_a[] = {BASE_ARGS, "--group", "e2e", "--save_path", sa, NULL};
  char *args_b[] = {BASE_ARGS, "--group", "e2e", "--save_path", sb, NULL};
  int f = 0;
  int rc = run("1", args_a, err, sizeof err, NULL, 1);
  if (rc) printf("stderr: %s\n", err);
  f += expect_true("run with 1 thread exits 0", rc == 0);
  rc = run("2", args_b, err, sizeof err, NULL, 1);
  f += expect_true("run with 2 threads exits 0", rc == 0);
  snprintf(pa, sizeof pa, "%s/fashion_mnist/e2e_s3/run.h5", sa);
  snprintf(pb, sizeof pb, "%s/fashion_mnist/e2e_s3/run.h5", sb);
  if (!f) f += compare_runs(pa, pb);
  f += kill_resume_test(tmp);
  f += conv_resume_test(tmp);
  f += bad_input(tmp);
  if (!f) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) {}
  }
  free(tmp);
  return test_report("e2e_train", f);
}
