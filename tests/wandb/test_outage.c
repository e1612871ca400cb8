/* wandb_outage — dml-train --log_online against the fake W&B server when W&B fails at the end of the run:
 *  1. every history request answers 500: the run finishes (exit 0, record `finished`) after waiting at most
 *     --wandb_finish_timeout, sends a bounded number of requests (the old logger sent 77,034 in 34 s: wait_locked()
 *     skipped the backoff once finishing), says in one line that the rows are kept for dml-sync, and prints a
 *     message for each long retry wait; dml-sync later uploads them and dml-fetch of the W&B run gives exactly the
 *     local record's series;
 *  2. 429 with Retry-After: 3 — the waits follow Retry-After (bounded requests, "retrying in 3 s");
 *  3. failures no retry can cure fail fast with one line and do not retry: connection refused on a loopback
 *     address, an unknown host, an unsupported scheme, HTTP 404;
 *  4. an online run SIGKILLed between the checkpoint of epoch 1 and its record commit (the documented hook
 *     DML_TRAIN_TEST_COMMIT_PAUSE_MS) and resumed: the W&B run gets epoch 1 too and equals the local record.
 * argv: fake server, dml-train, dml-sync, dml-fetch. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/wandb/wandb-impl.h"
#include "common/progress.h"
#include "common/runrecord.h"
#include "tests/testutil.h"
#include "tests/wandb/harness.h"

#define KEY "outagetestkey_0123456789abcdefghijklmnopqrstu"

static const char *train_bin;

static long stat_of(const struct fake *f, const char *field) {
  char *a = fake_control(f, "{\"stats\": true}");
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", field);
  const char *p = a ? strstr(a, key) : NULL;
  long v = p ? atol(p + strlen(key)) : -1;
  free(a);
  return v;
}

static int count_of(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; p && (p = strstr(p, needle)); p++) n++;
  return n;
}

static size_t count_lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = 0;
  int c;
  while ((c = fgetc(f)) != EOF) n += c == '\n';
  fclose(f);
  return n;
}

/* One small online training run (3 epochs) into save/fashion_mnist/<group>_s3. */
static int train(const char *save, const char *group, const char *finish_s, char **out, char **err) {
  char *argv[] = {(char *)train_bin, "--dataset", "fashion_mnist", "--max_per_class", "50", "--n_epochs", "3",
                  "--lr", "1e-3", "--embed_dim", "8", "--bs", "56", "--samples_per_class", "2", "--seed", "3",
                  "--no_train_metrics", "--kernels", "1", "--log_online", "--project", "proj", "--group", (char *)group,
                  "--wandb_finish_timeout", (char *)finish_s, "--save_path", (char *)save, NULL};
  return run_prog(argv, 170, out, err);
}

static int record_finished(const char *rec) {
  struct dml_run r = {0};
  int ok = dml_runrecord_read(rec, &r) == DML_OK && !strcmp(r.meta.status, "finished") && r.n_train == 3;
  dml_run_free(&r);
  return ok;
}

static int same_series(const struct dml_run *a, const struct dml_run *b, const char *split, const char *key) {
  const struct dml_series *x = dml_run_series(a, split, key), *y = dml_run_series(b, split, key);
  char name[128];
  snprintf(name, sizeof name, "synced W&B run == local record: %s/%s", split, key);
  if (!x || !y || x->n != y->n || x->n != 3) return expect_true(name, 0);
  return expect_close(name, y->value, x->value, x->n, 0, 0) + expect_close(name, y->epoch, x->epoch, x->n, 0, 0);
}

