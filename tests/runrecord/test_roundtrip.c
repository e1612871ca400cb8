/* test_roundtrip — every field of the run record written through the API and read back exactly:
 * root metadata and config, several splits and keys (a key first seen at a later epoch is NaN back-filled, a key
 * skipped one epoch reads NaN there, keys with '/', '%' and the name "epoch"), definitions, an array metric
 * (checked with the HDF5 API against the layout of docs/run-format.md, since the reader does not expose arrays),
 * train rows, latest and best embeddings with labels and paths (replaced, paths dropped), free-form attributes,
 * status transitions with the `finished` timestamp. Then: reopen with dml_runrecord_open and append epochs
 * (resume), with the earlier epochs untouched. Expected values are written out by hand below. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

static int expect_str(const char *name, const char *got, const char *want) {
  int ok = got && want && !strcmp(got, want);
  if (!ok) printf("    %s: got \"%s\" want \"%s\"\n", name, got ? got : "(null)", want ? want : "(null)");
  return expect_true(name, ok);
}

/* "YYYY-MM-DDTHH:MM:SSZ" */
static int is_iso_utc(const char *s) {
  if (!s || strlen(s) != 20) return 0;
  for (int i = 0; i < 20; i++) {
    char c = s[i];
    int digit = c >= '0' && c <= '9';
    if (i == 4 || i == 7) { if (c != '-') return 0; }
    else if (i == 10) { if (c != 'T') return 0; }
    else if (i == 13 || i == 16) { if (c != ':') return 0; }
    else if (i == 19) { if (c != 'Z') return 0; }
    else if (!digit) return 0;
  }
  return 1;
}

static int expect_series(const struct dml_run *r, const char *split, const char *key, size_t n, const double *epoch,
                         const double *value, const char *definition) {
  char name[256];
  snprintf(name, sizeof name, "series %s/%s", split, key);
  const struct dml_series *s = dml_run_series(r, split, key);
  if (!s) return expect_true(name, 0);
  int f = 0;
  if (s->n != n) {
    printf("    %s: %zu values, want %zu\n", name, s->n, n);
    return expect_true(name, 0);
  }
  snprintf(name, sizeof name, "%s/%s epochs", split, key);
  f += expect_close(name, s->epoch, epoch, n, 0, 0);
  snprintf(name, sizeof name, "%s/%s values (NaN where not evaluated)", split, key);
  f += expect_close(name, s->value, value, n, 0, 0);
  snprintf(name, sizeof name, "%s/%s definition", split, key);
  if (definition) f += expect_str(name, s->definition, definition);
  else f += expect_true(name, s->definition == NULL);
  return f;
}

/* Read metrics_arrays/<split>/<name> with plain HDF5, as any reader following the spec would. */
static int check_array(const char *path, const char *dset, const double *want, size_t n, long long epoch, const char *def) {
  int f = 0;
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = file >= 0 ? H5Dopen2(file, dset, H5P_DEFAULT) : -1;
  if (d < 0) {
    if (file >= 0) H5Fclose(file);
    return expect_true(dset, 0);
  }
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t len = 0;
  f += expect_true("array metric is 1-D float64", H5Sget_simple_extent_ndims(sp) == 1 && H5Tequal(t, H5T_IEEE_F64LE) > 0);
  H5Sget_simple_extent_dims(sp, &len, NULL);
  f += expect_true("array metric length", len == n);
  if (len == n) {
    double got[16];
    H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, got);
    f += expect_close("array metric values", got, want, n, 0, 0);
  }
  long long e = -99;
  hid_t a = H5Aopen(d, "epoch", H5P_DEFAULT);
  if (a >= 0) { H5Aread(a, H5T_NATIVE_LLONG, &e); H5Aclose(a); }
  f += expect_true("array metric epoch attribute", e == epoch);
  int has_def = H5Aexists(d, "definition") > 0;
  if (def) {
    char *v = NULL;
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8); /* the record's strings are UTF-8; libhdf5 converts none to ASCII */
    a = has_def ? H5Aopen(d, "definition", H5P_DEFAULT) : -1;
    if (a >= 0) { H5Aread(a, st, &v); H5Aclose(a); }
    f += expect_str("array metric definition", v, def);
    if (v) H5free_memory(v);
    H5Tclose(st);
  } else {
    f += expect_true("array metric without definition has none", !has_def);
  }
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(file);
  return f;
}

