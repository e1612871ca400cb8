/* test_datasets — the image datasets on synthetic trees written here (gen.c), against the reference's datasets/<name>.py
 * rules (spec A5; values worked out by hand from those rules, numpy's draws from tests/fixtures/datasets/numpy.txt
 * via test_images): class order (CUB by integer prefix, CARS as strings), labels (CUB/CARS keys, SOP class_id − 1,
 * In-Shop sorted item ids), splits (halves; tv by classes re-indexed; CUB by samples via linspace; CARS by numpy's
 * seeded choice; SOP per super-class in first-appearance order, without BUG D2's −1 label; SOP by samples), In-Shop
 * query/gallery, the folder dataset with a class list; and every bad input: missing folder, wrong layout, missing
 * Info_Files, an empty class folder, a corrupt image (or skipped and counted), a giant header, a badly named CUB
 * class, symlink loops and links leaving the root. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/datasets/gen.h"
#include "tests/testutil.h"
#include "train/datasets/datasets-impl.h"

static struct dml_flag FL[DML_TRAIN_MAX_FLAGS];
static struct dml_cli CLI;

/* Options from a flag line (dml-train's own table and defaults). */
static struct dml_train_opts opts(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct dml_train_opts opts(const char *fmt, ...) {
  static char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *argv[64];
  int argc = 0;
  argv[argc++] = "test";
  for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " ")) argv[argc++] = t;
  static struct dml_train_opts o; /* the flag table points here; freed at the next call */
  dml_flags_free(&CLI);
  memset(&o, 0, sizeof o);
  memset(&CLI, 0, sizeof CLI);
  CLI.prog = "test";
  CLI.flags = FL;
  CLI.n_flags = dml_train_flags(&o, FL, DML_TRAIN_MAX_FLAGS);
  if (dml_flags_parse(&CLI, argc, argv)) DML_ABORT("flags: %s", dml_error_message());
  return o;
}

static int labels_are(const struct dml_dataset *d, const int32_t *want, int n) {
  if (d->n != n) {
    fprintf(stderr, "  %s: %d items, expected %d\n", d->name, d->n, n);
    return 0;
  }
  for (int i = 0; i < n; i++)
    if (d->labels[i] != want[i]) {
      fprintf(stderr, "  %s: label[%d] = %d, expected %d\n", d->name, i, d->labels[i], want[i]);
      return 0;
    }
  return 1;
}

/* k copies of each label in [lo, hi) */
static int32_t *runs(int lo, int hi, int k) {
  static int32_t v[4096];
  int n = 0;
  for (int l = lo; l < hi; l++)
    for (int i = 0; i < k; i++) v[n++] = l;
  return v;
}

