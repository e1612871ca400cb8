/* online_products — Stanford Online Products as the reference's datasets/stanford_online_products.py (spec A5):
 * <source_path>/online_products/Info_Files/Ebay_{train,test}.txt (a header, then "image_id class_id super_class_id
 * path" rows; path relative to images/) and images/<path>. Train = every Ebay_train row, label class_id − 1;
 * test = every Ebay_test row, label class_id − 1; images of a class in row order.
 * --use_tv_split by classes: per super-class (first-appearance order), its classes sorted by id, the first
 * ⌊n_sc·perc⌋ train with running ids 0, 1, … and the rest validate with their own running ids (the reference then
 * shifts both by −1, BUG D2, giving a −1 label: not copied). By samples: per class the first ⌊n·perc⌋ images train,
 * the rest validate, labels class_id − 1 (a class left without images is dropped; the reference crashes on it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/datasets/datasets-impl.h"

struct row {
  long cls, sup;
  char *path;
  int line;
};

static dml_status read_info(const char *file, const char *images, struct row **rows, int *n) {
  FILE *f = fopen(file, "r");
  if (!f)
    return dml_error(DML_ERR_IO, "dataset online_products: cannot open %s: %s (expected Info_Files/Ebay_train.txt and "
                     "Ebay_test.txt with a header and 'image_id class_id super_class_id path' rows)", file, strerror(errno));
  char line[8192];
  int ln = 0, cap = 0;
  *rows = NULL;
  *n = 0;
  dml_status st = DML_OK;
  while (!st && fgets(line, sizeof line, f)) {
    ln++;
    line[strcspn(line, "\r\n")] = 0;
    if (ln == 1) {
      if (!strstr(line, "class_id") || !strstr(line, "path"))
        st = dml_error(DML_ERR_FORMAT, "%s:1: expected the header 'image_id class_id super_class_id path'", file);
      continue;
    }
    if (!*line) continue;
    long id, cls, sup;
    char path[4096];
    if (sscanf(line, "%ld %ld %ld %4095s", &id, &cls, &sup, path) != 4 || cls < 1 || sup < 1) {
      st = dml_error(DML_ERR_FORMAT, "%s:%d: expected 'image_id class_id super_class_id path' (ids >= 1)", file, ln);
      break;
    }
    if (*n == cap) *rows = xrealloc(*rows, (size_t)(cap = cap ? 2 * cap : 1024) * sizeof **rows);
    (*rows)[(*n)++] = (struct row){cls, sup, dml_strfmt("%s/%s", images, path), ln};
  }
  fclose(f);
  if (!st && !*n) st = dml_error(DML_ERR_FORMAT, "%s: no image rows", file);
  if (st) {
    for (int i = 0; i < *n; i++) free((*rows)[i].path);
    free(*rows);
    *rows = NULL;
    *n = 0;
  }
  return st;
}

static int cmp_row(const void *a, const void *b) { /* by class id, then file order (stable) */
  const struct row *x = a, *y = b;
  if (x->cls != y->cls) return (x->cls > y->cls) - (x->cls < y->cls);
  return x->line - y->line;
}

/* Group rows by class: classes (ascending id) each with its rows' paths in file order; keys class_id − 1. */
struct cls {
  long id, sup;
  int first_line, lo, n; /* rows [lo, lo + n) of the sorted array */
};

static struct cls *group(struct row *rows, int n, int *nc) {
  qsort(rows, (size_t)n, sizeof *rows, cmp_row);
  struct cls *c = xmalloc(((size_t)n + 1) * sizeof *c);
  *nc = 0;
  for (int i = 0; i < n; i++) {
    if (!*nc || c[*nc - 1].id != rows[i].cls) c[(*nc)++] = (struct cls){rows[i].cls, rows[i].sup, rows[i].line, i, 0};
    c[*nc - 1].n++;
  }
  return c;
}

static char **paths_of(struct row *rows, int lo, int n) {
  char **p = xmalloc(((size_t)n + 1) * sizeof *p);
  for (int i = 0; i < n; i++) {
    p[i] = rows[lo + i].path;
    rows[lo + i].path = NULL;
  }
  return p;
}

