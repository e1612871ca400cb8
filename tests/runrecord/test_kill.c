/* test_kill — durability of the run record under SIGKILL.
 *
 * 1. Random kills: a child creates a record and commits epochs in a loop (tiny sleep between commits; each commit
 *    writes a metrics row, a train row and 20,000 x 32 embeddings, so most of the child's time is spent inside a
 *    commit). The parent SIGKILLs it after a varying delay. Every time, the record must open and hold only
 *    complete epochs: all series of equal length n, the values written for epochs 0..n-1, and the latest
 *    embeddings from epoch n-1 (they were committed together). Kills that land inside a commit leave a
 *    run.h5.tmp behind; the test requires that some did, and that a resumed writer recovers from that state.
 * 2. Kills between epochs: the child reports each committed epoch through a pipe and then waits; the parent kills
 *    it after k epochs, and exactly k complete epochs must be in the record. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

enum { N_EMB = 20000, D_EMB = 32 };

static double value_of(long epoch, int key) { return (double)epoch * 0.5 + key; }

static void commit_epoch(dml_runrecord_t *rr, long e, float *emb, int32_t *lab) {
  struct dml_metric_value v[] = {{"e_recall@1", value_of(e, 1), "e_recall@k/v1"}, {"nmi", value_of(e, 2), NULL},
                                 {"late", value_of(e, 3), NULL}};
  /* "late" is first reported at epoch 2: it must read NaN before that */
  dml_runrecord_append_metrics(rr, "test", e, v, e >= 2 ? 3 : 2);
  dml_runrecord_append_train(rr, e, &(struct dml_train_row){.loss = value_of(e, 4), .lr = 1e-5, .seconds = 1, .images_per_second = 2});
  emb[0] = (float)e; /* identifies the epoch of the stored embeddings */
  dml_runrecord_put_embeddings(rr, "test", 0, emb, N_EMB, D_EMB, lab, NULL);
}

/* Child of part 1: commit epochs forever. */
static void writer_loop(const char *path) {
  struct dml_run_meta m = {.seed = 1, .group = "kill", .dataset = "d", .config_json = "{\"seed\": 1}"};
  dml_runrecord_t *rr;
  if (dml_runrecord_create(path, &m, &rr)) _exit(3);
  float *emb = calloc((size_t)N_EMB * D_EMB, sizeof *emb);
  int32_t *lab = calloc(N_EMB, sizeof *lab);
  for (size_t i = 0; i < (size_t)N_EMB * D_EMB; i++) emb[i] = (float)(i % 97);
  for (long e = 0;; e++) {
    commit_epoch(rr, e, emb, lab);
    if (dml_runrecord_commit(rr)) _exit(4);
    nanosleep(&(struct timespec){0, 200000}, NULL);
  }
}

/* Everything in the record is from complete epochs 0..n-1; returns n, or -1 (and prints why) when not. */
static long check_complete(const char *path) {
  struct dml_run r;
  if (dml_runrecord_read(path, &r)) {
    printf("    %s does not open: %s\n", path, dml_error_message());
    return -1;
  }
  const struct dml_series *a = dml_run_series(&r, "test", "e_recall@1"), *b = dml_run_series(&r, "test", "nmi"),
                          *c = dml_run_series(&r, "test", "late");
  long n = a ? (long)a->n : 0;
  int ok = (long)r.n_train == n && (!b || (long)b->n == n) && (!c || (long)c->n == n) && (n == 0 || (a && b));
  if (!ok) printf("    %s: unequal lengths (e_recall@1 %ld, train %zu)\n", path, n, r.n_train);
  for (long i = 0; ok && i < n; i++) {
    ok = a->epoch[i] == (double)i && a->value[i] == value_of(i, 1) && b->value[i] == value_of(i, 2) &&
         r.train_epoch[i] == (double)i && r.train_loss[i] == value_of(i, 4) &&
         (i < 2 ? (!c || isnan(c->value[i])) : (c && c->value[i] == value_of(i, 3)));
    if (!ok) printf("    %s: wrong values at epoch %ld\n", path, i);
  }
  if (ok && strcmp(r.meta.status, "running")) {
    printf("    %s: status %s\n", path, r.meta.status);
    ok = 0;
  }
  dml_run_free(&r);
  if (ok && n > 0) {
    float *emb;
    int32_t *lab;
    size_t ne, d;
    if (dml_runrecord_read_embeddings(path, "test", 0, &emb, &ne, &d, &lab, NULL)) {
      printf("    %s: embeddings do not read: %s\n", path, dml_error_message());
      ok = 0;
    } else {
      ok = ne == N_EMB && d == D_EMB && emb[0] == (float)(n - 1) && emb[1] == 1.0f && emb[(size_t)N_EMB * D_EMB - 1] ==
           (float)(((size_t)N_EMB * D_EMB - 1) % 97);
      if (!ok) printf("    %s: embeddings are from epoch %g, metrics end at epoch %ld\n", path, emb[0], n - 1);
      free(emb);
      free(lab);
    }
  }
  return ok ? n : -1;
}

