/* datasets-impl.h — internal to train/datasets: what the image datasets (cub200.c, cars196.c, online_products.c,
 * in_shop.c, folder.c) share (image_set.c). A dataset file reads its layout into classes (a key = the label and
 * the image paths in the reference's order), splits them by its own rule, and hands each split to
 * dml_image_dataset, which sorts the classes by key (the reference's BaseDataset order), checks every file's header
 * and fills a struct dml_dataset. */
#ifndef DML_DATASETS_IMPL_H
#define DML_DATASETS_IMPL_H
#include "train/train.h"

struct dml_imgclass {
  int32_t key;            /* the label */
  int super;              /* SOP super-class (first-appearance rank), else 0 */
  char **paths;           /* (n) owned */
  int n;
};

struct dml_imgsplit {
  struct dml_imgclass *c;
  int n, cap;
};

/* Append a class (takes ownership of paths). */
void dml_imgsplit_add(struct dml_imgsplit *s, int32_t key, int super, char **paths, int n);
/* Append a copy of class c keeping the images at positions pick[0..m) (in that order), with a new key. */
void dml_imgsplit_add_pick(struct dml_imgsplit *s, const struct dml_imgclass *c, int32_t key, const int *pick, int m);
void dml_imgsplit_free(struct dml_imgsplit *s);

/* The shared source of a dataset's splits (transforms from --arch / --augmentation, workers, cache). */
dml_status dml_image_source_new(const struct dml_train_opts *o, struct dml_image_source **out);
/* A split as a dataset: classes sorted by key, --max_per_class applied, headers checked (with --skip_bad_images
 * bad files are dropped and counted in src->bad_at_load), then paths and labels in class order. Frees s. */
dml_status dml_image_dataset(const struct dml_train_opts *o, const char *name, struct dml_imgsplit *s,
                             struct dml_image_source *src, struct dml_dataset *out);
/* The class folders of <root>/images (sorted names) with the image files of each (sorted); key_of(folder name,
 * position) → key, or -1 for a name the dataset does not accept; skip_dotus: leave out names containing "._" (CUB).
 * Errors: no images/ folder, an empty class folder, a folder inside a class folder, fewer than 2 classes. */
dml_status dml_image_read_classes(const char *root, const char *name, int (*key_of)(const char *, int), int skip_dotus,
                                  struct dml_imgsplit *all);
/* <source_path>/<dataset> (the reference appends the dataset name), checked to be a folder; heap, resolved. */
dml_status dml_image_root(const struct dml_train_opts *o, const char *expect, char **root);

/* CUB200 / CARS196 / folder: classes (sorted by key) → the first half trains, the second half tests; with
 * --use_tv_split the training classes are split again by the reference's rule: by classes (the first
 * ⌊C·perc⌋ stay, train and val re-indexed from 0) or by samples (random = 0: unique(round(linspace(0, n−1,
 * ⌊n·perc⌋))) as CUB; random = 1: numpy's seeded choice without replacement as CARS). n_train < 0: half. */
dml_status dml_image_split_classes(const struct dml_train_opts *o, const char *dataset, struct dml_imgsplit *all,
                                   int n_train, int random, struct dml_dataset *train, struct dml_dataset *test);

/* numpy's unique(round(linspace(0, n − 1, m))) (round half to even) into pick; returns its length. */
int dml_linspace_pick(int n, int m, int *pick);
/* numpy's legacy MT19937 (np.random.seed(s); RandomState.choice(n, m, replace=False) = permutation(n)[:m]). */
struct dml_mt19937 {
  uint32_t mt[624];
  int i;
};
void dml_mt19937_seed(struct dml_mt19937 *r, uint32_t seed);
uint32_t dml_mt19937_u32(struct dml_mt19937 *r);
void dml_numpy_choice(struct dml_mt19937 *r, int n, int m, int *out);
#endif
