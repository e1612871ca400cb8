/* test_foreign — files that are not (readable) run records, and bad writer arguments: every case returns the
 * documented dml_status with a one-line message naming the path, nothing crashes, and HDF5 prints no error-stack
 * dump (stderr is captured during the calls and must stay empty).
 * Cases: missing file, folder, empty file, text file, HDF5 file without schema_version, schema_version stored as a
 * string, schema_version 2 (newer), a truncated run record; creating in a missing folder or over an existing
 * record; empty split or key, a key given twice, missing labels, reserved attribute names. */
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

static void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  if (fp) {
    fputs(text, fp);
    fclose(fp);
  }
}

/* An HDF5 file (written with plain HDF5) with an optional schema_version attribute. */
static void write_hdf5(const char *path, int schema_kind, long long schema) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t sp = H5Screate(H5S_SCALAR);
  if (schema_kind == 1) {
    hid_t a = H5Acreate2(f, "schema_version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_LLONG, &schema);
    H5Aclose(a);
  } else if (schema_kind == 2) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    const char *v = "1";
    hid_t a = H5Acreate2(f, "schema_version", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &v);
    H5Aclose(a);
    H5Tclose(t);
  }
  hid_t g = H5Gcreate2(f, "metrics", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(g);
  H5Sclose(sp);
  H5Fclose(f);
}

/* Every reader entry point on `path` fails with `want`, and the message contains `needle` and the file name. */
static int expect_rejected(const char *what, const char *path, dml_status want, const char *needle) {
  int f = 0;
  char name[200];
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  struct dml_run r;
  dml_status st = dml_runrecord_read(path, &r);
  int ok = st == want && strstr(dml_error_message(), needle) && strstr(dml_error_message(), base);
  snprintf(name, sizeof name, "%s: read -> %s mentioning '%s' and the file", what, dml_status_name(want), needle);
  if (!ok) printf("    got %s: %s\n", dml_status_name(st), dml_error_message());
  f += expect_true(name, ok);
  f += expect_true("  and the run struct is empty", r.path == NULL && r.n_series == 0 && r.meta.status == NULL);
  dml_run_free(&r); /* safe on a failed read */
  snprintf(name, sizeof name, "%s: is_record = 0", what);
  f += expect_true(name, dml_runrecord_is_record(path) == 0);
  dml_runrecord_t *rr = (dml_runrecord_t *)&r;
  st = dml_runrecord_open(path, &rr);
  snprintf(name, sizeof name, "%s: open -> %s, handle NULL", what, dml_status_name(want));
  f += expect_true(name, st == want && rr == NULL && strstr(dml_error_message(), base));
  float *e = (float *)&r;
  int32_t *l = (int32_t *)&r;
  char **p = (char **)&r;
  size_t n = 9, d = 9;
  st = dml_runrecord_read_embeddings(path, "test", 0, &e, &n, &d, &l, &p);
  snprintf(name, sizeof name, "%s: read_embeddings -> %s, outputs cleared", what, dml_status_name(want));
  f += expect_true(name, st == want && !e && !l && !p && !n && !d);
  return f;
}

