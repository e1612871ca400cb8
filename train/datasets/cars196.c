/* cars196 — Stanford Cars as the reference's datasets/cars196.py (spec A5): <source_path>/cars196/images/<class>/
 * <images>. Class folders sorted as strings, key = position (0–195); images sorted by name. Train = the first half
 * (0–97), test = the rest (labels kept). --use_tv_split --tv_split_by_samples draws each training class's images
 * with numpy's seeded np.random.choice(n, ⌊n·perc⌋, replace=False) (np.random.seed(--seed), classes in key order),
 * as the reference would if it imported numpy (BUG D1). */
#include <stdlib.h>

#include "train/datasets/datasets-impl.h"

static int position(const char *name, int pos) { (void)name; return pos; }

dml_status dml_dataset_cars196(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test) {
  char *root;
  dml_status st = dml_image_root(o, "cars196/images/<class>/*.jpg", &root);
  if (st) return st;
  struct dml_imgsplit all;
  st = dml_image_read_classes(root, "cars196", position, 0, &all);
  if (!st) st = dml_image_split_classes(o, "cars196", &all, -1, 1, train, test);
  free(root);
  return st;
}
