/* test_sgd_resume — dml-train --optim sgd end to end (issue 10, point 6): 2 unbroken epochs equal, bitwise, 1 epoch
 * then --resume to 2 (the momentum buffers and their first-step state travel in the checkpoint as
 * "<param>.sgd_momentum"), the loss differs from Adam's on the same line, and an unknown --optim is one clear line.
 * argv[1] = path of the dml-train binary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

static int sh(const char *cmd) {
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int read_run(const char *path, struct dml_run *r) {
  memset(r, 0, sizeof *r);
  return dml_runrecord_read(path, r) == DML_OK && r->n_train == 2 && !strcmp(r->meta.status, "finished");
}

#define ARGS "--dataset fashion_mnist --max_per_class 60 --bs 30 --lr 1e-2 --embed_dim 8 --seed 3 --no_train_metrics " \
             "--evaluation_metrics e_recall@1 nmi --kernels 2 --group g"

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
    printf("Fashion-MNIST not installed (scripts/install-deps): skipped\n");
    return 77;
  }
  setenv("DML_PROGRESS", "0", 1);
  char *tmp = test_tmpdir("sgd");
  char cmd[8192];
  int f = 0;
  snprintf(cmd, sizeof cmd, "%s " ARGS " --optim sgd --n_epochs 2 --save_path %s/a > /dev/null", argv[1], tmp);
  f += expect_true("sgd: 2 epochs", sh(cmd) == 0);
  snprintf(cmd, sizeof cmd, "%s " ARGS " --optim sgd --n_epochs 1 --save_path %s/b > /dev/null", argv[1], tmp);
  f += expect_true("sgd: 1 epoch", sh(cmd) == 0);
  snprintf(cmd, sizeof cmd, "%s --resume %s/b/fashion_mnist/g_s3 --n_epochs 2 --kernels 1 > /dev/null", argv[1], tmp);
  f += expect_true("sgd: --resume to 2 epochs with 1 thread", sh(cmd) == 0);
  snprintf(cmd, sizeof cmd, "%s " ARGS " --optim adam --n_epochs 2 --save_path %s/c > /dev/null", argv[1], tmp);
  f += expect_true("adam: 2 epochs", sh(cmd) == 0);
  struct dml_run a, b, c;
  char pa[4200], pb[4200], pc[4200];
  snprintf(pa, sizeof pa, "%s/a/fashion_mnist/g_s3/run.h5", tmp);
  snprintf(pb, sizeof pb, "%s/b/fashion_mnist/g_s3/run.h5", tmp);
  snprintf(pc, sizeof pc, "%s/c/fashion_mnist/g_s3/run.h5", tmp);
  int ra = read_run(pa, &a), rb = read_run(pb, &b), rc = read_run(pc, &c);
  f += expect_true("three finished 2-epoch records", ra && rb && rc);
  if (ra && rb && rc) {
    printf("losses: sgd %.9g %.9g, resumed %.9g %.9g, adam %.9g %.9g\n", a.train_loss[0], a.train_loss[1],
           b.train_loss[0], b.train_loss[1], c.train_loss[0], c.train_loss[1]);
    f += expect_true("sgd resume: losses bitwise equal", !memcmp(a.train_loss, b.train_loss, 2 * sizeof(double)));
    const struct dml_series *sa = dml_run_series(&a, "test", "nmi"), *sb = dml_run_series(&b, "test", "nmi");
    f += expect_true("sgd resume: nmi bitwise equal",
                     sa && sb && sa->n == 2 && sb->n == 2 && !memcmp(sa->value, sb->value, 2 * sizeof(double)));
    f += expect_true("sgd and adam train differently", a.train_loss[1] != c.train_loss[1]);
    f += expect_true("sgd learns (loss falls)", a.train_loss[1] < a.train_loss[0]);
  }
  dml_run_free(&a);
  dml_run_free(&b);
  dml_run_free(&c);
  snprintf(cmd, sizeof cmd, "%s " ARGS " --optim rmsprop --save_path %s/d 2> %s/err > /dev/null", argv[1], tmp, tmp);
  int rc_bad = sh(cmd);
  snprintf(cmd, sizeof cmd, "grep -q \"unknown --optim 'rmsprop' (known: adam, sgd)\" %s/err", tmp);
  f += expect_true("unknown --optim: exit 2, one clear line", rc_bad == 2 && sh(cmd) == 0);
  if (!f) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) {}
  }
  free(tmp);
  return test_report("e2e_sgd_resume", f);
}