static int outage_500(const struct fake *f, const char *dir, const char *sync_bin, const char *fetch_bin) {
  int fails = 0;
  char *save = dml_strfmt("%s/a", dir), *run_dir = dml_strfmt("%s/a/fashion_mnist/o500_s3", dir);
  char *rec = dml_strfmt("%s/run.h5", run_dir), *pending = dml_strfmt("%s/wandb-pending.jsonl", run_dir);
  free(fake_control(f, "{\"fail\": \"500\", \"count\": 1000000, \"match\": \"file_stream\"}"));
  long r0 = stat_of(f, "faults"); /* every failed history request is a fault */
  char *out = NULL, *err = NULL;
  double t0 = dml_now();
  int rc = train(save, "o500", "6", &out, &err);
  double secs = dml_now() - t0;
  long n = stat_of(f, "faults") - r0;
  free(fake_control(f, "{\"fail\": \"500\", \"count\": 0}"));
  printf("500 outage: exit %d after %.1f s, %ld history requests\nstdout tail: %s\nstderr: %s\n", rc, secs, n,
         out && strstr(out, "W&B:") ? strstr(out, "W&B:") : "", err ? err : "");
  fails += expect_true("500 outage: dml-train exits 0 with the record finished", rc == 0 && record_finished(rec));
  fails += expect_true("500 outage: bounded history requests (backoff 2 s doubling; <= 10 in the whole run)", n >= 1 && n <= 10);
  fails += expect_true("500 outage: one line says the rows are kept for dml-sync",
                       out && count_of(out, "not delivered") == 1 && strstr(out, "dml-sync"));
  fails += expect_true("500 outage: a message for a long retry wait", err && strstr(err, "retrying in"));
  fails += expect_true("500 outage: the 3 rows are in the pending file", count_lines(pending) == 3);
  free(out);
  free(err);
  /* W&B is back: dml-sync uploads the rows, and the W&B run then equals the local record */
  char *sa[] = {(char *)sync_bin, run_dir, NULL};
  rc = run_prog(sa, 60, &out, &err);
  fails += expect_true("dml-sync uploads the pending rows", rc == 0 && access(pending, F_OK) != 0);
  if (rc) printf("dml-sync: %s%s\n", out, err);
  free(out);
  free(err);
  char *fetched = dml_strfmt("%s/fetched", dir);
  char *fa[] = {(char *)fetch_bin, "tester/proj", "--group", "o500", "--out", fetched, NULL};
  rc = run_prog(fa, 60, &out, &err);
  if (rc) printf("dml-fetch: %s%s\n", out, err);
  free(out);
  free(err);
  char *fpath = dml_strfmt("%s/fashion_mnist/o500_s3/run.h5", fetched);
  struct dml_run a = {0}, b = {0};
  if (rc == 0 && dml_runrecord_read(rec, &a) == DML_OK && dml_runrecord_read(fpath, &b) == DML_OK) {
    fails += same_series(&a, &b, "test", "e_recall@1");
    fails += same_series(&a, &b, "test", "nmi");
    fails += expect_true("synced train rows", a.n_train == 3 && b.n_train == 3);
    if (a.n_train == 3 && b.n_train == 3) fails += expect_close("synced train loss", b.train_loss, a.train_loss, 3, 0, 0);
    fails += expect_true("synced W&B run is finished", !strcmp(b.meta.status, "finished"));
  } else {
    fails += expect_true("fetch of the synced run and both records readable", 0);
  }
  dml_run_free(&a);
  dml_run_free(&b);
  free(fpath);
  free(fetched);
  free(save); free(run_dir); free(rec); free(pending);
  return fails;
}

static int outage_429(const struct fake *f, const char *dir) {
  int fails = 0;
  char *save = dml_strfmt("%s/b", dir), *rec = dml_strfmt("%s/b/fashion_mnist/o429_s3/run.h5", dir);
  free(fake_control(f, "{\"fail\": \"429\", \"count\": 1000000, \"retry_after\": 3, \"match\": \"file_stream\"}"));
  long r0 = stat_of(f, "faults");
  char *out = NULL, *err = NULL;
  int rc = train(save, "o429", "4", &out, &err);
  long n = stat_of(f, "faults") - r0;
  free(fake_control(f, "{\"fail\": \"429\", \"count\": 0}"));
  printf("429 outage: exit %d, %ld history requests\nstderr: %s\n", rc, n, err ? err : "");
  fails += expect_true("429 + Retry-After: dml-train exits 0 with the record finished", rc == 0 && record_finished(rec));
  fails += expect_true("429 + Retry-After: 3 s between requests (<= 8 in the whole run)", n >= 1 && n <= 8);
  fails += expect_true("429 + Retry-After: the waits follow it", err && strstr(err, "retrying in 3 s"));
  fails += expect_true("429: one line about the kept rows", out && count_of(out, "not delivered") == 1);
  free(out);
  free(err);
  free(save);
  free(rec);
  return fails;
}

static int fail_fast(const struct fake *f, const char *dir, const char *url, const char *group, const char *why) {
  char *save = dml_strfmt("%s/%s", dir, group), *rec = dml_strfmt("%s/%s/fashion_mnist/%s_s3/run.h5", dir, group, group);
  setenv("WANDB_BASE_URL", url, 1);
  long r0 = stat_of(f, "requests");
  char *out = NULL, *err = NULL;
  int rc = train(save, group, "10", &out, &err);
  long n = stat_of(f, "requests") - r0; /* /_control requests are not counted */
  setenv("WANDB_BASE_URL", f->url, 1);
  printf("%s (%s): exit %d, %ld request(s) reached the fake server, stderr: %s\n", group, url, rc, n, err ? err : "");
  char name[200];
  snprintf(name, sizeof name, "%s: exit 0, record finished, one line '%s ... not retrying'", group, why);
  int fails = expect_true(name, rc == 0 && record_finished(rec) && err && count_of(err, "not retrying") == 1 &&
                                    strstr(err, why) && count_of(err, "wandb:") == 1);
  if (strstr(url, f->url)) {
    snprintf(name, sizeof name, "%s: exactly one request reached the server", group);
    fails += expect_true(name, n == 1);
  }
  free(out);
  free(err);
  free(save);
  free(rec);
  return fails;
}