int main(void) {
  int f = 0;
  char *dir = test_tmpdir("runrecord-foreign");
  /* capture stderr: HDF5 must not dump its error stack from any of the calls below */
  char *errlog = dml_strfmt("%s/stderr.txt", dir);
  fflush(stderr);
  int saved_err = dup(2), logfd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(logfd, 2);
  close(logfd);

  char *missing = dml_strfmt("%s/missing.h5", dir);
  f += expect_rejected("missing file", missing, DML_ERR_IO, "No such file");
  f += expect_rejected("folder", dir, DML_ERR_IO, "folder");
  char *empty = dml_strfmt("%s/empty.h5", dir);
  write_text(empty, "");
  f += expect_rejected("empty file", empty, DML_ERR_FORMAT, "not an HDF5 file");
  char *txt = dml_strfmt("%s/notes.txt", dir);
  write_text(txt, "epoch,loss\n0,1.5\n");
  f += expect_rejected("text file", txt, DML_ERR_FORMAT, "not an HDF5 file");
  char *plain = dml_strfmt("%s/plain.h5", dir);
  write_hdf5(plain, 0, 0);
  f += expect_rejected("HDF5 without schema_version", plain, DML_ERR_FORMAT, "no integer schema_version");
  char *strv = dml_strfmt("%s/string_schema.h5", dir);
  write_hdf5(strv, 2, 0);
  f += expect_rejected("schema_version as a string", strv, DML_ERR_FORMAT, "no integer schema_version");
  char *newer = dml_strfmt("%s/newer.h5", dir);
  write_hdf5(newer, 1, 2);
  f += expect_rejected("schema_version 2", newer, DML_ERR_FORMAT, "schema_version 2; this dml");
  char *zero = dml_strfmt("%s/zero.h5", dir);
  write_hdf5(zero, 1, 0);
  f += expect_rejected("schema_version 0", zero, DML_ERR_FORMAT, "invalid run-record schema_version 0");

  {
    struct dml_run r0;
    f += expect_true("NULL path: read -> DML_ERR_IO, is_record = 0",
                     dml_runrecord_read(NULL, &r0) == DML_ERR_IO && dml_runrecord_is_record(NULL) == 0);
    f += expect_true("a character device is not a record (and is not opened)", dml_runrecord_is_record("/dev/null") == 0);
  }

  /* a real record cut in half (as a broken copy would be) */
  char *good = dml_strfmt("%s/good.h5", dir), *cut = dml_strfmt("%s/cut.h5", dir);
  struct dml_run_meta m = {.seed = 1, .config_json = "{}"};
  dml_runrecord_t *rr;
  f += expect_true("create a good record", dml_runrecord_create(good, &m, &rr) == DML_OK);
  float emb[4096] = {0};
  int32_t lab[1024] = {0};
  dml_runrecord_put_embeddings(rr, "test", 0, emb, 1024, 4, lab, NULL);
  struct dml_metric_value v[] = {{"nmi", 0.5, NULL}};
  dml_runrecord_append_metrics(rr, "test", 0, v, 1);
  f += expect_true("close good record", dml_runrecord_close(rr) == DML_OK);
  f += expect_true("is_record(good) = 1", dml_runrecord_is_record(good) == 1);
  {
    FILE *in = fopen(good, "rb"), *out = fopen(cut, "wb");
    char buf[65536];
    size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
    if (out) fwrite(buf, 1, n / 2, out);
    if (in) fclose(in);
    if (out) fclose(out);
    struct dml_run r;
    dml_status st = dml_runrecord_read(cut, &r);
    f += expect_true("truncated record: an error naming it, no crash", st != DML_OK && strstr(dml_error_message(), "cut.h5"));
    dml_run_free(&r);
    f += expect_true("truncated record: is_record = 0", dml_runrecord_is_record(cut) == 0);
  }

  /* writer-side failures */
  char *nodir = dml_strfmt("%s/no/such/folder/run.h5", dir);
  rr = (dml_runrecord_t *)&m;
  dml_status st = dml_runrecord_create(nodir, &m, &rr);
  f += expect_true("create in a missing folder -> DML_ERR_IO naming it", st == DML_ERR_IO && rr == NULL &&
                                                                            strstr(dml_error_message(), "no/such/folder"));
  st = dml_runrecord_create(good, &m, &rr);
  f += expect_true("create over an existing record -> DML_ERR_STATE", st == DML_ERR_STATE && rr == NULL);
  st = dml_runrecord_create(txt, &m, &rr);
  f += expect_true("create over any existing file -> DML_ERR_STATE", st == DML_ERR_STATE && rr == NULL);
  f += expect_true("open good", dml_runrecord_open(good, &rr) == DML_OK && rr);
  f += expect_true("empty split -> DML_ERR_ARG", dml_runrecord_append_metrics(rr, "", 1, v, 1) == DML_ERR_ARG);
  f += expect_true("NULL split -> DML_ERR_ARG", dml_runrecord_append_metrics(rr, NULL, 1, v, 1) == DML_ERR_ARG);
  struct dml_metric_value bad_key[] = {{"", 1.0, NULL}}, dup[] = {{"nmi", 1.0, NULL}, {"f1", 2, NULL}, {"nmi", 3.0, NULL}};
  f += expect_true("empty key -> DML_ERR_ARG", dml_runrecord_append_metrics(rr, "test", 1, bad_key, 1) == DML_ERR_ARG);
  f += expect_true("key twice -> DML_ERR_ARG naming it", dml_runrecord_append_metrics(rr, "test", 1, dup, 3) == DML_ERR_ARG &&
                                                             strstr(dml_error_message(), "'nmi' given twice"));
  f += expect_true("embeddings without labels -> DML_ERR_ARG",
                   dml_runrecord_put_embeddings(rr, "test", 0, emb, 4, 4, NULL, NULL) == DML_ERR_ARG);
  f += expect_true("array metric without key -> DML_ERR_ARG",
                   dml_runrecord_put_metric_array(rr, "test", "", 1, (double[]){1}, 1, NULL) == DML_ERR_ARG);
  f += expect_true("reserved attribute -> DML_ERR_ARG", dml_runrecord_set_attr(rr, "schema_version", "2") == DML_ERR_ARG &&
                                                            dml_runrecord_set_attr(rr, "seed", "2") == DML_ERR_ARG);
  f += expect_true("unknown status -> DML_ERR_ARG", dml_runrecord_set_status(rr, (enum dml_run_status)17) == DML_ERR_ARG);
  f += expect_true("rejected calls leave nothing pending; close ok", dml_runrecord_close(rr) == DML_OK);
  struct dml_run r;
  f += expect_true("record unchanged by rejected calls", dml_runrecord_read(good, &r) == DML_OK && r.n_series == 1 &&
                                                             r.series[0].n == 1 && !strcmp(r.meta.status, "running"));
  dml_run_free(&r);

  /* the record disappears between open and commit: the commit fails cleanly and reports the path */
  f += expect_true("open good again", dml_runrecord_open(good, &rr) == DML_OK);
  unlink(good);
  dml_runrecord_append_metrics(rr, "test", 1, v, 1);
  st = dml_runrecord_commit(rr);
  f += expect_true("commit after the file vanished -> DML_ERR_IO naming it", st == DML_ERR_IO && strstr(dml_error_message(), "good.h5"));
  f += expect_true("close reports the failed commit", dml_runrecord_close(rr) == DML_ERR_IO);

  fflush(stderr);
  dup2(saved_err, 2);
  close(saved_err);
  struct stat sb;
  int quiet = stat(errlog, &sb) == 0 && sb.st_size == 0;
  if (!quiet) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "head -c 2000 '%s'", errlog);
    if (system(cmd)) {}
  }
  f += expect_true("no HDF5 error-stack output on stderr", quiet);

  free(missing); free(empty); free(txt); free(plain); free(strv); free(newer); free(zero); free(good); free(cut);
  free(nodir); free(errlog);
  if (!f) {
    char *cmd = dml_strfmt("rm -rf '%s'", dir);
    if (system(cmd)) {}
    free(cmd);
  }
  free(dir);
  return test_report("runrecord_foreign", f);
}