dml_status dml_dataset_online_products(const struct dml_train_opts *o, struct dml_dataset *train,
                                       struct dml_dataset *test) {
  char *root;
  dml_status st = dml_image_root(o, "online_products/Info_Files/Ebay_{train,test}.txt and online_products/images/", &root);
  if (st) return st;
  char *images = dml_strfmt("%s/images", root), *ftr = dml_strfmt("%s/Info_Files/Ebay_train.txt", root);
  char *fte = dml_strfmt("%s/Info_Files/Ebay_test.txt", root);
  struct row *rtr = NULL, *rte = NULL;
  int ntr = 0, nte = 0;
  st = read_info(ftr, images, &rtr, &ntr);
  if (!st) st = read_info(fte, images, &rte, &nte);
  struct dml_image_source *src = NULL;
  if (!st) st = dml_image_source_new(o, &src);
  struct dml_imgsplit tr = {0}, va = {0}, te = {0};
  if (!st) {
    int nc;
    struct cls *c = group(rtr, ntr, &nc);
    if (!o->use_tv_split) {
      for (int k = 0; k < nc; k++) dml_imgsplit_add(&tr, (int32_t)(c[k].id - 1), 0, paths_of(rtr, c[k].lo, c[k].n), c[k].n);
    } else {
      /* super-classes in first-appearance order (the reference's dict insertion order) */
      long *sups = xmalloc(((size_t)nc + 1) * sizeof *sups);
      int *first = xmalloc(((size_t)nc + 1) * sizeof *first), ns = 0;
      for (int k = 0; k < nc; k++) {
        int j = 0;
        while (j < ns && sups[j] != c[k].sup) j++;
        if (j == ns) sups[ns] = c[k].sup, first[ns++] = c[k].first_line;
        else if (c[k].first_line < first[j]) first[j] = c[k].first_line;
      }
      for (int a = 1; a < ns; a++) /* order by first appearance */
        for (int b = a; b > 0 && first[b - 1] > first[b]; b--) {
          long t = sups[b]; sups[b] = sups[b - 1]; sups[b - 1] = t;
          int u = first[b]; first[b] = first[b - 1]; first[b - 1] = u;
        }
      int train_count = 0, val_count = 0;
      for (int j = 0; j < ns; j++) {
        int n_sc = 0;
        for (int k = 0; k < nc; k++) n_sc += c[k].sup == sups[j];
        int split = (int)(n_sc * o->tv_split_perc), pos = 0;
        for (int k = 0; k < nc; k++) { /* classes of this super-class, ascending id */
          if (c[k].sup != sups[j]) continue;
          if (!o->tv_split_by_samples) {
            int to_train = pos++ < split;
            dml_imgsplit_add(to_train ? &tr : &va, to_train ? train_count++ : val_count++, 0,
                             paths_of(rtr, c[k].lo, c[k].n), c[k].n);
          } else {
            int m = (int)(c[k].n * o->tv_split_perc);
            if (m) dml_imgsplit_add(&tr, (int32_t)(c[k].id - 1), 0, paths_of(rtr, c[k].lo, m), m);
            if (c[k].n - m) dml_imgsplit_add(&va, (int32_t)(c[k].id - 1), 0, paths_of(rtr, c[k].lo + m, c[k].n - m), c[k].n - m);
          }
        }
      }
      free(sups);
      free(first);
    }
    free(c);
    c = group(rte, nte, &nc);
    for (int k = 0; k < nc; k++) dml_imgsplit_add(&te, (int32_t)(c[k].id - 1), 0, paths_of(rte, c[k].lo, c[k].n), c[k].n);
    free(c);
    if (o->use_tv_split && (tr.n < 2 || va.n < 2))
      st = dml_error(DML_ERR_ARG, "--tv_split_perc %g leaves %d training and %d validation classes", o->tv_split_perc,
                     tr.n, va.n);
  }
  if (!st) st = dml_image_dataset(o, "online_products/train", &tr, src, train);
  if (!st) st = dml_image_dataset(o, "online_products/test", &te, src, test);
  if (!st && o->use_tv_split) {
    train->val_split = xcalloc(1, sizeof *train->val_split);
    st = dml_image_dataset(o, "online_products/val", &va, src, train->val_split);
  }
  dml_imgsplit_free(&tr), dml_imgsplit_free(&va), dml_imgsplit_free(&te);
  if (src && !src->refs) {
    dml_loader_free(src->loader);
    dml_image_cache_close(src->cache);
    free(src);
  }
  for (int i = 0; i < ntr; i++) free(rtr[i].path);
  for (int i = 0; i < nte; i++) free(rte[i].path);
  free(rtr), free(rte);
  free(images), free(ftr), free(fte), free(root);
  return st;
}
