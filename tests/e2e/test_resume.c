/* test_resume — `dml-train --resume` is exact from a kill at any moment, and a run folder has one writer.
 *
 * The reference is one unbroken 3-epoch run (a small Fashion-MNIST subset). Every other run below is killed
 * (SIGKILL) and resumed, and must end `finished` with the train rows, every test metric and the latest and best
 * embeddings bitwise equal to the reference's:
 *  1. random kills: each trial kills dml-train at pseudo-random moments (startup, --eval_init, epoch 0, later
 *     epochs, commits), resuming after each kill, several kills per trial;
 *  2. a kill in epoch 0 before any checkpoint (the record exists, the checkpoint does not yet);
 *  3. kills inside the commit window (checkpoint of epoch E written, record not yet committed) for E = 0 and 1,
 *     held open with the documented hook DML_TRAIN_TEST_COMMIT_PAUSE_MS; the record must then lack epoch E;
 *  4. two writers: while a run holds its folder, `--resume` of it fails with one line naming the holder;
 *  5. overrides: --lr/--seed refused at resume (exit 2, record unchanged), --n_epochs 2 -> 3 accepted, recorded in
 *     config_history and `config`, and equal to the unbroken 3-epoch run; --n_epochs below the trained epochs refused;
 *  6. a checkpoint of another run (same shapes) is refused;
 *  7. --lr nan is refused (it used to train nothing and report `finished`).
 * argv[1] = path of the dml-train binary. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

static const char *bin;

#define BASE "--dataset", "fashion_mnist", "--max_per_class", "100", "--lr", "1e-3", "--embed_dim", "8", "--bs", "56", \
  "--samples_per_class", "2", "--seed", "3", "--no_train_metrics", "--eval_init", "--kernels", "1", "--group", "r"

struct child { pid_t pid; int err; char buf[16384]; size_t len; };

/* Start dml-train with args; hook_ms > 0 sets the commit-window pause. stderr is read through c->err. */
static void spawn(struct child *c, char *const args[], int hook_ms) {
  int p[2];
  if (pipe(p)) exit(99);
  c->len = 0;
  c->buf[0] = 0;
  c->pid = fork();
  if (c->pid == 0) {
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("DML_PROGRESS", "0", 1);
    if (hook_ms > 0) {
      char v[32];
      snprintf(v, sizeof v, "%d", hook_ms);
      setenv("DML_TRAIN_TEST_COMMIT_PAUSE_MS", v, 1);
    } else {
      unsetenv("DML_TRAIN_TEST_COMMIT_PAUSE_MS");
    }
    dup2(p[1], 2);
    close(p[0]);
    int dn = open("/dev/null", O_WRONLY);
    dup2(dn, 1);
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)bin;
    for (int i = 0; args[i]; i++) argv[n++] = args[i];
    argv[n] = NULL;
    execv(bin, argv);
    _exit(127);
  }
  close(p[1]);
  c->err = p[0];
}

/* Read stderr until `needle` appears (1) or the child closes it (0). */
static int wait_for(struct child *c, const char *needle) {
  for (;;) {
    if (strstr(c->buf, needle)) return 1;
    if (c->len + 1 >= sizeof c->buf) return 0;
    ssize_t r = read(c->err, c->buf + c->len, sizeof c->buf - 1 - c->len);
    if (r <= 0) return 0;
    c->len += (size_t)r;
    c->buf[c->len] = 0;
  }
}