static int cub_checks(const char *tmp) {
  int f = 0;
  char *root = dml_strfmt("%s/c", tmp), *cmd;
  gen_cub(root, 10, 5, 40, 30, 1);
  /* int-prefix order: "9.Class_009" sorts last as a string, 9th by its prefix; "._" names are skipped */
  cmd = dml_strfmt("cd %s/cub200/images && mv 009.Class_009 9.Class_009 && echo junk > 001.Class_001/._Class_001_0000.jpg"
                   " && mkdir ._AppleDouble", root);
  f += expect_true("tree edited", system(cmd) == 0);
  free(cmd);
  struct dml_train_opts o = opts("--source_path %s", root);
  struct dml_dataset tr, te, va;
  dml_status st = dml_dataset_load(&o, &tr, &te);
  if (st) fprintf(stderr, "%s\n", dml_error_message());
  f += expect_true("cub200 loads", !st);
  if (st) return f;
  f += expect_true("cub200 train = keys 0-4, 5 images each, in class order", labels_are(&tr, runs(0, 5, 5), 25));
  f += expect_true("cub200 test = keys 5-9 (labels kept)", labels_are(&te, runs(5, 10, 5), 25));
  f += expect_true("key 8 is the folder with prefix 9", strstr(te.paths[15], "/9.Class_009/Class_009_0000.jpg") != NULL);
  int sorted = 1;
  for (int i = 1; i < tr.n; i++) sorted &= tr.labels[i] != tr.labels[i - 1] || strcmp(tr.paths[i - 1], tr.paths[i]) < 0;
  f += expect_true("images sorted by name within a class; ._ files skipped", sorted && !strstr(tr.paths[0], "._"));
  f += expect_true("image geometry: 3 × 224 × 224", tr.channels == 3 && tr.height == 224 && tr.width == 224);
  dml_dataset_free(&tr), dml_dataset_free(&te);

  o = opts("--source_path %s --use_tv_split --tv_split_perc 0.8", root);
  st = dml_dataset_load(&o, &tr, &te);
  if (!st) st = dml_dataset_split_val(&o, &tr, &va);
  f += expect_true("cub200 tv by classes loads", !st);
  if (st) return f;
  /* int(5·0.8) = 4 classes train (re-indexed 0-3), 1 validates (re-indexed 0); test keeps 5-9 */
  f += expect_true("tv by classes: train 0-3", labels_are(&tr, runs(0, 4, 5), 20));
  f += expect_true("tv by classes: val re-indexed from 0", labels_are(&va, runs(0, 1, 5), 5) && strstr(va.paths[0], "005.Class_005"));
  f += expect_true("tv by classes: test keeps 5-9", labels_are(&te, runs(5, 10, 5), 25));
  dml_dataset_free(&tr), dml_dataset_free(&te), dml_dataset_free(&va);

  o = opts("--source_path %s --use_tv_split --tv_split_by_samples --tv_split_perc 0.8", root);
  st = dml_dataset_load(&o, &tr, &te);
  if (!st) st = dml_dataset_split_val(&o, &tr, &va);
  f += expect_true("cub200 tv by samples loads", !st);
  if (st) return f;
  /* n = 5, m = 4: round(linspace(0, 4, 4)) = 0, 1, 3, 4 train; image 2 validates; labels unchanged */
  f += expect_true("tv by samples: 4 per class train", labels_are(&tr, runs(0, 5, 4), 20));
  f += expect_true("tv by samples: image 2 of each class validates", labels_are(&va, runs(0, 5, 1), 5) &&
                   strstr(va.paths[0], "Class_001_0002.jpg") && strstr(tr.paths[2], "Class_001_0003.jpg"));
  dml_dataset_free(&tr), dml_dataset_free(&te), dml_dataset_free(&va);
  free(root);
  return f;
}

static int cars_checks(const char *tmp) {
  int f = 0;
  char *root = dml_strfmt("%s/k", tmp);
  gen_cars(root, 12, 6, 40, 30);
  struct dml_train_opts o = opts("--dataset cars196 --source_path %s", root);
  struct dml_dataset tr, te, va;
  dml_status st = dml_dataset_load(&o, &tr, &te);
  f += expect_true("cars196 loads", !st);
  if (st) return f;
  /* string order: Make 1, Make 10, Make 11, Make 12, Make 2, … */
  f += expect_true("cars196: classes sorted as strings", labels_are(&tr, runs(0, 6, 6), 36) &&
                   strstr(tr.paths[6], "/Make 10 Model/") && strstr(tr.paths[24], "/Make 2 Model/"));
  f += expect_true("cars196 test = keys 6-11", labels_are(&te, runs(6, 12, 6), 36));
  dml_dataset_free(&tr), dml_dataset_free(&te);
  o = opts("--dataset cars196 --source_path %s --use_tv_split --tv_split_by_samples --tv_split_perc 0.8 --seed 3", root);
  st = dml_dataset_load(&o, &tr, &te);
  if (!st) st = dml_dataset_split_val(&o, &tr, &va);
  f += expect_true("cars196 tv by samples loads", !st);
  if (st) return f;
  /* np.random.seed(3); per training class choice(6, 4, replace=False), in key order, images in drawn order */
  struct dml_mt19937 mt;
  dml_mt19937_seed(&mt, 3);
  char **files;
  int nf, ok = tr.n == 24 && va.n == 12;
  for (int c = 0; c < 6 && ok; c++) {
    int pick[6];
    dml_numpy_choice(&mt, 6, 4, pick);
    const char *cls = strstr(tr.paths[4 * c], "/Make ");
    char *dir = xstrdup(tr.paths[4 * c]);
    *strrchr(dir, '/') = 0;
    dml_list_dir(dir, dir, 0, 1, &files, &nf);
    for (int i = 0; i < 4; i++) ok &= !strcmp(strrchr(tr.paths[4 * c + i], '/') + 1, files[pick[i]]) && tr.labels[4 * c + i] == c;
    (void)cls;
    dml_free_names(files, nf);
    free(dir);
  }
  f += expect_true("cars196 by samples = numpy's seeded choice per class, drawn order", ok);
  dml_dataset_free(&tr), dml_dataset_free(&te), dml_dataset_free(&va);
  free(root);
  return f;
}

