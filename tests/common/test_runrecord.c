/* test_runrecord — round trip of every field of the run record; NaN back-fill of keys that appear late or skip
 * an epoch; reopen-and-append; foreign and missing files; and durability: a writer SIGKILLed at random moments
 * (while committing too) always leaves a record that opens and holds only complete epochs. */
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

static int round_trip(const char *dir) {
  int f = 0;
  char *path = dml_strfmt("%s/rt.h5", dir);
  struct dml_run_meta m = {.seed = 4, .name = "g_s4", .group = "g \"quoted\" $x", .project = "p", .dataset = "cub200",
                           .arch = "resnet50_frozen_normalize", .loss = "margin", .batch_mining = "distance",
                           .source = "local", .config_json = "{\"lr\":1e-05,\"bs\":112}", .created = "2026-01-01T00:00:00Z"};
  dml_runrecord_t *rr;
  f += expect_true("create", dml_runrecord_create(path, &m, &rr) == DML_OK);
  f += expect_true("create refuses an existing record", dml_runrecord_create(path, &m, &(dml_runrecord_t *){0}) == DML_ERR_STATE);
  struct dml_metric_value e0[] = {{"e_recall@1", 0.5, "e_recall@k/v1"}, {"nmi", 0.25, NULL}};
  struct dml_metric_value e1[] = {{"e_recall@1", 0.75, "e_recall@k/v1"}, {"a/b%c", 7.0, NULL}};
  dml_runrecord_append_metrics(rr, "test", 0, e0, 2);
  dml_runrecord_append_train(rr, 0, &(struct dml_train_row){1.5, 1e-5, 10.0, 300.0});
  f += expect_true("commit epoch 0", dml_runrecord_commit(rr) == DML_OK);
  dml_runrecord_append_metrics(rr, "test", 1, e1, 2);
  dml_runrecord_append_metrics(rr, "train", 1, e0, 1);
  dml_runrecord_append_train(rr, 1, &(struct dml_train_row){1.25, 1e-5, 11.0, 290.0});
  double spec[3] = {0.5, 0.3, 0.2};
  dml_runrecord_put_metric_array(rr, "train", "rho_spectrum@0", 1, spec, 3, "rho/svd");
  float emb[6] = {1, 2, 3, 4, 5, 6};
  int32_t lab[3] = {7, 8, 9};
  const char *paths[3] = {"a.jpg", "b/c.png", "ü.jpg"};
  dml_runrecord_put_embeddings(rr, "test", 0, emb, 3, 2, lab, paths);
  dml_runrecord_put_embeddings(rr, "test", 1, emb, 2, 3, lab, NULL);
  dml_runrecord_set_attr(rr, "note", "hello");
  dml_runrecord_set_status(rr, DML_RUN_FINISHED);
  f += expect_true("close", dml_runrecord_close(rr) == DML_OK);

  struct dml_run r;
  f += expect_true("read", dml_runrecord_read(path, &r) == DML_OK);
  if (f) return f;
  f += expect_true("schema_version 1", r.meta.schema_version == 1);
  f += expect_true("meta strings", !strcmp(r.meta.group, m.group) && !strcmp(r.meta.arch, m.arch) &&
                                       !strcmp(r.meta.config_json, m.config_json) && !strcmp(r.meta.source, "local") &&
                                       !strcmp(r.meta.created, m.created) && r.meta.seed == 4);
  f += expect_true("status finished + finished time", !strcmp(r.meta.status, "finished") && strlen(r.meta.finished) == 20);
  f += expect_true("dml_version", !strcmp(r.meta.dml_version, DML_VERSION));
  const struct dml_series *s = dml_run_series(&r, "test", "e_recall@1");
  f += expect_true("test e_recall@1", s && s->n == 2 && s->value[0] == 0.5 && s->value[1] == 0.75 && s->epoch[1] == 1);
  f += expect_true("definition kept", s && s->definition && !strcmp(s->definition, "e_recall@k/v1"));
  s = dml_run_series(&r, "test", "nmi");
  f += expect_true("key missing at epoch 1 → NaN", s && s->n == 2 && s->value[0] == 0.25 && isnan(s->value[1]));
  s = dml_run_series(&r, "test", "a/b%c");
  f += expect_true("late key back-filled with NaN; '/' and '%' escaped", s && s->n == 2 && isnan(s->value[0]) && s->value[1] == 7);
  s = dml_run_series(&r, "train", "e_recall@1");
  f += expect_true("train split", s && s->n == 1 && s->epoch[0] == 1);
  f += expect_true("series sorted by (split, key)", r.n_series == 4 && !strcmp(r.series[0].split, "test") &&
                                                        !strcmp(r.series[3].split, "train"));
  f += expect_true("train rows", r.n_train == 2 && r.train_loss[1] == 1.25 && r.train_ips[0] == 300 && r.train_lr[0] == 1e-5);
  dml_run_free(&r);
  float *e = NULL;
  int32_t *l = NULL;
  char **p = NULL;
  size_t n, d;
  f += expect_true("latest embeddings", dml_runrecord_read_embeddings(path, "test", 0, &e, &n, &d, &l, &p) == DML_OK &&
                                            n == 3 && d == 2 && e[5] == 6 && l[2] == 9 && p && !strcmp(p[2], "ü.jpg"));
  free(e); free(l);
  if (p) { for (size_t i = 0; i < n; i++) free(p[i]); free(p); }
  f += expect_true("best embeddings", dml_runrecord_read_embeddings(path, "test", 1, &e, &n, &d, &l, NULL) == DML_OK &&
                                          n == 2 && d == 3 && e[4] == 5);
  free(e); free(l);
  f += expect_true("missing split is an error", dml_runrecord_read_embeddings(path, "val", 0, &e, &n, &d, &l, NULL) == DML_ERR_FORMAT);

  /* reopen and append (resume) */
  f += expect_true("open", dml_runrecord_open(path, &rr) == DML_OK);
  dml_runrecord_append_metrics(rr, "test", 2, e0, 1);
  dml_runrecord_set_status(rr, DML_RUN_RUNNING);
  f += expect_true("close after append", dml_runrecord_close(rr) == DML_OK);
  f += expect_true("read again", dml_runrecord_read(path, &r) == DML_OK);
  s = dml_run_series(&r, "test", "e_recall@1");
  f += expect_true("appended epoch 2", s && s->n == 3 && s->epoch[2] == 2 && s->value[2] == 0.5);
  f += expect_true("status running again, finished cleared", !strcmp(r.meta.status, "running") && !*r.meta.finished);
  dml_run_free(&r);
  free(path);
  return f;
}