/* Start the online run with the commit-window hook, kill it once epoch `e`'s checkpoint is written. */
static int kill_in_window(char *const argv[], int e) {
  int p[2];
  if (pipe(p)) return 0;
  pid_t pid = fork();
  if (pid == 0) {
    setenv("DML_TRAIN_TEST_COMMIT_PAUSE_MS", "3000", 1);
    dup2(p[1], 2);
    close(p[0]);
    int dn = open("/dev/null", O_WRONLY);
    dup2(dn, 1);
    execv(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  char buf[16384], needle[64];
  size_t len = 0;
  snprintf(needle, sizeof needle, "checkpoint of epoch %d written", e);
  buf[0] = 0;
  int seen = 0;
  while (!seen && len + 1 < sizeof buf) {
    ssize_t r = read(p[0], buf + len, sizeof buf - 1 - len);
    if (r <= 0) break;
    len += (size_t)r;
    buf[len] = 0;
    seen = strstr(buf, needle) != NULL;
  }
  kill(pid, SIGKILL);
  close(p[0]);
  waitpid(pid, NULL, 0);
  return seen;
}

static int window_resume_online(const char *dir, const char *fetch_bin) {
  int fails = 0;
  char *save = dml_strfmt("%s/w", dir), *run_dir = dml_strfmt("%s/w/fashion_mnist/win_s3", dir);
  char *rec = dml_strfmt("%s/run.h5", run_dir);
  char *argv[] = {(char *)train_bin, "--dataset", "fashion_mnist", "--max_per_class", "50", "--n_epochs", "3",
                  "--lr", "1e-3", "--embed_dim", "8", "--bs", "56", "--samples_per_class", "2", "--seed", "3",
                  "--no_train_metrics", "--kernels", "1", "--log_online", "--project", "proj", "--group", "win",
                  "--save_path", save, NULL};
  fails += expect_true("online run killed inside the commit window of epoch 1", kill_in_window(argv, 1));
  char *ra[] = {(char *)train_bin, "--resume", run_dir, NULL};
  char *out = NULL, *err = NULL;
  int rc = run_prog(ra, 170, &out, &err);
  if (rc) printf("resume: %s%s\n", out, err);
  fails += expect_true("resumed online run exits 0, record finished", rc == 0 && record_finished(rec));
  free(out);
  free(err);
  char *fetched = dml_strfmt("%s/fetched_w", dir);
  char *fa[] = {(char *)fetch_bin, "tester/proj", "--group", "win", "--out", fetched, NULL};
  rc = run_prog(fa, 60, &out, &err);
  if (rc) printf("dml-fetch: %s%s\n", out, err);
  free(out);
  free(err);
  char *fpath = dml_strfmt("%s/fashion_mnist/win_s3/run.h5", fetched);
  struct dml_run a = {0}, b = {0};
  if (rc == 0 && dml_runrecord_read(rec, &a) == DML_OK && dml_runrecord_read(fpath, &b) == DML_OK) {
    fails += same_series(&a, &b, "test", "e_recall@1");
    fails += expect_true("W&B train rows of the resumed run: epochs 0, 1 (repaired), 2", b.n_train == 3 &&
                                                                                           b.train_epoch[1] == 1);
  } else {
    fails += expect_true("fetch of the resumed online run", 0);
  }
  dml_run_free(&a);
  dml_run_free(&b);
  free(fpath); free(fetched); free(save); free(run_dir); free(rec);
  return fails;
}

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
    printf("Fashion-MNIST not installed (scripts/install-deps): skipped\n");
    return 77;
  }
  train_bin = argv[2];
  setenv("WANDB_API_KEY", KEY, 1);
  unsetenv("DML_WANDB_BACKOFF_S"); /* the real backoff: 2 s doubling */
  setenv("WANDB_HTTP_TIMEOUT", "5", 1);
  setenv("DML_PROGRESS", "0", 1);
  setenv("OMP_NUM_THREADS", "1", 1);
  const char *args[] = {"--auth", "--viewer", "tester", "--max_seconds", "170", NULL};
  struct fake f;
  if (fake_start(&f, argv[1], args)) return test_report("wandb_outage", 1);
  char *dir = test_tmpdir("wandb_outage");
  int fails = 0;
  fails += outage_500(&f, dir, argv[3], argv[4]);
  fails += outage_429(&f, dir);
  fails += fail_fast(&f, dir, "http://127.0.0.1:1", "refused", "connection refused on a loopback address");
  fails += fail_fast(&f, dir, "http://nonexistent-host.invalid", "unknownhost", "unknown host");
  fails += fail_fast(&f, dir, "ftp://127.0.0.1:1", "scheme", "unsupported URL scheme");
  char *nope = dml_strfmt("%s/nope", f.url);
  fails += fail_fast(&f, dir, nope, "http404", "the server refused the request");
  free(nope);
  fails += window_resume_online(dir, argv[4]);
  fake_stop(&f);
  if (!fails) {
    char *cmd = dml_strfmt("rm -rf '%s'", dir);
    if (system(cmd)) {}
    free(cmd);
  }
  free(dir);
  return test_report("wandb_outage", fails);
}