/* the class id in an SOP path ".../super<s>_final/<cls>_<i>.JPG" */
static int sop_class(const char *p) { return atoi(strrchr(p, '/') + 1); }

static int sop_checks(const char *tmp) {
  int f = 0;
  char *root = dml_strfmt("%s/s", tmp);
  gen_sop(root, 3, 4, 3, 32, 32); /* 12 classes; ids 1-6 train, 7-12 test; supers 2,1,3,2,1,3,… by id */
  struct dml_train_opts o = opts("--dataset online_products --source_path %s", root);
  struct dml_dataset tr, te, va;
  dml_status st = dml_dataset_load(&o, &tr, &te);
  if (st) fprintf(stderr, "%s\n", dml_error_message());
  f += expect_true("online_products loads", !st);
  if (st) return f;
  f += expect_true("SOP train labels = class_id − 1", labels_are(&tr, runs(0, 6, 3), 18) && sop_class(tr.paths[3]) == 2);
  f += expect_true("SOP test labels = class_id − 1", labels_are(&te, runs(6, 12, 3), 18) && sop_class(te.paths[0]) == 7);
  dml_dataset_free(&tr), dml_dataset_free(&te);
  o = opts("--dataset online_products --source_path %s --use_tv_split --tv_split_perc 0.5", root);
  st = dml_dataset_load(&o, &tr, &te);
  if (!st) st = dml_dataset_split_val(&o, &tr, &va);
  f += expect_true("SOP tv by classes loads", !st);
  if (st) return f;
  /* supers in first appearance: 2 {1, 4}, 1 {2, 5}, 3 {3, 6}: ⌊2·0.5⌋ = 1 → train 1, 2, 3 as 0, 1, 2; val 4, 5, 6 */
  f += expect_true("SOP tv by classes: running ids from 0 (no −1, BUG D2)", labels_are(&tr, runs(0, 3, 3), 9) &&
                   sop_class(tr.paths[0]) == 1 && sop_class(tr.paths[3]) == 2 && sop_class(tr.paths[6]) == 3);
  f += expect_true("SOP tv by classes: val ids from 0", labels_are(&va, runs(0, 3, 3), 9) && sop_class(va.paths[0]) == 4 &&
                   sop_class(va.paths[3]) == 5 && sop_class(va.paths[6]) == 6);
  dml_dataset_free(&tr), dml_dataset_free(&te), dml_dataset_free(&va);
  o = opts("--dataset online_products --source_path %s --use_tv_split --tv_split_by_samples --tv_split_perc 0.7", root);
  st = dml_dataset_load(&o, &tr, &te);
  if (!st) st = dml_dataset_split_val(&o, &tr, &va);
  f += expect_true("SOP tv by samples loads", !st);
  if (st) return f;
  /* ⌊3·0.7⌋ = 2: the first two images of each class train, the third validates; labels class_id − 1 */
  f += expect_true("SOP tv by samples", labels_are(&tr, runs(0, 6, 2), 12) && labels_are(&va, runs(0, 6, 1), 6) &&
                   strstr(va.paths[0], "/1_2.JPG"));
  dml_dataset_free(&tr), dml_dataset_free(&te), dml_dataset_free(&va);
  /* missing Info_Files */
  char *cmd = dml_strfmt("rm %s/online_products/Info_Files/Ebay_test.txt", root);
  f += expect_true("Ebay_test removed", system(cmd) == 0);
  o = opts("--dataset online_products --source_path %s", root);
  st = dml_dataset_load(&o, &tr, &te);
  f += expect_true("missing Info_Files/Ebay_test.txt: named", st == DML_ERR_IO && strstr(dml_error_message(), "Info_Files/Ebay_test.txt"));
  free(cmd), free(root);
  return f;
}