static int foreign_files(const char *dir) {
  int f = 0;
  struct dml_run r;
  char *txt = dml_strfmt("%s/notes.txt", dir);
  FILE *fp = fopen(txt, "w");
  fputs("not hdf5\n", fp);
  fclose(fp);
  f += expect_true("text file → DML_ERR_FORMAT", dml_runrecord_read(txt, &r) == DML_ERR_FORMAT &&
                                                    strstr(dml_error_message(), "not an HDF5 file"));
  f += expect_true("is_record(text) = 0", !dml_runrecord_is_record(txt));
  char *miss = dml_strfmt("%s/missing.h5", dir);
  f += expect_true("missing file → DML_ERR_IO naming it", dml_runrecord_read(miss, &r) == DML_ERR_IO &&
                                                             strstr(dml_error_message(), "missing.h5"));
  free(txt);
  free(miss);
  return f;
}

/* Child: create a record and commit epochs as fast as it can, forever. */
static void writer(const char *path) {
  struct dml_run_meta m = {.seed = 1, .group = "k", .dataset = "d"};
  dml_runrecord_t *rr;
  if (dml_runrecord_create(path, &m, &rr)) _exit(3);
  float emb[4000];
  int32_t lab[1000];
  for (int i = 0; i < 4000; i++) emb[i] = (float)i;
  for (int i = 0; i < 1000; i++) lab[i] = i;
  for (long e = 0;; e++) {
    struct dml_metric_value v[] = {{"e_recall@1", (double)e, NULL}, {"nmi", 2.0 * e, NULL}};
    dml_runrecord_append_metrics(rr, "test", e, v, 2);
    dml_runrecord_append_train(rr, e, &(struct dml_train_row){(double)e, 0, 0, 0});
    dml_runrecord_put_embeddings(rr, "test", 0, emb, 1000, 4, lab, NULL);
    if (dml_runrecord_commit(rr)) _exit(4);
  }
}

static int kill_test(const char *dir) {
  int f = 0, complete = 1, opened = 1;
  long max_epochs = 0;
  for (int trial = 0; trial < 12; trial++) {
    char *path = dml_strfmt("%s/kill%d.h5", dir, trial);
    pid_t pid = fork();
    if (pid == 0) writer(path);
    struct timespec ts = {0, 20000000 + 7000000 * trial}; /* 20..97 ms: lands inside commits */
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    struct dml_run r;
    if (access(path, F_OK)) { free(path); continue; } /* killed before the first commit: nothing to check */
    if (dml_runrecord_read(path, &r)) { opened = 0; printf("    %s: %s\n", path, dml_error_message()); free(path); continue; }
    const struct dml_series *a = dml_run_series(&r, "test", "e_recall@1"), *b = dml_run_series(&r, "test", "nmi");
    size_t n = a ? a->n : 0;
    complete &= r.n_train == n && (!b || b->n == n);
    for (size_t i = 0; a && b && i < n; i++) complete &= a->value[i] == (double)i && b->value[i] == 2.0 * i && a->epoch[i] == i;
    if ((long)n > max_epochs) max_epochs = (long)n;
    dml_run_free(&r);
    free(path);
  }
  printf("kill test: up to %ld epochs committed before SIGKILL\n", max_epochs);
  f += expect_true("every killed record opens", opened);
  f += expect_true("killed records hold only complete epochs", complete);
  f += expect_true("some epochs were committed before the kills", max_epochs > 0);
  return f;
}

int main(void) {
  char *dir = test_tmpdir("runrecord");
  int f = round_trip(dir) + foreign_files(dir) + kill_test(dir);
  char *cmd = dml_strfmt("rm -rf '%s'", dir);
  if (!f && system(cmd)) {}
  free(cmd);
  free(dir);
  return test_report("common_runrecord", f);
}
