/* test_h5py — writes the sample run record described in tests/reference/check_runrecord_h5py.py (--sample) through
 * this module, then has Debian's /usr/bin/python3 + h5py read it exactly as docs/run-format.md says and assert
 * every value; also checks that h5dump (when installed) reads the file. Exits 77 (skipped) when /usr/bin/python3
 * has no h5py. Usage: runrecord_h5py PATH/TO/check_runrecord_h5py.py */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"

/* The sample; the same numbers are written out in check_runrecord_h5py.py. */
static dml_status write_sample(const char *path) {
  struct dml_run_meta m = {.seed = 7, .name = "sample_s7", .group = "Sample ü", .project = "proj", .dataset = "cub200",
                           .arch = "resnet50_frozen_normalize", .loss = "margin", .batch_mining = "distance",
                           .source = "local", .config_json = "{\"seed\": 7, \"lr\": 1e-05, \"n_epochs\": 3}",
                           .created = "2026-01-02T03:04:05Z"};
  dml_runrecord_t *rr;
  dml_status st = dml_runrecord_create(path, &m, &rr);
  if (st) return st;
  for (long e = -1; e <= 2 && !st; e++) {
    struct dml_metric_value v[5];
    size_t n = 0;
    v[n++] = (struct dml_metric_value){"e_recall@1", (double)(e + 2) / 8, "e_recall@k/v1"};
    if (e != 1) v[n++] = (struct dml_metric_value){"nmi", (double)(e + 2) / 16, NULL};
    if (e >= 1) v[n++] = (struct dml_metric_value){"late@1", 0.25 * (double)e, NULL};
    v[n++] = (struct dml_metric_value){"a/b%c", 3.0, NULL};
    v[n++] = (struct dml_metric_value){"epoch", 42.0 + (double)e, NULL};
    st = dml_runrecord_append_metrics(rr, "test", e, v, n);
    if (e >= 0 && !st) {
      struct dml_train_row row = {.loss = 1.0 / (double)(e + 1), .lr = 1e-5, .seconds = 10.0 + (double)e,
                                  .images_per_second = 100.0 * (double)(e + 1)};
      st = dml_runrecord_append_train(rr, e, &row);
    }
    if ((e == 0 || e == 2) && !st) {
      struct dml_metric_value t[] = {{"e_recall@1", e == 0 ? 0.75 : 0.875, NULL}};
      st = dml_runrecord_append_metrics(rr, "train", e, t, 1);
    }
    if (!st) st = dml_runrecord_commit(rr);
  }
  double spec[4] = {0.5, 0.25, 0.125, 0.125};
  float latest[15], best[8];
  int32_t lab_latest[5], lab_best[4];
  const char *paths[5] = {"img/0.jpg", "img/1.jpg", "img/2.jpg", "img/3.jpg", "img/ü4.jpg"};
  for (int i = 0; i < 5; i++) {
    for (int j = 0; j < 3; j++) latest[i * 3 + j] = (float)(i * 3 + j) + 0.5f;
    lab_latest[i] = i % 2;
  }
  for (int i = 0; i < 4; i++) {
    for (int j = 0; j < 2; j++) best[i * 2 + j] = -(float)(i * 2 + j);
    lab_best[i] = i;
  }
  if (!st) st = dml_runrecord_put_metric_array(rr, "test", "rho_spectrum@0", 2, spec, 4, "rho/v1");
  if (!st) st = dml_runrecord_put_embeddings(rr, "test", 0, latest, 5, 3, lab_latest, paths);
  if (!st) st = dml_runrecord_put_embeddings(rr, "test", 1, best, 4, 2, lab_best, NULL);
  if (!st) st = dml_runrecord_set_attr(rr, "wandb_unsent", "1");
  if (!st) st = dml_runrecord_set_status(rr, DML_RUN_FINISHED);
  dml_status cst = dml_runrecord_close(rr);
  return st ? st : cst;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: runrecord_h5py CHECK_SCRIPT\n");
    return 2;
  }
  if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
    printf("/usr/bin/python3 has no h5py (Debian: python3-h5py): skipped\n");
    return 77;
  }
  int f = 0;
  char *dir = test_tmpdir("runrecord-h5py");
  char *path = dml_strfmt("%s/run.h5", dir);
  dml_status st = write_sample(path);
  if (st) printf("    %s\n", dml_error_message());
  f += expect_true("write the sample record", st == DML_OK);
  if (!st) {
    char *cmd = dml_strfmt("/usr/bin/python3 '%s' --sample '%s'", argv[1], path);
    f += expect_true("h5py reads the sample exactly as docs/run-format.md says (--sample)", system(cmd) == 0);
    free(cmd);
    cmd = dml_strfmt("/usr/bin/python3 '%s' '%s'", argv[1], path);
    f += expect_true("h5py conformance check of the sample", system(cmd) == 0);
    free(cmd);
    if (access("/usr/bin/h5dump", X_OK) == 0) {
      cmd = dml_strfmt("/usr/bin/h5dump '%s' >/dev/null", path);
      f += expect_true("h5dump reads the record", system(cmd) == 0);
      free(cmd);
    } else {
      printf("h5dump not installed (Debian: hdf5-tools): that check skipped\n");
    }
  }
  if (!f) {
    char *cmd = dml_strfmt("rm -rf '%s'", dir);
    if (system(cmd)) {}
    free(cmd);
  } else {
    printf("record kept: %s\n", path);
  }
  free(path);
  free(dir);
  return test_report("runrecord_h5py", f);
}
