/* wandb_logger: a synthetic 'training' (40 epochs) writes a local run record and logs the same values online
 * through the logger API, with a server outage in the middle; the W&B run must end up complete, and dml-fetch
 * of it must give exactly the local record's series (NaN included). Then an offline run (server down the whole
 * time, more rows than the queue holds) leaves every row in the pending file, and dml-sync uploads them,
 * resuming after an interruption at the server's line count. No file written may contain the key.
 * argv: fake server, dml-fetch, dml-sync. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "analysis/wandb/wandb-impl.h"
#include "common/error.h"
#include "common/progress.h"
#include "common/runrecord.h"
#include "tests/testutil.h"
#include "tests/wandb/harness.h"

#define KEY "loggertestkey_0123456789abcdefghijklmnopqrstu"
#define EPOCHS 40

static void control(const struct fake *f, const char *json) { free(fake_control(f, json)); }

static int same_series(const struct dml_run *a, const struct dml_run *b, const char *split, const char *key) {
  const struct dml_series *x = dml_run_series(a, split, key), *y = dml_run_series(b, split, key);
  char name[128];
  snprintf(name, sizeof name, "%s/%s", split, key);
  if (!x || !y || x->n != y->n) {
    fprintf(stderr, "%s: present %d %d, n %zu %zu\n", name, !!x, !!y, x ? x->n : 0, y ? y->n : 0);
    return expect_true(name, 0);
  }
  return expect_close(name, y->value, x->value, x->n, 0, 0) + expect_close(name, y->epoch, x->epoch, x->n, 0, 0);
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

static long json_count(const char *ans, const char *needle) {
  long n = 0;
  for (const char *p = ans; p && (p = strstr(p, needle)); p++) n++;
  return n;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int fails = 0;
  setenv("WANDB_API_KEY", KEY, 1);
  setenv("DML_WANDB_BACKOFF_S", "0.05", 1);
  setenv("WANDB_HTTP_TIMEOUT", "2", 1);
  setenv("DML_PROGRESS", "0", 1);
  const char *args[] = {"--auth", "--viewer", "tester", "--max_seconds", "170", NULL};
  struct fake f;
  if (fake_start(&f, argv[1], args)) return test_report("wandb_logger", 1);
  char *dir = test_tmpdir("wandb_logger");
  char *local = dml_strfmt("%s/local", dir), *run_dir = dml_strfmt("%s/local/demo_s0", dir);
  mkdir(local, 0755);
  mkdir(run_dir, 0755);

  /* ---- 1. online logging of a synthetic training, through an outage ---- */
  const char *cfg = "{\"dataset\": \"fashion_mnist\", \"seed\": 0, \"lr\": 1e-05, \"loss\": \"margin\", \"group\": \"demo\"}";
  char *rec_path = dml_strfmt("%s/run.h5", run_dir);
  struct dml_run_meta m = {.seed = 0, .name = "demo_s0", .group = "demo", .project = "proj",
                           .dataset = "fashion_mnist", .loss = "margin", .source = "local", .config_json = (char *)cfg};
  dml_runrecord_t *rr;
  fails += expect_true("local record", dml_runrecord_create(rec_path, &m, &rr) == DML_OK);
  struct dml_wandb_run_opts o = {.entity = NULL, .project = "proj", .group = "demo", .name = "demo_s0",
                                 .config_json = cfg, .run_dir = run_dir};
  dml_wandb_logger_t *wl;
  dml_status st = dml_wandb_logger_start(&o, &wl);
  fails += expect_true("logger starts", st == DML_OK);
  if (st) return test_report("wandb_logger", fails + 1);
  double t_log_max = 0;
  for (long e = 0; e < EPOCHS; e++) {
    if (e == 10) control(&f, "{\"down\": true}");
    if (e == 11) { /* go on only once the thread has met the outage: the test does not depend on timing */
      double w0 = dml_now();
      while (dml_now() - w0 < 20) {
        char *st_ans = fake_control(&f, "{\"stats\": true}");
        const char *fp0 = st_ans ? strstr(st_ans, "\"faults\":") : NULL;
        long nf = fp0 ? atol(fp0 + 9) : 0;
        free(st_ans);
        if (nf > 0) break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
      }
    }
    if (e == 20) control(&f, "{\"down\": false}");
    double r1 = 0.5 + 0.01 * e + 1.0 / 3.0, nmi = e == 5 ? NAN : 0.3 + e / 7.0, dr = 0.8 - e * 1e-3 / 3.0;
    struct dml_metric_value tv[] = {{"e_recall@1", r1, NULL}, {"nmi", nmi, NULL}};
    struct dml_metric_value vv[] = {{"dists@intra_over_inter", dr, NULL}};
    struct dml_train_row tr = {.loss = 1.0 / (e + 3.0), .lr = 1e-5 * pow(0.9, (double)e), .seconds = 1.5 + e / 9.0,
                               .images_per_second = NAN};
    dml_runrecord_append_metrics(rr, "test", e, tv, 2);
    if (e % 2 == 0) dml_runrecord_append_metrics(rr, "val", e, vv, 1);
    dml_runrecord_append_train(rr, e, &tr);
    dml_runrecord_commit(rr);
    char *row = NULL;
    row = dml_wandb_row_add(row, "test", "e_recall@1", r1);
    row = dml_wandb_row_add(row, "test", "nmi", nmi);
    if (e % 2 == 0) row = dml_wandb_row_add(row, "val", "dists@intra_over_inter", dr);
    row = dml_wandb_row_add(row, "train", "loss", tr.loss);
    row = dml_wandb_row_add(row, "train", "lr", tr.lr);
    row = dml_wandb_row_add(row, "train", "seconds", tr.seconds);
    double t0 = dml_now();
    dml_wandb_logger_log(wl, e, row);
    double dt = dml_now() - t0;
    if (dt > t_log_max) t_log_max = dt;
    free(row);
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  dml_runrecord_set_status(rr, DML_RUN_FINISHED);
  dml_runrecord_close(rr);
  size_t unsent = 99;
  double t0 = dml_now();
  st = dml_wandb_logger_finish(wl, 0, 30.0, &unsent);
  fprintf(stderr, "finish: %.2f s, unsent %zu, slowest log() %.3f ms\n", dml_now() - t0, unsent, t_log_max * 1e3);
  fails += expect_true("everything delivered", st == DML_OK && unsent == 0);
  char *stats = fake_control(&f, "{\"stats\": true}");
  fprintf(stderr, "server stats: %s\n", stats ? stats : "(none)");
  const char *fp = stats ? strstr(stats, "\"faults\":") : NULL;
  fails += expect_true("the outage was hit (dropped requests)", fp && atol(fp + 9) > 0);
  free(stats);
  fails += expect_true("log() never waited on the network (< 0.5 s; a request takes >= 1 s to time out)", t_log_max < 0.5);
  char *state = dml_strfmt("%s/wandb-run.json", run_dir);
  char *stext = dml_wandb_read_file(state, NULL);
  char run_id[16] = "";
  const char *rp = stext ? strstr(stext, "\"run_id\": \"") : NULL;
  if (rp) sscanf(rp + 11, "%8[a-z0-9]", run_id);
  fails += expect_true("run id in wandb-run.json", strlen(run_id) == 8);
  char *dq = dml_strfmt("{\"dump\": \"tester/proj/%s\"}", run_id);
  char *dump = fake_control(&f, dq);
  fprintf(stderr, "server holds %ld lines; complete %d\n", json_count(dump, "_step"), dump && strstr(dump, "\"complete\":true") != NULL);
  fails += expect_true("server: 40 lines, complete, exit 0, display+group",
                       dump && json_count(dump, "_step") == EPOCHS + 1 /* + summary */ && strstr(dump, "\"complete\":true") &&
                           strstr(dump, "\"exitcode\":0") && strstr(dump, "\"display\":\"demo_s0\"") &&
                           strstr(dump, "\"group\":\"demo\""));
  fails += expect_true("config wrapped as {value: ...}", dump && strstr(dump, "\\\"loss\\\":{\\\"value\\\":\\\"margin\\\"}"));
  free(dump);
  free(dq);

  /* round trip: dml-fetch of the logged run == the local record */
  char *fetched = dml_strfmt("%s/fetched", dir);
  char *fa[] = {argv[2], "tester/proj", "--out", fetched, NULL};
  char *so, *se;
  int rc = run_prog(fa, 60, &so, &se);
  fprintf(stderr, "fetch: rc %d %s%s", rc, so, se);
  fails += expect_true("fetch of the logged run", rc == 0);
  free(so), free(se);
  char *fpath = dml_strfmt("%s/fashion_mnist/demo_s0/run.h5", fetched);
  struct dml_run a, b;
  if (dml_runrecord_read(rec_path, &a) == DML_OK && dml_runrecord_read(fpath, &b) == DML_OK) {
    fails += same_series(&a, &b, "test", "e_recall@1");
    fails += same_series(&a, &b, "test", "nmi");
    fails += same_series(&a, &b, "val", "dists@intra_over_inter");
    fails += expect_true("train rows", a.n_train == b.n_train && a.n_train == EPOCHS);
    if (a.n_train == b.n_train) {
      fails += expect_close("train loss", b.train_loss, a.train_loss, a.n_train, 0, 0);
      fails += expect_close("train lr", b.train_lr, a.train_lr, a.n_train, 0, 0);
      fails += expect_close("train seconds", b.train_seconds, a.train_seconds, a.n_train, 0, 0);
      fails += expect_close("train epoch", b.train_epoch, a.train_epoch, a.n_train, 0, 0);
    }
    fails += expect_true("same name, group, dataset, seed", !strcmp(a.meta.name, b.meta.name) &&
                                                               !strcmp(a.meta.group, b.meta.group) &&
                                                               !strcmp(a.meta.dataset, b.meta.dataset) && a.meta.seed == b.meta.seed);
    fails += expect_true("fetched status finished", !strcmp(b.meta.status, "finished"));
    dml_run_free(&a);
    dml_run_free(&b);
  } else {
    fails += expect_true("both records readable", 0);
  }

  /* the same table from both: dml-aggregate's CSV of the local record and of the fetched one */
  if (argc > 4) {
    char *csv_a = dml_strfmt("%s/local.csv", dir), *csv_b = dml_strfmt("%s/fetched.csv", dir);
    char *fdir = dml_strfmt("%s/fashion_mnist", fetched);
    char *ag1[] = {argv[4], run_dir, "--csv", csv_a, "--out", "/dev/null", "--quiet", NULL};
    char *ag2[] = {argv[4], fdir, "--csv", csv_b, "--out", "/dev/null", "--quiet", NULL};
    int r1 = run_prog(ag1, 60, NULL, &se);
    fprintf(stderr, "aggregate local: rc %d %s", r1, se);
    free(se);
    int r2 = run_prog(ag2, 60, NULL, &se);
    fprintf(stderr, "aggregate fetched: rc %d %s", r2, se);
    free(se);
    char *ta = dml_wandb_read_file(csv_a, NULL), *tb = dml_wandb_read_file(csv_b, NULL);
    if (!ta) ta = xstrdup("");
    if (!tb) tb = xstrdup("");
    fprintf(stderr, "local table:\n%s", ta);
    fails += expect_true("dml-aggregate: same table from the local and the fetched record",
                         r1 == 0 && r2 == 0 && strlen(ta) > 20 && strstr(ta, "e_recall@1") && !strcmp(ta, tb));
    if (strcmp(ta, tb)) fprintf(stderr, "fetched table:\n%s", tb);
    free(ta), free(tb), free(csv_a), free(csv_b), free(fdir);
  }

  /* ---- 2. offline: everything goes to the pending file; dml-sync uploads it, resuming after a cut ---- */
  char *run2 = dml_strfmt("%s/local/offline_s1", dir);
  mkdir(run2, 0755);
  control(&f, "{\"down\": true}");
  struct dml_wandb_run_opts o2 = {.entity = "tester", .project = "proj", .group = "offline", .name = "offline_s1",
                                  .config_json = "{\"seed\": 1}", .run_dir = run2};
  st = dml_wandb_logger_start(&o2, &wl);
  fails += expect_true("offline logger starts", st == DML_OK);
  for (long e = 0; e < 300; e++) {
    char row[128];
    snprintf(row, sizeof row, "{\"Test: discriminative_e_recall: e_recall@1\": %.17g}", e / 300.0);
    dml_wandb_logger_log(wl, e, row);
  }
  t0 = dml_now();
  st = dml_wandb_logger_finish(wl, 0, 1.0, &unsent);
  double fin_s = dml_now() - t0;
  fprintf(stderr, "offline finish: %.2f s, unsent %zu: %s\n", fin_s, unsent, dml_error_message());
  fails += expect_true("offline: all 300 unsent, NET error", st == DML_ERR_NET && unsent == 300);
  fails += expect_true("finish kept its deadline (< 3 s)", fin_s < 3.0);
  char *pending = dml_strfmt("%s/wandb-pending.jsonl", run2);
  fails += expect_true("300 pending rows", count_lines(pending) == 300);
  control(&f, "{\"down\": false}");
  control(&f, "{\"fail\": \"401\", \"count\": 1, \"match\": \"\\\"offset\\\":100\"}");
  char *sa[] = {argv[3], run2, NULL};
  rc = run_prog(sa, 60, &so, &se);
  fprintf(stderr, "sync (cut after one batch): rc %d %s%s", rc, so, se);
  fails += expect_true("first sync fails at the second batch", rc != 0 && strstr(se, "HTTP 401"));
  free(so), free(se);
  rc = run_prog(sa, 60, &so, &se);
  fprintf(stderr, "sync again: rc %d %s%s", rc, so, se);
  fails += expect_true("second sync completes", rc == 0 && strstr(so, "sent 200 rows"));
  free(so), free(se);
  struct stat sb;
  fails += expect_true("pending file removed", stat(pending, &sb) != 0);
  char *state2 = dml_strfmt("%s/wandb-run.json", run2);
  char *s2 = dml_wandb_read_file(state2, NULL);
  char id2[16] = "";
  rp = s2 ? strstr(s2, "\"run_id\": \"") : NULL;
  if (rp) sscanf(rp + 11, "%8[a-z0-9]", id2);
  dq = dml_strfmt("{\"dump\": \"tester/proj/%s\"}", id2);
  dump = fake_control(&f, dq);
  int ordered = dump != NULL;
  const char *p = dump;
  for (long e = 0; e < 300 && ordered; e++) {
    char want[32];
    snprintf(want, sizeof want, "{\\\"_step\\\":%ld,", e);
    const char *q = strstr(p, want);
    ordered = q != NULL;
    if (q) p = q + 1;
  }
  fails += expect_true("server holds rows 0..299 in order, complete", ordered && strstr(dump, "\"complete\":true"));
  free(dump);
  free(dq);
  rc = run_prog(sa, 60, &so, &se);
  fails += expect_true("third sync: nothing to do", rc == 0 && strstr(so, "nothing to upload"));
  free(so), free(se);

  /* no key -> DML_ERR_AUTH from start */
  unsetenv("WANDB_API_KEY");
  setenv("NETRC", "/nonexistent/netrc", 1);
  fails += expect_true("no key -> AUTH", dml_wandb_logger_start(&o2, &wl) == DML_ERR_AUTH);

  int n_files;
  fails += expect_true("key in no file", files_containing(dir, KEY, &n_files) == 0 && n_files >= 5);
  fake_stop(&f);
  free(stext), free(s2), free(state), free(state2), free(pending), free(run2), free(fpath), free(fetched);
  free(rec_path), free(local), free(run_dir), free(dir);
  return test_report("wandb_logger", fails);
}
