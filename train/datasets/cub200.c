/* cub200 — CUB-200-2011 as the reference's datasets/cub200.py (spec A5): <source_path>/cub200/images/<NNN.Name>/
 * <images>. Class folders (names containing "._" skipped) are ordered by their integer prefix; key = prefix − 1.
 * Images sorted by file name ("._" skipped). Train = the first half of the keys (0–99), test = the second (100–199,
 * labels kept). --use_tv_split: see dml_image_split_classes (by samples: unique(round(linspace)), deterministic). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "train/datasets/datasets-impl.h"

static int cub_key(const char *name, int pos) {
  (void)pos;
  if (!isdigit((unsigned char)name[0])) return -1;
  char *end;
  long v = strtol(name, &end, 10);
  return *end == '.' && v >= 1 && v < (1L << 30) ? (int)(v - 1) : -1;
}

dml_status dml_image_read_classes(const char *root, const char *name, int (*key_of)(const char *, int), int skip_dotus,
                                  struct dml_imgsplit *all) {
  char *images = dml_strfmt("%s/images", root), **cls = NULL;
  int nc = 0;
  dml_status st = dml_list_dir(root, images, 1, 0, &cls, &nc);
  if (st) {
    st = dml_error(DML_ERR_FORMAT, "dataset %s: %s (expected %s/images/<class folder>/<image files>)", name,
                   dml_error_message(), root);
    free(images);
    return st;
  }
  memset(all, 0, sizeof *all);
  int pos = 0;
  for (int c = 0; c < nc && !st; c++) {
    if (skip_dotus && strstr(cls[c], "._")) continue;
    int key = key_of(cls[c], pos++);
    if (key < 0) {
      st = dml_error(DML_ERR_FORMAT, "dataset %s: class folder %s/%s is not named like 001.Black_footed_Albatross "
                     "(an integer prefix, a dot, the name)", name, images, cls[c]);
      break;
    }
    for (int k = 0; k < all->n; k++)
      if (all->c[k].key == key)
        st = dml_error(DML_ERR_FORMAT, "dataset %s: two class folders with the prefix %d in %s", name, key + 1, images);
    if (st) break;
    char *dir = dml_strfmt("%s/%s", images, cls[c]), **files = NULL;
    int nf = 0;
    st = dml_list_dir(root, dir, 0, 1, &files, &nf);
    int k = 0;
    for (int i = 0; !st && i < nf; i++) {
      if (skip_dotus && strstr(files[i], "._")) {
        free(files[i]);
        continue;
      }
      char *full = dml_strfmt("%s/%s", dir, files[i]);
      free(files[i]);
      files[k++] = full;
    }
    if (!st && !k) st = dml_error(DML_ERR_FORMAT, "dataset %s: class folder %s has no images", name, dir);
    if (st) {
      for (int i = k; i < nf; i++) free(files[i]);
      dml_free_names(files, k);
    } else {
      dml_imgsplit_add(all, key, 0, files, k);
    }
    free(dir);
  }
  if (!st && all->n < 2)
    st = dml_error(DML_ERR_FORMAT, "dataset %s: %s holds %d class folder%s; expected <class folder>/<image files>, at "
                   "least 2 classes", name, images, all->n, all->n == 1 ? "" : "s");
  if (st) dml_imgsplit_free(all);
  dml_free_names(cls, nc);
  free(images);
  return st;
}

dml_status dml_dataset_cub200(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test) {
  char *root;
  dml_status st = dml_image_root(o, "cub200/images/001.Black_footed_Albatross/*.jpg …", &root);
  if (st) return st;
  struct dml_imgsplit all;
  st = dml_image_read_classes(root, "cub200", cub_key, 1, &all);
  if (!st) st = dml_image_split_classes(o, "cub200", &all, -1, 0, train, test);
  free(root);
  return st;
}