static int inshop_checks(const char *tmp) {
  int f = 0;
  char *root = dml_strfmt("%s/i", tmp);
  gen_inshop(root, 8, 3, 32, 40);
  struct dml_train_opts o = opts("--dataset in_shop --source_path %s", root);
  struct dml_dataset tr, te;
  dml_status st = dml_dataset_load(&o, &tr, &te);
  if (st) fprintf(stderr, "%s\n", dml_error_message());
  f += expect_true("in_shop loads", !st);
  if (st) return f;
  f += expect_true("in_shop train: items 0-3, 3 images each", labels_are(&tr, runs(0, 4, 3), 12));
  int32_t want[12] = {4, 5, 6, 7, 4, 4, 5, 5, 6, 6, 7, 7};
  f += expect_true("in_shop test: 4 queries then 8 gallery images", te.n_query == 4 && labels_are(&te, want, 12));
  dml_dataset_free(&tr), dml_dataset_free(&te);
  free(root);
  return f;
}

static int folder_checks(const char *tmp) {
  int f = 0;
  char *root = dml_strfmt("%s/c/cub200/images", tmp), *list = dml_strfmt("%s/classes.txt", tmp);
  FILE *fp = fopen(list, "w");
  fprintf(fp, "004.Class_004\n002.Class_002\n");
  fclose(fp);
  struct dml_train_opts o = opts("--dataset folder --source_path %s", root);
  struct dml_dataset tr, te;
  dml_status st = dml_dataset_load(&o, &tr, &te);
  if (st) fprintf(stderr, "%s\n", dml_error_message());
  f += expect_true("folder: first half of the string-sorted classes trains", !st && labels_are(&tr, runs(0, 5, 5), 25) &&
                   labels_are(&te, runs(5, 10, 5), 25) && strstr(te.paths[20], "/9.Class_009/"));
  if (!st) dml_dataset_free(&tr), dml_dataset_free(&te);
  o = opts("--dataset folder --source_path %s --folder_classes %s", root, list);
  st = dml_dataset_load(&o, &tr, &te);
  f += expect_true("folder --folder_classes: exactly those train", !st && labels_are(&tr, runs(0, 2, 5), 10) &&
                   strstr(tr.paths[0], "/002.Class_002/") && te.n == 40 && te.labels[0] == 2);
  if (!st) dml_dataset_free(&tr), dml_dataset_free(&te);
  free(root), free(list);
  return f;
}

static int expect_err(const char *what, const char *args, const char *needle) {
  struct dml_train_opts o = opts("%s", args);
  struct dml_dataset tr, te;
  dml_status st = dml_dataset_load(&o, &tr, &te);
  if (!st) {
    dml_dataset_free(&tr), dml_dataset_free(&te);
    return expect_true(what, 0);
  }
  const char *m = dml_error_message();
  int ok = strstr(m, needle) != NULL && !strchr(m, '\n');
  if (!ok) fprintf(stderr, "  message: %s\n", m);
  return expect_true(what, ok);
}

