/* test_train_images — dml-train on a synthetic CUB-shaped tree (argv[1] = the program; a width-8 ResNet-18 on
 * 32-px crops, --image_size, so it is quick):
 *  1. 1 thread / 1 decode worker and 2 threads / 4 decode workers give bitwise equal records (losses, test
 *     metrics, test embeddings): a sample's pixels do not depend on which worker decoded it;
 *  2. SIGKILL after the first committed epoch, then --resume, equals the unbroken run bitwise (the embeddings
 *     compared are the last epoch's: equal when the kill came before epoch 3);
 *  3. the record is finished, its test labels are the second half of the classes (5..9), and --cache_dir changes
 *     nothing;
 *  4. In-Shop-shaped data trains and is evaluated in query/gallery mode (recall keys only);
 *  5. bad input at the command line: a missing --source_path folder and a corrupt image exit 1 with one line
 *     naming the path and leave no run folder; --skip_bad_images trains and records bad_images = 1. */
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/datasets/gen.h"
#include "tests/testutil.h"

static const char *bin;

/* Run dml-train with args (NULL-terminated); stderr into err. wait_it = 0: return at once with *pid. */
static int run(char **args, char *err, size_t cap, pid_t *pid_out, int wait_it) {
  return test_spawn(bin, args, NULL, err, cap, pid_out, wait_it);
}

#define BASE "--source_path", data, "--arch", "resnet18_w8_normalize", "--image_size", "32", "--bs", "10", "--lr", \
  "1e-3", "--embed_dim", "8", "--seed", "5", "--no_train_metrics", "--not_pretrained", "--evaluation_metrics",      \
  "e_recall@1", "nmi", "--group", "img"

static char data[4096];

static int same_records(const char *what, const char *pa, const char *pb, int epochs) {
  struct dml_run a = {0}, b = {0};
  if (dml_runrecord_read(pa, &a) || dml_runrecord_read(pb, &b)) return expect_true("records read", 0);
  int f = 0;
  char *w = dml_strfmt("%s: losses bitwise equal", what);
  f += expect_true(w, a.n_train >= (size_t)epochs && b.n_train >= (size_t)epochs &&
                          !memcmp(a.train_loss, b.train_loss, (size_t)epochs * sizeof(double)));
  free(w);
  const struct dml_series *sa = dml_run_series(&a, "test", "e_recall@1"), *sb = dml_run_series(&b, "test", "e_recall@1");
  w = dml_strfmt("%s: test R@1 bitwise equal", what);
  f += expect_true(w, sa && sb && sa->n >= (size_t)epochs && sb->n >= (size_t)epochs &&
                          !memcmp(sa->value, sb->value, (size_t)epochs * sizeof(double)));
  free(w);
  dml_run_free(&a);
  dml_run_free(&b);
  float *ea, *eb;
  size_t na, nb, da, db;
  int32_t *la, *lb;
  if (dml_runrecord_read_embeddings(pa, "test", 0, &ea, &na, &da, &la, NULL) ||
      dml_runrecord_read_embeddings(pb, "test", 0, &eb, &nb, &db, &lb, NULL))
    return f + expect_true("embeddings read", 0);
  w = dml_strfmt("%s: test embeddings bitwise equal", what);
  f += expect_true(w, na == nb && da == db && !memcmp(ea, eb, na * da * sizeof(float)));
  free(w);
  free(ea), free(eb), free(la), free(lb);
  return f;
}

static char *attr(const char *path, const char *name) {
  hid_t fh = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fh < 0) return NULL;
  char *v = NULL;
  if (H5Aexists(fh, name) > 0) {
    hid_t a = H5Aopen(fh, name, H5P_DEFAULT), t = H5Aget_type(a);
    if (H5Tis_variable_str(t) > 0) {
      char *s = NULL;
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, H5T_VARIABLE);
      H5Tset_cset(mt, H5T_CSET_UTF8); /* the record's strings are UTF-8; libhdf5 converts none to ASCII */
      if (H5Aread(a, mt, &s) >= 0 && s) v = strdup(s);
      H5free_memory(s);
      H5Tclose(mt);
    } else {
      size_t n = H5Tget_size(t);
      v = calloc(n + 1, 1);
      H5Aread(a, t, v);
    }
    H5Tclose(t);
    H5Aclose(a);
  }
  H5Fclose(fh);
  return v;
}

