/* gen — synthetic image trees for the dataset tests, the data benchmark and demos: small JPEGs (TurboJPEG) and
 * PNGs (libpng) of a class-dependent smooth pattern plus noise, laid out like the benchmarks:
 *   cub200/images/NNN.Class_NNN/<files>.jpg, cars196/images/<name>/<files>.jpg,
 *   online_products/Info_Files/Ebay_{train,test}.txt + images/<super>_final/<files>.jpg,
 *   in_shop/list_eval_partition.txt + img/<item>/<files>.jpg.
 * Sizes vary per image (w ± 25 %, h ± 25 %) unless vary = 0. Returns 0 on success. */
#ifndef DML_TESTS_GEN_H
#define DML_TESTS_GEN_H
#include <stdint.h>

int gen_jpeg(const char *path, int w, int h, uint64_t seed, int cls, int gray, int quality);
/* color_type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA; depth 8 or 16 (1/2/4 for gray/palette) */
int gen_png(const char *path, int w, int h, uint64_t seed, int cls, int color_type, int depth);
int gen_cub(const char *root, int n_classes, int per_class, int w, int h, int vary);
int gen_cars(const char *root, int n_classes, int per_class, int w, int h);
/* n_super super-classes, classes_per_super classes each (half train, half test by class id), per_class images */
int gen_sop(const char *root, int n_super, int classes_per_super, int per_class, int w, int h);
/* n_items items: the first half train, the rest split into query (1 per item) and gallery (the rest) */
int gen_inshop(const char *root, int n_items, int per_item, int w, int h);
int gen_mkdirs(const char *path);
#endif