/* Drain stderr, reap; returns the exit status, or -signal. */
static int reap(struct child *c) {
  wait_for(c, "\x01never");
  close(c->err);
  int st;
  waitpid(c->pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

static int run_args(char *const args[], char *err, size_t cap) {
  struct child c;
  spawn(&c, args, 0);
  int rc = reap(&c);
  snprintf(err, cap, "%s", c.buf);
  return rc;
}

static void sleep_us(long us) { nanosleep(&(struct timespec){us / 1000000, (us % 1000000) * 1000}, NULL); }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

static void rm_rf(const char *p) {
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
  if (system(cmd)) {}
}

static int same_embeddings(const char *pa, const char *pb, int best) {
  float *ea = NULL, *eb = NULL;
  int32_t *la = NULL, *lb = NULL;
  size_t na = 0, nb = 0, da = 0, db = 0;
  int ok = dml_runrecord_read_embeddings(pa, "test", best, &ea, &na, &da, &la, NULL) == DML_OK &&
           dml_runrecord_read_embeddings(pb, "test", best, &eb, &nb, &db, &lb, NULL) == DML_OK && na == nb && da == db &&
           na > 0 && !memcmp(ea, eb, na * da * sizeof *ea) && !memcmp(la, lb, na * sizeof *la);
  free(ea); free(eb); free(la); free(lb);
  return ok;
}

/* Everything a run computes is bitwise equal to the reference's (seconds and throughput excepted). */
static int same_result(const char *what, const char *ref, const char *got) {
  struct dml_run a = {0}, b = {0};
  char name[256];
  int f = 0;
  snprintf(name, sizeof name, "%s: record reads", what);
  f += expect_true(name, dml_runrecord_read(ref, &a) == DML_OK && dml_runrecord_read(got, &b) == DML_OK);
  if (f) {
    dml_run_free(&a);
    dml_run_free(&b);
    return f;
  }
  int ok = !strcmp(b.meta.status, "finished") && a.n_train == b.n_train && a.n_train == 3 &&
           !memcmp(a.train_epoch, b.train_epoch, a.n_train * sizeof(double)) &&
           !memcmp(a.train_loss, b.train_loss, a.n_train * sizeof(double)) &&
           !memcmp(a.train_lr, b.train_lr, a.n_train * sizeof(double));
  snprintf(name, sizeof name, "%s: finished, train epochs and losses bitwise equal (status %s, %zu rows)", what,
           b.meta.status, b.n_train);
  f += expect_true(name, ok);
  int mok = a.n_series == b.n_series && a.n_series > 0;
  for (size_t i = 0; mok && i < a.n_series; i++) {
    const struct dml_series *x = &a.series[i], *y = &b.series[i];
    mok = !strcmp(x->split, y->split) && !strcmp(x->key, y->key) && x->n == y->n &&
          !memcmp(x->epoch, y->epoch, x->n * sizeof(double)) && !memcmp(x->value, y->value, x->n * sizeof(double));
  }
  snprintf(name, sizeof name, "%s: every metric series bitwise equal (epochs -1..2)", what);
  f += expect_true(name, mok);
  snprintf(name, sizeof name, "%s: latest embeddings bitwise equal", what);
  f += expect_true(name, same_embeddings(ref, got, 0));
  snprintf(name, sizeof name, "%s: best embeddings bitwise equal", what);
  f += expect_true(name, same_embeddings(ref, got, 1));
  dml_run_free(&a);
  dml_run_free(&b);
  return f;
}

static void paths_for(const char *tmp, const char *tag, char *save, char *dir, char *rec) {
  snprintf(save, 4096, "%s/%s", tmp, tag);
  snprintf(dir, 4200, "%s/fashion_mnist/r_s3", save);
  snprintf(rec, 4300, "%s/run.h5", dir);
}

/* Start (or, when the folder has a record, resume) the run in save/dir. */
static void start_or_resume(struct child *c, const char *save, const char *dir, const char *rec, int hook_ms) {
  char *fresh[] = {BASE, "--n_epochs", "3", "--save_path", (char *)save, NULL};
  char *resume[] = {"--resume", (char *)dir, "--kernels", "1", NULL};
  if (!exists(rec)) rm_rf(save); /* killed before the record existed: nothing to resume, start again */
  spawn(c, exists(rec) ? resume : fresh, hook_ms);
}

static int random_kills(const char *tmp, const char *ref, double full_s, int *epoch0_kills) {
  int f = 0;
  unsigned rs = 12345;
  for (int t = 0; t < 4; t++) {
    char save[4096], dir[4200], rec[4300], tag[32];
    snprintf(tag, sizeof tag, "chaos%d", t);
    paths_for(tmp, tag, save, dir, rec);
    int kills = 0, rc = -1;
    for (int k = 0; k < 12 && rc != 0; k++) {
      struct child c;
      start_or_resume(&c, save, dir, rec, 0);
      if (k < 5) { /* kill at a moment spread over the whole run; the last attempt runs to the end */
        double frac = (double)rand_r(&rs) / RAND_MAX;
        sleep_us((long)(frac * full_s * 1.1e6));
        kill(c.pid, SIGKILL);
      }
      rc = reap(&c);
      if (rc == -SIGKILL) {
        kills++;
        struct dml_run r = {0};
        if (exists(rec) && dml_runrecord_read(rec, &r) == DML_OK && r.n_train == 0) (*epoch0_kills)++;
        dml_run_free(&r);
      } else if (rc != 0) {
        printf("    trial %d: dml-train exited %d: %s\n", t, rc, c.buf);
        break;
      }
    }
    char name[128];
    snprintf(name, sizeof name, "random kills, trial %d (%d kills): resumed to the end", t, kills);
    f += expect_true(name, rc == 0);
    if (rc == 0) f += same_result(name, ref, rec);
  }
  return f;
}

/* Kill as soon as the record exists: during --eval_init or epoch 0, before the first checkpoint. */
static int epoch0_kill(const char *tmp, const char *ref) {
  int f = 0, got = 0;
  char save[4096], dir[4200], rec[4300], ck[4300];
  for (int attempt = 0; attempt < 10 && !got; attempt++) {
    paths_for(tmp, "epoch0", save, dir, rec);
    rm_rf(save);
    struct child c;
    start_or_resume(&c, save, dir, rec, 0);
    while (!exists(rec) && waitpid(c.pid, NULL, WNOHANG) == 0) sleep_us(200);
    kill(c.pid, SIGKILL);
    reap(&c);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    got = exists(rec) && !exists(ck);
  }
  f += expect_true("killed in epoch 0, before any checkpoint", got);
  if (!got) return f;
  char err[16384];
  char *resume[] = {"--resume", dir, NULL};
  int rc = run_args(resume, err, sizeof err);
  if (rc) printf("    %s", err);
  f += expect_true("epoch-0 kill: --resume exits 0 (used to be 'cannot open checkpoint')", rc == 0);
  if (!rc) f += same_result("epoch-0 kill", ref, rec);
  return f;
}

/* Kill inside the window between the checkpoint of epoch E and the record commit. */
static int commit_window_kill(const char *tmp, const char *ref, int E) {
  int f = 0;
  char save[4096], dir[4200], rec[4300], tag[32], needle[96], name[160];
  snprintf(tag, sizeof tag, "window%d", E);
  paths_for(tmp, tag, save, dir, rec);
  rm_rf(save);
  struct child c;
  start_or_resume(&c, save, dir, rec, 4000);
  snprintf(needle, sizeof needle, "checkpoint of epoch %d written", E);
  int seen = wait_for(&c, needle);
  kill(c.pid, SIGKILL);
  reap(&c);
  snprintf(name, sizeof name, "commit window %d: hook reached, then killed", E);
  f += expect_true(name, seen);
  struct dml_run r = {0};
  int ok = dml_runrecord_read(rec, &r) == DML_OK && (long)r.n_train == E;
  dml_run_free(&r);
  snprintf(name, sizeof name, "commit window %d: the record lacks epoch %d, the checkpoint has it", E, E);
  f += expect_true(name, ok);
  char err[16384];
  char *resume[] = {"--resume", dir, NULL};
  int rc = run_args(resume, err, sizeof err);
  if (rc) printf("    %s", err);
  snprintf(name, sizeof name, "commit window %d: --resume exits 0", E);
  f += expect_true(name, rc == 0);
  snprintf(name, sizeof name, "commit window %d", E);
  if (!rc) f += same_result(name, ref, rec);
  return f;
}

static int two_writers(const char *tmp, const char *ref) {
  int f = 0;
  char save[4096], dir[4200], rec[4300], err[16384];
  paths_for(tmp, "two", save, dir, rec);
  rm_rf(save);
  struct child c;
  start_or_resume(&c, save, dir, rec, 10000); /* holds the folder ≥ 10 s at its first commit */
  int held = wait_for(&c, "checkpoint of epoch 0 written");
  char *resume[] = {"--resume", dir, NULL};
  int rc = run_args(resume, err, sizeof err);
  f += expect_true("second writer: the first holds the folder", held);
  f += expect_true("second writer refused: exit 1, one line naming the folder and the holder's pid",
                   rc == 1 && strstr(err, "is in use by another dml-train") && strstr(err, dir) && strstr(err, "pid ") &&
                   strchr(err, '\n') == err + strlen(err) - 1);
  if (rc != 1) printf("    rc %d: %s\n", rc, err);
  kill(c.pid, SIGKILL); /* the kernel drops the lock with the process */
  reap(&c);
  rc = run_args(resume, err, sizeof err);
  f += expect_true("after the holder died, --resume takes the folder and finishes", rc == 0);
  if (!rc) f += same_result("two writers", ref, rec);
  return f;
}

static int overrides_and_foreign(const char *tmp, const char *ref, const char *ref_dir) {
  int f = 0;
  char save[4096], dir[4200], rec[4300], err[16384];
  paths_for(tmp, "ext", save, dir, rec);
  rm_rf(save);
  char *two[] = {BASE, "--n_epochs", "2", "--save_path", save, NULL};
  f += expect_true("2-epoch run exits 0", run_args(two, err, sizeof err) == 0);
  char *lr[] = {"--resume", dir, "--lr", "1e-2", NULL};
  int rc = run_args(lr, err, sizeof err);
  f += expect_true("--resume with another --lr refused (exit 2, names the flag and both values)",
                   rc == 2 && strstr(err, "--lr 0.01 differs") && strstr(err, "0.001"));
  char *seed[] = {"--resume", dir, "--seed", "4", NULL};
  rc = run_args(seed, err, sizeof err);
  f += expect_true("--resume with another --seed refused", rc == 2 && strstr(err, "--seed 4 differs"));
  struct dml_run r = {0};
  f += expect_true("refused resumes leave the record finished with 2 epochs",
                   dml_runrecord_read(rec, &r) == DML_OK && !strcmp(r.meta.status, "finished") && r.n_train == 2);
  dml_run_free(&r);
  char *ext[] = {"--resume", dir, "--n_epochs", "3", NULL};
  rc = run_args(ext, err, sizeof err);
  f += expect_true("--resume --n_epochs 3 extends the run", rc == 0);
  if (!rc) f += same_result("extended 2 -> 3 epochs", ref, rec);
  char *hist = NULL;
  dml_runrecord_read_attr(rec, "config_history", &hist);
  f += expect_true("config_history records n_epochs 2 -> 3 at epoch 2",
                   hist && strstr(hist, "\"resumed_at_epoch\":2") && strstr(hist, "\"n_epochs\":{\"from\":2,\"to\":3}"));
  if (hist) printf("config_history: %s\n", hist);
  free(hist);
  f += expect_true("config says n_epochs 3 now", dml_runrecord_read(rec, &r) == DML_OK && r.meta.config_json &&
                                                     strstr(r.meta.config_json, "\"n_epochs\":3"));
  dml_run_free(&r);
  char *shrink[] = {"--resume", dir, "--n_epochs", "1", NULL};
  rc = run_args(shrink, err, sizeof err);
  f += expect_true("--n_epochs below the trained epochs refused", rc == 2 && strstr(err, "fewer than the 3 epochs"));
  /* a foreign checkpoint: the reference run's (same flags and shapes, another run id) */
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "cp '%s/checkpoint.safetensors' '%s/checkpoint.safetensors'", ref_dir, dir);
  f += expect_true("copied a foreign checkpoint", system(cmd) == 0);
  char *more[] = {"--resume", dir, "--n_epochs", "4", NULL};
  rc = run_args(more, err, sizeof err);
  f += expect_true("a checkpoint of another run is refused (exit 1, 'belongs to another run')",
                   rc == 1 && strstr(err, "belongs to another run"));
  if (rc != 1) printf("    rc %d: %s\n", rc, err);
  f += expect_true("and the record is untouched (finished, 3 epochs)",
                   dml_runrecord_read(rec, &r) == DML_OK && !strcmp(r.meta.status, "finished") && r.n_train == 3);
  dml_run_free(&r);
  return f;
}

static int lr_nan(const char *tmp) {
  char save[4096], dir[4200], rec[4300], err[16384];
  paths_for(tmp, "nan", save, dir, rec);
  char *a[] = {BASE, "--n_epochs", "1", "--lr", "nan", "--save_path", save, NULL};
  int rc = run_args(a, err, sizeof err);
  int f = expect_true("--lr nan refused with a line naming --lr", rc != 0 && strstr(err, "--lr"));
  struct dml_run r = {0};
  int finished = dml_runrecord_read(rec, &r) == DML_OK && !strcmp(r.meta.status, "finished");
  dml_run_free(&r);
  f += expect_true("--lr nan leaves no `finished` record", !finished);
  return f;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  bin = argv[1];
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
    printf("Fashion-MNIST not installed (scripts/install-deps): skipped\n");
    return 77;
  }
  char *tmp = test_tmpdir("resume");
  char save[4096], dir[4200], ref[4300], err[16384];
  paths_for(tmp, "ref", save, dir, ref);
  char *args[] = {BASE, "--n_epochs", "3", "--save_path", save, NULL};
  double t0 = now_s();
  int rc = run_args(args, err, sizeof err);
  double full = now_s() - t0; /* only to spread the kill moments over a run; nothing is asserted on time */
  int f = expect_true("unbroken reference run exits 0", rc == 0);
  if (rc) {
    printf("%s", err);
    return test_report("e2e_resume", f);
  }
  int e0 = 0;
  f += random_kills(tmp, ref, full, &e0);
  printf("random kills: %d landed after the record existed and before epoch 0 was committed (%.1f s)\n", e0,
         now_s() - t0);
  f += epoch0_kill(tmp, ref);
  f += commit_window_kill(tmp, ref, 0);
  f += commit_window_kill(tmp, ref, 1);
  printf("epoch 0 and commit windows done (%.1f s)\n", now_s() - t0);
  f += two_writers(tmp, ref);
  printf("two writers done (%.1f s)\n", now_s() - t0);
  f += overrides_and_foreign(tmp, ref, dir);
  f += lr_nan(tmp);
  if (!f) rm_rf(tmp);
  free(tmp);
  return test_report("e2e_resume", f);
}