int main(int argc, char **argv) {
  if (argc < 2) return expect_true("dml-train path given", 0);
  bin = argv[1];
  int f = 0;
  char *tmp = test_tmpdir("trainimg"), err[16384];
  snprintf(data, sizeof data, "%s/data", tmp);
  if (gen_cub(data, 10, 6, 48, 36, 1)) return expect_true("tree written", 0);

  /* 1. threads and decode workers */
  char *s1 = dml_strfmt("%s/r1", tmp), *s2 = dml_strfmt("%s/r2", tmp), *s3 = dml_strfmt("%s/r3", tmp);
  char *s4 = dml_strfmt("%s/r4", tmp), *cache = dml_strfmt("%s/cache", tmp);
  char *a1[] = {BASE, "--n_epochs", "3", "--kernels", "1", "--data_workers", "1", "--save_path", s1, NULL};
  char *a2[] = {BASE, "--n_epochs", "3", "--kernels", "2", "--data_workers", "4", "--save_path", s2, "--cache_dir", cache, NULL};
  int rc = run(a1, err, sizeof err, NULL, 1);
  if (rc) fprintf(stderr, "%s\n", err);
  f += expect_true("run 1 thread / 1 worker exits 0", rc == 0);
  rc = run(a2, err, sizeof err, NULL, 1);
  if (rc) fprintf(stderr, "%s\n", err);
  f += expect_true("run 2 threads / 4 workers / cache exits 0", rc == 0);
  char *p1 = dml_strfmt("%s/cub200/img_s5/run.h5", s1), *p2 = dml_strfmt("%s/cub200/img_s5/run.h5", s2);
  char *p3 = dml_strfmt("%s/cub200/img_s5/run.h5", s3), *p4 = dml_strfmt("%s/cub200/img_s5/run.h5", s4);
  if (!f) f += same_records("1 vs 2 threads, 1 vs 4 decode workers, cache", p1, p2, 3);
  struct dml_run r = {0};
  if (!dml_runrecord_read(p1, &r)) {
    f += expect_true("record finished", !strcmp(r.meta.status, "finished"));
    dml_run_free(&r);
  }
  float *e;
  size_t n, d;
  int32_t *lab;
  if (!dml_runrecord_read_embeddings(p1, "test", 0, &e, &n, &d, &lab, NULL)) {
    int ok = n == 30 && d == 8;
    for (size_t i = 0; i < n; i++) ok &= lab[i] >= 5 && lab[i] <= 9;
    f += expect_true("test embeddings: 30 × 8, labels 5..9 (the second half of the keys)", ok);
    free(e), free(lab);
  }

  /* 2. SIGKILL + --resume = unbroken (3 epochs) */
  char *a3[] = {BASE, "--n_epochs", "40", "--kernels", "2", "--save_path", s3, NULL};
  pid_t pid;
  run(a3, err, sizeof err, &pid, 0);
  int seen = 0;
  for (int i = 0; i < 6000 && !seen; i++) { /* up to 120 s for the first epoch */
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    struct dml_run q = {0};
    if (dml_runrecord_read(p3, &q) == DML_OK) {
      seen = q.n_train >= 1;
      dml_run_free(&q);
    }
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  f += expect_true("first epoch committed before the kill", seen);
  char *dir3 = dml_strfmt("%s/cub200/img_s5", s3);
  char *a4[] = {"--resume", dir3, "--n_epochs", "3", "--kernels", "1", NULL};
  rc = run(a4, err, sizeof err, NULL, 1);
  if (rc) fprintf(stderr, "%s\n", err);
  f += expect_true("--resume exits 0", rc == 0);
  if (!rc) f += same_records("killed + resumed vs unbroken", p3, p1, 3);
  /* (same_records compares the latest embeddings too: a kill after epoch 3 would show here as a difference) */

  /* 4. In-Shop: query/gallery evaluation */
  char *ishop = dml_strfmt("%s/ishop", tmp);
  gen_inshop(ishop, 10, 4, 40, 48);
  char *a5[] = {"--dataset", "in_shop", "--source_path", ishop, "--arch", "resnet18_w8_normalize", "--image_size", "32",
                "--bs", "10", "--embed_dim", "8", "--n_epochs", "1", "--no_train_metrics", "--not_pretrained",
                "--save_path", s4, "--group", "img", "--seed", "5", NULL};
  rc = run(a5, err, sizeof err, NULL, 1);
  if (rc) fprintf(stderr, "%s\n", err);
  f += expect_true("in_shop trains", rc == 0);
  free(p4);
  p4 = dml_strfmt("%s/in_shop/img_s5/run.h5", s4);
  if (!rc && !dml_runrecord_read(p4, &r)) {
    f += expect_true("in_shop test: recall in query/gallery mode, nmi left out",
                     dml_run_series(&r, "test", "e_recall@1") && !dml_run_series(&r, "test", "nmi"));
    dml_run_free(&r);
  }

  /* 5. bad input at the command line */
  char *s5 = dml_strfmt("%s/r5", tmp);
  char *b1[] = {"--source_path", "/nonexistent/datasets", "--save_path", s5, NULL};
  rc = run(b1, err, sizeof err, NULL, 1);
  f += expect_true("missing --source_path: exit 1, one line naming the folder",
                   rc == 1 && strstr(err, "/nonexistent/datasets/cub200") && strstr(err, "dml-train: error:"));
  char *bad = dml_strfmt("%s/cub200/images/008.Class_008/Class_008_0001.jpg", data);
  FILE *fp = fopen(bad, "r+b");
  if (fp) { /* keep the header, cut the rest: a truncated JPEG only the full decode notices */
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fclose(fp);
    if (truncate(bad, sz / 3)) fprintf(stderr, "truncate failed\n");
  }
  char *b2[] = {BASE, "--n_epochs", "1", "--save_path", s5, NULL};
  rc = run(b2, err, sizeof err, NULL, 1);
  f += expect_true("truncated image: exit 1 naming it", rc == 1 && strstr(err, "Class_008_0001.jpg"));
  char *b3[] = {BASE, "--n_epochs", "1", "--save_path", s5, "--skip_bad_images", NULL};
  rc = run(b3, err, sizeof err, NULL, 1);
  if (rc) fprintf(stderr, "%s\n", err);
  char *p5 = dml_strfmt("%s/cub200/img_s5_1/run.h5", s5), *p5a = dml_strfmt("%s/cub200/img_s5/run.h5", s5);
  char *cnt = attr(access(p5, F_OK) ? p5a : p5, "bad_images");
  f += expect_true("--skip_bad_images: trains, bad_images recorded", rc == 0 && cnt && atol(cnt) >= 1);
  if (cnt) printf("bad_images = %s\n", cnt);
  free(cnt);
  char *cmd = dml_strfmt("rm -rf %s", tmp);
  if (!f && system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
  free(cmd), free(s1), free(s2), free(s3), free(s4), free(s5), free(p1), free(p2), free(p3), free(p4), free(p5), free(p5a);
  free(cache), free(dir3), free(ishop), free(bad), free(tmp);
  return test_report("datasets_train", f);
}