static int check_embeddings(const char *path, const char *split, int best, size_t n_want, size_t d_want,
                            const float *emb_want, const int32_t *lab_want, const char *const *paths_want) {
  char name[128];
  snprintf(name, sizeof name, "%s embeddings of %s", best ? "best" : "latest", split);
  float *e = NULL;
  int32_t *l = NULL;
  char **p = NULL;
  size_t n = 0, d = 0;
  dml_status st = dml_runrecord_read_embeddings(path, split, best, &e, &n, &d, &l, &p);
  int f = expect_true(name, st == DML_OK && n == n_want && d == d_want);
  if (!f) {
    f += expect_close_f32("embedding values", e, emb_want, n * d, 0, 0);
    double *lg = malloc((n + 1) * sizeof *lg), *lw = malloc((n + 1) * sizeof *lw);
    for (size_t i = 0; i < n; i++) { lg[i] = l[i]; lw[i] = lab_want[i]; }
    f += expect_close("labels", lg, lw, n, 0, 0);
    free(lg);
    free(lw);
    if (paths_want) {
      int same = p != NULL;
      for (size_t i = 0; same && i < n; i++) same = !strcmp(p[i], paths_want[i]);
      f += expect_true("paths (UTF-8 included)", same);
    } else {
      f += expect_true("no paths stored", p == NULL);
    }
  } else {
    printf("    %s: status %d (%s), n %zu d %zu\n", name, st, dml_error_message(), n, d);
  }
  free(e);
  free(l);
  if (p) { for (size_t i = 0; i < n; i++) free(p[i]); free(p); }
  return f;
}

/* The metric series and train rows of epochs -1..2 as written by main() (per-epoch commits or one batch). */
static int check_history(const struct dml_run *rp) {
  int f = 0;
  const struct dml_run r = *rp;
  f += expect_true("series count and order (split, key)", r.n_series == 7);
  const char *order[8][2] = {{"test", "a/b%c"}, {"test", "e_recall@1"}, {"test", "epoch"}, {"test", "late"},
                             {"test", "nmi"},   {"train", "e_recall@1"}, {"val", "nmi"},   {"", ""}};
  for (size_t i = 0; i < 7 && i < r.n_series; i++) {
    char nm[64];
    snprintf(nm, sizeof nm, "series[%zu] is %s/%s", i, order[i][0], order[i][1]);
    f += expect_true(nm, !strcmp(r.series[i].split, order[i][0]) && !strcmp(r.series[i].key, order[i][1]));
  }
  const double ep_test[4] = {-1, 0, 1, 2};
  f += expect_series(rp, "test", "e_recall@1", 4, ep_test, (double[]){0.125, 0.25, 0.375, 0.5}, "e_recall@k/v1");
  f += expect_series(rp, "test", "nmi", 4, ep_test, (double[]){0.5, 0.625, NAN, 0.875}, NULL);
  f += expect_series(rp, "test", "late", 4, ep_test, (double[]){NAN, NAN, -2.0, -3.0}, "late/v1");
  f += expect_series(rp, "test", "a/b%c", 4, ep_test, (double[]){3.0, 3.5, 4.0, NAN}, NULL);
  f += expect_series(rp, "test", "epoch", 4, ep_test, (double[]){42, 43, 44, NAN}, NULL);
  f += expect_series(rp, "train", "e_recall@1", 2, (double[]){0, 2}, (double[]){0.75, 0.875}, NULL);
  f += expect_series(rp, "val", "nmi", 1, (double[]){1}, (double[]){0.0625}, NULL);
  f += expect_true("unknown series is NULL", !dml_run_series(rp, "test", "nope") && !dml_run_series(rp, "nope", "nmi"));
  f += expect_true("train rows", r.n_train == 3);
  if (r.n_train == 3) {
    f += expect_close("train epoch", r.train_epoch, (double[]){0, 1, 2}, 3, 0, 0);
    f += expect_close("train loss", r.train_loss, (double[]){1.5, 1.25, 1.0}, 3, 0, 0);
    f += expect_close("train lr", r.train_lr, (double[]){1e-5, 5e-6, 2.5e-6}, 3, 0, 0);
    f += expect_close("train seconds", r.train_seconds, (double[]){10.25, 11.0, 12.0}, 3, 0, 0);
    f += expect_close("train images_per_second", r.train_ips, (double[]){300.5, 290.0, 280.0}, 3, 0, 0);
  }
  return f;
}

