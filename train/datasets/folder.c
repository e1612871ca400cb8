/* folder — any tree ROOT/<class>/<images> (--source_path ROOT; no dataset suffix): class folders sorted as strings,
 * key = position; images = every .jpg/.jpeg/.png below the class folder (sorted relative paths, subfolders
 * included). Split as CUB: the first half of the classes trains, the second half tests; or, with
 * --folder_classes FILE (one class folder name per line), exactly those classes train and the others test.
 * --use_tv_split works as for CUB. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/datasets/datasets-impl.h"

static int is_image(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

dml_status dml_dataset_folder(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test) {
  char root[PATH_MAX];
  if (!*o->source_path || !realpath(o->source_path, root))
    return dml_error(DML_ERR_IO, "dataset folder: --source_path %s is not a folder (expected ROOT/<class>/<images>)",
                     *o->source_path ? o->source_path : "(empty)");
  char **cls = NULL, **train_names = NULL;
  int nc = 0, nt = 0;
  dml_status st = dml_list_dir(root, root, 1, 0, &cls, &nc);
  if (st) return st;
  if (*o->folder_classes) { /* the class list */
    FILE *f = fopen(o->folder_classes, "r");
    if (!f) st = dml_error(DML_ERR_IO, "cannot open --folder_classes %s: %s", o->folder_classes, strerror(errno));
    char line[4096];
    while (!st && fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = 0;
      if (!*line) continue;
      int found = 0;
      for (int c = 0; c < nc; c++) found |= !strcmp(cls[c], line);
      if (!found) st = dml_error(DML_ERR_FORMAT, "--folder_classes %s: no class folder %s/%s", o->folder_classes, root, line);
      train_names = xrealloc(train_names, (size_t)(nt + 1) * sizeof *train_names);
      train_names[nt++] = xstrdup(line);
    }
    if (f) fclose(f);
    if (!st && (!nt || nt == nc))
      st = dml_error(DML_ERR_FORMAT, "--folder_classes %s names %d of the %d classes; both splits need classes",
                     o->folder_classes, nt, nc);
  }
  struct dml_imgsplit all = {0};
  int n_train = 0;
  for (int c = 0; c < nc && !st; c++) {
    char *dir = dml_strfmt("%s/%s", root, cls[c]), **files;
    int nf;
    st = dml_walk_files(root, dir, &files, &nf);
    int k = 0;
    for (int i = 0; !st && i < nf; i++) {
      char *full = is_image(files[i]) ? dml_strfmt("%s/%s", dir, files[i]) : NULL;
      free(files[i]);
      if (full) files[k++] = full;
    }
    if (!st && !k) st = dml_error(DML_ERR_FORMAT, "dataset folder: class folder %s has no .jpg/.jpeg/.png images", dir);
    if (st && nf) dml_free_names(files, k);
    free(dir);
    if (st) break;
    int in_train = 0;
    for (int t = 0; t < nt; t++) in_train |= !strcmp(train_names[t], cls[c]);
    /* with a class list, keys put the training classes first (their folder order), then the others */
    dml_imgsplit_add(&all, c, 0, files, k);
    all.c[all.n - 1].super = in_train;
    n_train += in_train;
  }
  if (!st && all.n < 2)
    st = dml_error(DML_ERR_FORMAT, "dataset folder: %s holds %d class folder(s); expected ROOT/<class>/<images> with at "
                   "least 2 classes", root, all.n);
  if (!st && nt) { /* re-key: training classes 0…, then the rest, keeping folder order within each */
    int a = 0, b = n_train;
    for (int c = 0; c < all.n; c++) all.c[c].key = all.c[c].super ? a++ : b++;
    for (int c = 0; c < all.n; c++) all.c[c].super = 0;
  }
  dml_free_names(cls, nc);
  dml_free_names(train_names, nt);
  if (st) {
    dml_imgsplit_free(&all);
    return st;
  }
  return dml_image_split_classes(o, "folder", &all, nt ? n_train : -1, 0, train, test);
}