static int random_kills(const char *dir) {
  int f = 0, all_ok = 1, during_commit = 0, recovered = 1;
  long max_n = 0;
  int trial = 0;
  for (; trial < 60 && (trial < 16 || !during_commit || !max_n); trial++) { /* more trials only on a loaded machine */
    char *path = dml_strfmt("%s/kill%d.h5", dir, trial), *tmp = dml_strfmt("%s.tmp", path);
    pid_t pid = fork();
    if (pid == 0) writer_loop(path);
    long delay_us = 15000 + (trial % 16) * 9000 + (trial / 16) * 50000; /* 15 .. 150 ms, later rounds longer */
    nanosleep(&(struct timespec){delay_us / 1000000, (delay_us % 1000000) * 1000}, NULL);
    kill(pid, SIGKILL);
    int wst = 0;
    waitpid(pid, &wst, 0);
    if (!(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL)) {
      printf("    trial %d: writer exited by itself (status %d)\n", trial, WEXITSTATUS(wst));
      all_ok = 0;
    }
    int tmp_left = access(tmp, F_OK) == 0;
    if (access(path, F_OK) == 0) {
      long n = check_complete(path);
      if (n < 0) all_ok = 0;
      if (n > max_n) max_n = n;
      if (tmp_left && n >= 0) {
        during_commit++;
        /* resume on top of the killed commit's leftovers: the stale tmp is overwritten, the record continues */
        dml_runrecord_t *rr;
        float *emb = calloc((size_t)N_EMB * D_EMB, sizeof *emb);
        int32_t *lab = calloc(N_EMB, sizeof *lab);
        for (size_t i = 0; i < (size_t)N_EMB * D_EMB; i++) emb[i] = (float)(i % 97);
        int ok = dml_runrecord_open(path, &rr) == DML_OK;
        if (ok) {
          commit_epoch(rr, n, emb, lab);
          ok = dml_runrecord_close(rr) == DML_OK;
        }
        ok = ok && check_complete(path) == n + 1 && access(tmp, F_OK) != 0;
        if (!ok) printf("    trial %d: resuming after a kill inside a commit failed\n", trial);
        recovered &= ok;
        free(emb);
        free(lab);
      }
    } /* else killed before the first commit finished: nothing to check */
    free(path);
    free(tmp);
  }
  printf("random kills: %d trials, %d landed inside a commit, up to %ld epochs committed\n", trial, during_commit, max_n);
  f += expect_true("every killed record opens and holds only complete epochs", all_ok);
  f += expect_true("some kills landed inside a commit (run.h5.tmp left behind)", during_commit > 0);
  f += expect_true("a resumed writer recovers after a kill inside a commit", recovered);
  f += expect_true("epochs were committed before the kills", max_n > 0);
  return f;
}

static int kills_between_epochs(const char *dir) {
  int f = 0;
  for (int k = 1; k <= 4; k += 3) {
    char *path = dml_strfmt("%s/between%d.h5", dir, k);
    int up[2], down[2];
    if (pipe(up) || pipe(down)) return expect_true("pipe", 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(up[0]);
      close(down[1]);
      struct dml_run_meta m = {.seed = 2, .config_json = "{}"};
      dml_runrecord_t *rr;
      if (dml_runrecord_create(path, &m, &rr)) _exit(3);
      float *emb = calloc((size_t)N_EMB * D_EMB, sizeof *emb);
      int32_t *lab = calloc(N_EMB, sizeof *lab);
      for (size_t i = 0; i < (size_t)N_EMB * D_EMB; i++) emb[i] = (float)(i % 97);
      for (long e = 0;; e++) {
        commit_epoch(rr, e, emb, lab);
        if (dml_runrecord_commit(rr)) _exit(4);
        char c = 'e', go;
        if (write(up[1], &c, 1) != 1) _exit(5);
        if (read(down[0], &go, 1) != 1) _exit(6); /* wait between epochs */
      }
    }
    close(up[1]);
    close(down[0]);
    int got = 0;
    char c;
    while (got < k && read(up[0], &c, 1) == 1) {
      got++;
      if (got < k && write(down[1], "g", 1) != 1) break;
    }
    /* the child has committed k epochs and now waits: kill it between epochs, with data pending in no buffer */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(up[0]);
    close(down[1]);
    long n = check_complete(path);
    char name[96];
    snprintf(name, sizeof name, "killed between epochs after %d commits: exactly %d complete epochs kept", k, k);
    f += expect_true(name, got == k && n == k);
    free(path);
  }
  return f;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  char *dir = test_tmpdir("runrecord-kill");
  int f = kills_between_epochs(dir) + random_kills(dir);
  if (!f) {
    char *cmd = dml_strfmt("rm -rf '%s'", dir);
    if (system(cmd)) {}
    free(cmd);
  } else {
    printf("records kept in %s\n", dir);
  }
  free(dir);
  return test_report("runrecord_kill", f);
}