int main(void) {
  int f = 0;
  char *dir = test_tmpdir("runrecord-rt");
  char *path = dml_strfmt("%s/run.h5", dir);
  char config[] = "{\"seed\": 11, \"lr\": 1e-05, \"group\": \"ü \\\"q\\\"\", \"evaluation_metrics\": [\"e_recall@1\", \"nmi\"]}";
  struct dml_run_meta m = {.seed = -11, .name = "Margin_s11", .group = "Margin \"b\" ü", .project = "DML_Project",
                           .dataset = "cub200", .arch = "resnet50_frozen_normalize", .loss = "margin",
                           .batch_mining = "distance", .source = "wandb:ent/proj/abc123", .config_json = config};
  dml_runrecord_t *rr = NULL;
  time_t t0 = time(NULL);
  f += expect_true("create", dml_runrecord_create(path, &m, &rr) == DML_OK);
  if (!rr) return test_report("runrecord_roundtrip", f + 1);

  /* the record exists and is valid right after create (a run that dies before epoch 0 keeps its config) */
  struct dml_run r;
  f += expect_true("readable right after create", dml_runrecord_read(path, &r) == DML_OK);
  f += expect_str("status after create", r.meta.status, "running");
  f += expect_str("finished empty while running", r.meta.finished, "");
  f += expect_true("no series yet", r.n_series == 0 && r.n_train == 0);
  f += expect_true("created is ISO 8601 UTC", is_iso_utc(r.meta.created));
  dml_run_free(&r);

  /* epoch -1 (eval before training): test only */
  struct dml_metric_value em1[] = {{"e_recall@1", 0.125, "e_recall@k/v1"}, {"nmi", 0.5, NULL}, {"a/b%c", 3.0, NULL},
                                   {"epoch", 42.0, NULL}};
  f += expect_true("append -1", dml_runrecord_append_metrics(rr, "test", -1, em1, 4) == DML_OK);
  f += expect_true("commit -1", dml_runrecord_commit(rr) == DML_OK);
  /* epoch 0: train row, test metrics, train split appears */
  struct dml_metric_value e0[] = {{"e_recall@1", 0.25, "e_recall@k/v1"}, {"nmi", 0.625, NULL}, {"a/b%c", 3.5, NULL},
                                  {"epoch", 43.0, NULL}};
  struct dml_metric_value tr0[] = {{"e_recall@1", 0.75, NULL}};
  dml_runrecord_append_train(rr, 0, &(struct dml_train_row){.loss = 1.5, .lr = 1e-5, .seconds = 10.25, .images_per_second = 300.5});
  dml_runrecord_append_metrics(rr, "test", 0, e0, 4);
  dml_runrecord_append_metrics(rr, "train", 0, tr0, 1);
  double spec0[3] = {0.5, 0.25, 0.25};
  dml_runrecord_put_metric_array(rr, "test", "rho_spectrum@0", 0, spec0, 3, "rho/v0");
  float emb0[6] = {1, 2, 3, 4, 5, 6};
  int32_t lab0[3] = {7, 8, 9};
  const char *paths0[3] = {"a.jpg", "b/c.png", "ü/ß.jpg"};
  dml_runrecord_put_embeddings(rr, "test", 0, emb0, 3, 2, lab0, paths0);
  dml_runrecord_put_embeddings(rr, "test", 1, emb0, 2, 3, lab0, paths0);
  f += expect_true("commit 0", dml_runrecord_commit(rr) == DML_OK);
  /* epoch 1: "nmi" skipped, "late" first seen, val split first seen, status failed then running */
  struct dml_metric_value e1[] = {{"e_recall@1", 0.375, "e_recall@k/v1"}, {"late", -2.0, "late/v1"}, {"a/b%c", 4.0, NULL},
                                  {"epoch", 44.0, NULL}};
  struct dml_metric_value v1[] = {{"nmi", 0.0625, NULL}};
  dml_runrecord_append_train(rr, 1, &(struct dml_train_row){.loss = 1.25, .lr = 5e-6, .seconds = 11.0, .images_per_second = 290.0});
  dml_runrecord_append_metrics(rr, "test", 1, e1, 4);
  dml_runrecord_append_metrics(rr, "val", 1, v1, 1);
  dml_runrecord_set_status(rr, DML_RUN_FAILED);
  dml_runrecord_set_attr(rr, "error", "out of memory");
  f += expect_true("commit 1", dml_runrecord_commit(rr) == DML_OK);
  f += expect_true("read after failed", dml_runrecord_read(path, &r) == DML_OK);
  f += expect_str("status failed", r.meta.status, "failed");
  f += expect_true("failed sets finished", is_iso_utc(r.meta.finished));
  dml_run_free(&r);
  /* epoch 2: everything again; the array metric and the embeddings are replaced, paths dropped for best */
  struct dml_metric_value e2[] = {{"late", -3.0, "late/v1"}, {"nmi", 0.875, NULL}, {"e_recall@1", 0.5, "e_recall@k/v1"}};
  struct dml_metric_value tr2[] = {{"e_recall@1", 0.875, NULL}};
  dml_runrecord_set_status(rr, DML_RUN_RUNNING);
  dml_runrecord_append_train(rr, 2, &(struct dml_train_row){.loss = 1.0, .lr = 2.5e-6, .seconds = 12.0, .images_per_second = 280.0});
  dml_runrecord_append_metrics(rr, "test", 2, e2, 3);
  dml_runrecord_append_metrics(rr, "train", 2, tr2, 1);
  double spec2[4] = {0.5, 0.25, 0.125, 0.125};
  dml_runrecord_put_metric_array(rr, "test", "rho_spectrum@0", 2, spec2, 4, "rho/v1");
  dml_runrecord_put_metric_array(rr, "train", "rho_spectrum@0", 2, spec2, 2, NULL);
  float emb2[8] = {-1, -2, -3, -4, 0.5f, 1e-30f, 3e30f, -0.0f};
  int32_t lab2[4] = {-1, 0, 2147483647, -2147483647 - 1};
  const char *paths2[4] = {"x", "", "y z", "ü"};
  dml_runrecord_put_embeddings(rr, "test", 0, emb0, 3, 2, lab0, paths0); /* replaced by the next put before commit */
  dml_runrecord_put_embeddings(rr, "test", 0, emb2, 4, 2, lab2, paths2);
  dml_runrecord_put_embeddings(rr, "test", 1, emb2, 2, 4, lab2, NULL);
  dml_runrecord_put_embeddings(rr, "train", 0, emb2, 8, 1, (int32_t[8]){1, 2, 3, 4, 5, 6, 7, 8}, NULL);
  dml_runrecord_set_attr(rr, "wandb_unsent", "1");
  dml_runrecord_set_attr(rr, "note", "first");
  dml_runrecord_set_attr(rr, "note", "second"); /* the later value wins */
  dml_runrecord_set_status(rr, DML_RUN_FINISHED);
  f += expect_true("close commits", dml_runrecord_close(rr) == DML_OK);
  time_t t1 = time(NULL);

  f += expect_true("read", dml_runrecord_read(path, &r) == DML_OK);
  f += expect_true("schema_version 1", r.meta.schema_version == 1);
  f += expect_str("path", r.path, path);
  f += expect_str("dml_version", r.meta.dml_version, DML_VERSION);
  f += expect_str("status finished", r.meta.status, "finished");
  f += expect_true("finished timestamp", is_iso_utc(r.meta.finished));
  f += expect_true("seed", r.meta.seed == -11);
  f += expect_str("name", r.meta.name, m.name);
  f += expect_str("group", r.meta.group, m.group);
  f += expect_str("project", r.meta.project, m.project);
  f += expect_str("dataset", r.meta.dataset, m.dataset);
  f += expect_str("arch", r.meta.arch, m.arch);
  f += expect_str("loss", r.meta.loss, m.loss);
  f += expect_str("batch_mining", r.meta.batch_mining, m.batch_mining);
  f += expect_str("source", r.meta.source, m.source);
  f += expect_str("config", r.meta.config_json, config);
  {
    struct tm tm = {0};
    int ok = is_iso_utc(r.meta.created) && strptime(r.meta.created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    time_t c = ok ? timegm(&tm) : 0;
    f += expect_true("created is the creation time", ok && c >= t0 && c <= t1);
  }
  f += check_history(&r);
  dml_run_free(&r);

  /* names on disk follow the escaping rule of docs/run-format.md */
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  f += expect_true("escaped names on disk (a%2Fb%25c, %65poch)",
                   H5Lexists(file, "metrics/test/a%2Fb%25c", H5P_DEFAULT) > 0 &&
                       H5Lexists(file, "metrics/test/%65poch", H5P_DEFAULT) > 0);
  f += expect_true("free-form attributes", H5Aexists(file, "wandb_unsent") > 0 && H5Aexists(file, "error") > 0);
  f += expect_true("best test has no paths after a put without paths",
                   H5Lexists(file, "embeddings/best/test/paths", H5P_DEFAULT) == 0);
  H5Fclose(file);
  f += check_array(path, "metrics_arrays/test/rho_spectrum@0", spec2, 4, 2, "rho/v1");
  f += check_array(path, "metrics_arrays/train/rho_spectrum@0", spec2, 2, 2, NULL);

  f += check_embeddings(path, "test", 0, 4, 2, emb2, lab2, paths2);
  f += check_embeddings(path, "test", 1, 2, 4, emb2, lab2, NULL);
  f += check_embeddings(path, "train", 0, 8, 1, emb2, (int32_t[8]){1, 2, 3, 4, 5, 6, 7, 8}, NULL);
  {
    float *e;
    int32_t *l;
    size_t n, d;
    f += expect_true("missing embeddings split is a clear error",
                     dml_runrecord_read_embeddings(path, "val", 0, &e, &n, &d, &l, NULL) == DML_ERR_FORMAT &&
                         strstr(dml_error_message(), "val") && e == NULL && n == 0);
    f += expect_true("missing best embeddings is a clear error",
                     dml_runrecord_read_embeddings(path, "train", 1, &e, &n, &d, &l, NULL) == DML_ERR_FORMAT);
  }

  /* ---- resume: reopen, append epochs 3 and 4 with a new key, the earlier epochs untouched ---- */
  f += expect_true("open", dml_runrecord_open(path, &rr) == DML_OK);
  if (rr) {
    dml_runrecord_set_status(rr, DML_RUN_RUNNING);
    dml_runrecord_set_attr(rr, "resumed_at_epoch", "3");
    f += expect_true("commit status only", dml_runrecord_commit(rr) == DML_OK);
    f += expect_true("read while resumed", dml_runrecord_read(path, &r) == DML_OK);
    f += expect_str("status running again", r.meta.status, "running");
    f += expect_str("finished cleared", r.meta.finished, "");
    dml_run_free(&r);
    for (long e = 3; e <= 4; e++) {
      struct dml_metric_value v[] = {{"e_recall@1", 0.5 + 0.125 * (double)(e - 2), "e_recall@k/v1"}, {"new", (double)e, NULL}};
      dml_runrecord_append_metrics(rr, "test", e, v, 2);
      dml_runrecord_append_train(rr, e, &(struct dml_train_row){.loss = 1.0 / (double)e, .lr = 1e-6, .seconds = 1, .images_per_second = 2});
      f += expect_true("commit resumed epoch", dml_runrecord_commit(rr) == DML_OK);
    }
    dml_runrecord_set_status(rr, DML_RUN_INTERRUPTED);
    f += expect_true("close resumed", dml_runrecord_close(rr) == DML_OK);
  }
  f += expect_true("read resumed", dml_runrecord_read(path, &r) == DML_OK);
  const double ep6[6] = {-1, 0, 1, 2, 3, 4};
  f += expect_series(&r, "test", "e_recall@1", 6, ep6, (double[]){0.125, 0.25, 0.375, 0.5, 0.625, 0.75}, "e_recall@k/v1");
  f += expect_series(&r, "test", "nmi", 6, ep6, (double[]){0.5, 0.625, NAN, 0.875, NAN, NAN}, NULL);
  f += expect_series(&r, "test", "new", 6, ep6, (double[]){NAN, NAN, NAN, NAN, 3, 4}, NULL);
  f += expect_series(&r, "train", "e_recall@1", 2, (double[]){0, 2}, (double[]){0.75, 0.875}, NULL);
  f += expect_true("train rows appended", r.n_train == 5 && r.train_epoch[4] == 4 && r.train_loss[3] == 1.0 / 3.0 &&
                                              r.train_loss[0] == 1.5);
  f += expect_str("status interrupted", r.meta.status, "interrupted");
  f += expect_true("interrupted sets finished", is_iso_utc(r.meta.finished));
  f += expect_str("config survives resume", r.meta.config_json, config);
  f += expect_true("seed survives resume", r.meta.seed == -11);
  dml_run_free(&r);
  f += check_embeddings(path, "test", 0, 4, 2, emb2, lab2, paths2);
  {
    char *tmp = dml_strfmt("%s.tmp", path);
    f += expect_true("no tmp file left", access(tmp, F_OK) != 0);
    free(tmp);
  }

  /* ---- the same history appended in one batch and committed once gives the same series ---- */
  {
    char *pb = dml_strfmt("%s/batched.h5", dir);
    f += expect_true("create batched", dml_runrecord_create(pb, &m, &rr) == DML_OK);
    dml_runrecord_append_metrics(rr, "test", -1, em1, 4);
    dml_runrecord_append_metrics(rr, "test", 0, e0, 4);
    dml_runrecord_append_metrics(rr, "train", 0, tr0, 1);
    dml_runrecord_append_metrics(rr, "test", 1, e1, 4);
    dml_runrecord_append_metrics(rr, "val", 1, v1, 1);
    dml_runrecord_append_metrics(rr, "test", 2, e2, 3);
    dml_runrecord_append_metrics(rr, "train", 2, tr2, 1);
    dml_runrecord_append_train(rr, 0, &(struct dml_train_row){.loss = 1.5, .lr = 1e-5, .seconds = 10.25, .images_per_second = 300.5});
    dml_runrecord_append_train(rr, 1, &(struct dml_train_row){.loss = 1.25, .lr = 5e-6, .seconds = 11.0, .images_per_second = 290.0});
    dml_runrecord_append_train(rr, 2, &(struct dml_train_row){.loss = 1.0, .lr = 2.5e-6, .seconds = 12.0, .images_per_second = 280.0});
    f += expect_true("close batched (one commit)", dml_runrecord_close(rr) == DML_OK);
    f += expect_true("read batched", dml_runrecord_read(pb, &r) == DML_OK);
    f += check_history(&r);
    dml_run_free(&r);
    free(pb);
  }

  /* ---- defaults: NULL strings are stored as "", source "local", config "{}" ---- */
  {
    char *p2 = dml_strfmt("%s/defaults.h5", dir);
    struct dml_run_meta d0 = {.seed = 3};
    f += expect_true("create with NULL strings", dml_runrecord_create(p2, &d0, &rr) == DML_OK && dml_runrecord_close(rr) == DML_OK);
    f += expect_true("read defaults", dml_runrecord_read(p2, &r) == DML_OK);
    f += expect_true("defaults", !strcmp(r.meta.group, "") && !strcmp(r.meta.source, "local") &&
                                     !strcmp(r.meta.config_json, "{}") && r.meta.seed == 3 && !strcmp(r.meta.status, "running"));
    dml_run_free(&r);
    free(p2);
  }

  /* ---- the size stays flat when the same embeddings (and paths) are rewritten every epoch ---- */
  {
    char *p3 = dml_strfmt("%s/growth.h5", dir);
    struct dml_run_meta d0 = {.seed = 1};
    enum { N = 2000, D = 16 };
    float *emb = calloc(N * D, sizeof *emb);
    int32_t *lab = calloc(N, sizeof *lab);
    char **paths = calloc(N, sizeof *paths);
    for (int i = 0; i < N; i++) paths[i] = dml_strfmt("images/class_%03d/image_%06d.jpg", i % 100, i);
    struct stat s1 = {0}, s2 = {0};
    dml_runrecord_create(p3, &d0, &rr);
    for (long e = 0; e < 12; e++) {
      emb[0] = (float)e;
      struct dml_metric_value v[] = {{"e_recall@1", 0.5, NULL}};
      dml_runrecord_append_metrics(rr, "test", e, v, 1);
      dml_runrecord_put_embeddings(rr, "test", 0, emb, N, D, lab, (const char *const *)paths);
      dml_runrecord_commit(rr);
      if (e == 1) stat(p3, &s1);
    }
    dml_runrecord_close(rr);
    stat(p3, &s2);
    printf("file size after epoch 1: %lld bytes, after epoch 11: %lld bytes\n", (long long)s1.st_size, (long long)s2.st_size);
    f += expect_true("rewriting unchanged embeddings+paths does not grow the file (< 16 KiB over 10 epochs)",
                     s1.st_size > 0 && s2.st_size - s1.st_size < 16384);
    float *e;
    int32_t *l;
    size_t n, d;
    if (dml_runrecord_read_embeddings(p3, "test", 0, &e, &n, &d, &l, NULL) == DML_OK) {
      f += expect_true("latest embeddings are the last epoch's", e[0] == 11.0f);
      free(e);
      free(l);
    } else {
      f += expect_true("read growth embeddings", 0);
    }
    for (int i = 0; i < N; i++) free(paths[i]);
    free(paths);
    free(emb);
    free(lab);
    free(p3);
  }

  /* ---- repeated reads (aggregation reads 10,000 small records): every read succeeds; the time is printed for
   * information only (speed belongs to bench/, a timed assertion flakes on a loaded machine) ---- */
  {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int reps = 300, ok = 1;
    for (int i = 0; i < reps; i++) {
      ok &= dml_runrecord_read(path, &r) == DML_OK;
      dml_run_free(&r);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) * 1e-6) / reps;
    printf("dml_runrecord_read of a small record: %.3f ms\n", ms);
    f += expect_true("300 repeated reads succeed", ok);
  }

  if (!f) {
    char *cmd = dml_strfmt("rm -rf '%s'", dir);
    if (system(cmd)) {}
    free(cmd);
  }
  free(path);
  free(dir);
  return test_report("runrecord_roundtrip", f);
}