static int bad_input_checks(const char *tmp) {
  int f = 0;
  char *a = dml_strfmt("%s/bad", tmp), *cmd;
  f += expect_err("missing --source_path folder", "--source_path /nonexistent/place", "/nonexistent/place/cub200");
  gen_mkdirs(a);
  cmd = dml_strfmt("mkdir -p %s/cub200/pictures", a);
  f += expect_true("layout", system(cmd) == 0);
  free(cmd);
  char *args = dml_strfmt("--source_path %s", a);
  f += expect_err("wrong layout: says what was expected", args, "expected");
  gen_cub(a, 4, 3, 30, 20, 0);
  cmd = dml_strfmt("mkdir %s/cub200/images/005.Empty", a);
  f += expect_true("empty class", system(cmd) == 0);
  free(cmd);
  f += expect_err("empty class folder", args, "005.Empty has no images");
  cmd = dml_strfmt("rmdir %s/cub200/images/005.Empty && mkdir %s/cub200/images/Birds", a, a);
  f += expect_true("bad name", system(cmd) == 0);
  free(cmd);
  f += expect_err("CUB class folder without an integer prefix", args, "Birds is not named like");
  cmd = dml_strfmt("rmdir %s/cub200/images/Birds && echo garbage > %s/cub200/images/002.Class_002/zz_bad.jpg", a, a);
  f += expect_true("corrupt image", system(cmd) == 0);
  free(cmd);
  f += expect_err("corrupt image: named, hint to skip", args, "zz_bad.jpg is neither JPEG nor PNG");
  char *skip = dml_strfmt("--source_path %s --skip_bad_images", a);
  struct dml_train_opts o = opts("%s", skip);
  struct dml_dataset tr, te;
  dml_status st = dml_dataset_load(&o, &tr, &te);
  f += expect_true("--skip_bad_images: loads without it and counts it", !st && tr.n == 6 && tr.src->bad_at_load == 1);
  if (!st) dml_dataset_free(&tr), dml_dataset_free(&te);
  /* a giant header */
  cmd = dml_strfmt("rm %s/cub200/images/002.Class_002/zz_bad.jpg", a);
  f += expect_true("rm", system(cmd) == 0);
  free(cmd);
  char *g = dml_strfmt("%s/cub200/images/003.Class_003/giant.png", a);
  unsigned char png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                           0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0, 0, 0, 0, 0};
  FILE *fp = fopen(g, "wb");
  fwrite(png, 1, sizeof png, fp);
  fclose(fp);
  f += expect_err("giant header refused before decoding", args, "giant.png: header claims 100000×100000");
  unlink(g);
  /* symlinks: a loop, and a link out of the dataset root */
  cmd = dml_strfmt("ln -s loop %s/cub200/images/001.Class_001/loop", a);
  f += expect_true("loop link", system(cmd) == 0);
  free(cmd);
  f += expect_err("symlink loop: named", args, "001.Class_001/loop: symbolic link loop");
  cmd = dml_strfmt("rm %s/cub200/images/001.Class_001/loop && ln -s /etc/passwd %s/cub200/images/001.Class_001/x.jpg", a, a);
  f += expect_true("outside link", system(cmd) == 0);
  free(cmd);
  f += expect_err("link leaving the dataset root", args, "x.jpg: symbolic link leaves the dataset root");
  cmd = dml_strfmt("rm %s/cub200/images/001.Class_001/x.jpg && ln -s ../002.Class_002/Class_002_0000.jpg "
                   "%s/cub200/images/001.Class_001/inside.jpg", a, a);
  f += expect_true("inside link", system(cmd) == 0);
  free(cmd);
  o = opts("%s", args);
  st = dml_dataset_load(&o, &tr, &te);
  f += expect_true("a link inside the root is followed", !st && tr.n == 7);
  if (!st) dml_dataset_free(&tr), dml_dataset_free(&te);
  f += expect_err("unknown dataset", "--dataset cub2000", "unknown --dataset");
  char *aug = dml_strfmt("--source_path %s --augmentation fancy", a);
  f += expect_err("unknown augmentation", aug, "unknown --augmentation 'fancy'");
  free(aug);
  free(a), free(args), free(skip), free(g);
  return f;
}

int main(void) {
  int f = 0;
  char *tmp = test_tmpdir("datasets");
  f += cub_checks(tmp);
  f += cars_checks(tmp);
  f += sop_checks(tmp);
  f += inshop_checks(tmp);
  f += folder_checks(tmp);
  f += bad_input_checks(tmp);
  dml_flags_free(&CLI);
  char *cmd = dml_strfmt("rm -rf %s", tmp);
  if (!f && system(cmd)) fprintf(stderr, "could not remove %s\n", tmp);
  free(cmd);
  free(tmp);
  return test_report("datasets_splits", f);
}
