/* eval_cli — the dml-eval program (argv[1] = its path): golden output on a small plain HDF5 file, --json, a run
 * record (embeddings/latest/test, k-means k from the record's train classes), and one-line errors with a non-zero
 * exit for a missing file, a missing dataset, mismatched shapes, NaN, a single class and an unknown metric.
 * The golden file's numbers are the reference values of tests/fixtures/eval/reference.txt (case A) printed with
 * 6 decimals (eval_reference checks the library against them to 1e-12). If the format changes on purpose:
 *   build/bin/dml-eval tests/fixtures/eval/cli_small.h5 --metrics <GOLDEN_METRICS> --kmeans-k 40 \
 *     > tests/fixtures/eval/cli_small.golden */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/error.h"
#include "common/runrecord.h"
#include "eval/eval.h"
#include "tests/testutil.h"

#define GOLDEN_METRICS "e_recall@1,e_recall@4 c_recall@1 nmi,f1 mAP_1000,mAP_lim,mAP_c mAP@R r_precision dists@intra,dists@inter,dists@intra_over_inter rho_spectrum@0 rho_spectrum@2"

static char *slurp(FILE *f) {
  size_t cap = 4096, n = 0, r;
  char *s = xmalloc(cap);
  while ((r = fread(s + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (cap - n < 2) s = xrealloc(s, cap *= 2);
  }
  s[n] = 0;
  return s;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char *s = slurp(f);
  fclose(f);
  return s;
}

/* Run a shell command; stdout in *out (heap), returns the exit code. */
static int run(const char *cmd, char **out) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  *out = slurp(p);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* An error case: non-zero exit, exactly one stderr line, containing `needle`. */
static int expect_error(const char *bin, const char *args, const char *needle, const char *tmp) {
  char cmd[2048], *out = NULL;
  snprintf(cmd, sizeof cmd, "%s %s 2>%s/err.txt", bin, args, tmp);
  int rc = run(cmd, &out);
  snprintf(cmd, sizeof cmd, "%s/err.txt", tmp);
  char *err = read_file(cmd);
  int lines = 0;
  for (const char *c = err ? err : ""; *c; c++) lines += *c == '\n';
  int ok = rc > 0 && err && strstr(err, needle) && lines == 1;
  if (!ok) printf("args '%s': exit %d, stderr '%s' (wanted one line containing '%s')\n", args, rc, err ? err : "", needle);
  free(out);
  free(err);
  return expect_true(needle, ok);
}

static int record_case(const char *bin, const char *tmp) {
  /* a run record with a test split (150 rows, 3 classes... from a fixed pattern) and a train split of 7 classes */
  size_t n = 150, d = 4, nt = 70;
  float *e = xmalloc(n * d * sizeof *e), *et = xmalloc(nt * d * sizeof *et);
  int32_t *l = xmalloc(n * sizeof *l), *lt = xmalloc(nt * sizeof *lt);
  for (size_t i = 0; i < n; i++) {
    l[i] = (int32_t)(i % 5);
    for (size_t j = 0; j < d; j++) e[i * d + j] = (float)(l[i] == (int32_t)j) + 0.01f * (float)((i * 7 + j * 13) % 17);
  }
  for (size_t i = 0; i < nt; i++) {
    lt[i] = (int32_t)(i % 7);
    for (size_t j = 0; j < d; j++) et[i * d + j] = (float)j;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/run.h5", tmp);
  struct dml_run_meta m = {.seed = 0, .name = "eval_cli", .group = "eval_cli", .dataset = "synthetic",
                           .config_json = "{}", .source = "local"};
  dml_runrecord_t *rr = NULL;
  int fails = expect_true("record created", dml_runrecord_create(path, &m, &rr) == DML_OK);
  if (fails) return fails;
  fails += expect_true("test embeddings", dml_runrecord_put_embeddings(rr, "test", 0, e, n, d, l, NULL) == DML_OK);
  fails += expect_true("train embeddings", dml_runrecord_put_embeddings(rr, "train", 0, et, nt, d, lt, NULL) == DML_OK);
  fails += expect_true("record closed", dml_runrecord_close(rr) == DML_OK);

  char cmd[2048], *out = NULL;
  snprintf(cmd, sizeof cmd, "%s %s --metrics e_recall@1 nmi mAP_c --json %s/out.json 2>/dev/null", bin, path, tmp);
  fails += expect_true("record: exit 0", run(cmd, &out) == 0);
  fails += expect_true("record: reads embeddings/latest/test", out && strstr(out, "run record embeddings/latest/test"));
  fails += expect_true("record: k-means k = the train classes (7)", out && strstr(out, "kmeans_k=7 (the record's train classes"));
  /* the same numbers as the library with k = 7 */
  const char *keys[] = {"e_recall@1", "nmi", "mAP_c"};
  struct dml_metric_result r[3];
  struct dml_eval_opts o = {.kmeans_k = 7};
  fails += expect_true("library", dml_eval_metrics(e, l, n, d, keys, 3, &o, r) == DML_OK);
  snprintf(cmd, sizeof cmd, "%s/out.json", tmp);
  json_error_t je;
  json_t *root = json_load_file(cmd, 0, &je);
  fails += expect_true("json parses", root != NULL);
  if (root) {
    json_t *mm = json_object_get(root, "metrics");
    for (int i = 0; i < 3; i++) {
      char line[128];
      snprintf(line, sizeof line, "%-28s %.6f\n", keys[i], r[i].value);
      fails += expect_true(line, out && strstr(out, line));
      fails += expect_scalar(keys[i], json_real_value(json_object_get(mm, keys[i])), r[i].value, 0, 1e-15);
    }
    fails += expect_true("json n", json_integer_value(json_object_get(root, "n")) == (json_int_t)n);
    fails += expect_true("json d", json_integer_value(json_object_get(root, "d")) == (json_int_t)d);
    fails += expect_true("json definitions", json_is_string(json_object_get(json_object_get(root, "definitions"), "mAP_c")));
    json_decref(root);
  }
  free(out);
  snprintf(cmd, sizeof cmd, "%s --split val", path);
  fails += expect_error(bin, cmd, "no latest embeddings for split 'val'", tmp);
  free(e);
  free(et);
  free(l);
  free(lt);
  return fails;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_eval_cli PATH/TO/dml-eval\n");
    return 2;
  }
  const char *bin = argv[1];
  char *tmp = test_tmpdir("eval_cli");
  int fails = 0;
  /* golden output */
  char cmd[2048], *out = NULL;
  snprintf(cmd, sizeof cmd, "%s tests/fixtures/eval/cli_small.h5 --metrics " GOLDEN_METRICS " --kmeans-k 40 2>/dev/null",
           bin);
  fails += expect_true("plain file: exit 0", run(cmd, &out) == 0);
  char *golden = read_file("tests/fixtures/eval/cli_small.golden");
  int same = golden && out && !strcmp(golden, out);
  if (!same) printf("--- golden\n%s--- got\n%s---\n", golden ? golden : "(missing)\n", out ? out : "");
  fails += expect_true("golden output", same);
  free(golden);
  free(out);
  /* --help lists every flag with its default */
  snprintf(cmd, sizeof cmd, "%s --help", bin);
  fails += expect_true("--help exit 0", run(cmd, &out) == 0);
  fails += expect_true("--help lists --kmeans-k and the default metrics",
                       out && strstr(out, "--kmeans-k") && strstr(out, "--json") && strstr(out, "rho_spectrum@10"));
  free(out);
  /* errors */
  fails += expect_error(bin, "tests/fixtures/eval/nosuch.h5", "cannot read tests/fixtures/eval/nosuch.h5", tmp);
  fails += expect_error(bin, "tests/fixtures/eval/reference.txt", "not an HDF5 file", tmp);
  fails += expect_error(bin, "tests/fixtures/eval/cli_no_labels.h5", "no dataset 'labels'", tmp);
  fails += expect_error(bin, "tests/fixtures/eval/cli_bad_shape.h5", "shape mismatch: 300 embeddings but 299 labels", tmp);
  fails += expect_error(bin, "tests/fixtures/eval/cli_nan.h5", "row 7 has a non-finite value", tmp);
  fails += expect_error(bin, "tests/fixtures/eval/cli_one_class.h5", "at least 2 classes", tmp);
  fails += expect_error(bin, "tests/fixtures/eval/cli_small.h5 --metrics e_recall@1,nmii", "closest: nmi", tmp);
  fails += expect_error(bin, "tests/fixtures/eval/cli_small.h5 --kmeans-k x", "--kmeans-k expects an integer", tmp);
  fails += expect_error(bin, "", "missing argument", tmp);
  fails += record_case(bin, tmp);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd)) printf("note: could not remove %s\n", tmp);
  free(tmp);
  return test_report("eval_cli", fails);
}
