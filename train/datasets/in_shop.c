/* in_shop — DeepFashion In-Shop Clothes Retrieval: <source_path>/in_shop/list_eval_partition.txt (or
 * Eval/list_eval_partition.txt): a count line, a header, then "image_name item_id evaluation_status" rows, image
 * paths relative to the dataset folder (img/…). Labels: the item ids sorted as strings, label = position (train and
 * test items are disjoint). Train = the "train" rows; test = the "query" rows followed by the "gallery" rows
 * (n_query marks the boundary) and is evaluated in query/gallery mode: every query retrieved from the gallery.
 * --use_tv_split splits the training classes as CUB does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/datasets/datasets-impl.h"

struct row {
  char *path, *item;
  int status; /* 0 train, 1 query, 2 gallery */
  int32_t label;
};

static int cmp_pstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Merge query q and gallery g into one test split (queries first). */
static void merge_qg(struct dml_dataset *q, struct dml_dataset *g, struct dml_dataset *out) {
  *out = *q;
  out->name = xstrdup("in_shop/test");
  free(q->name);
  int n = q->n + g->n;
  out->paths = xrealloc(q->paths, ((size_t)n + 1) * sizeof *out->paths);
  out->labels = xrealloc(q->labels, ((size_t)n + 1) * sizeof *out->labels);
  memcpy(out->paths + q->n, g->paths, (size_t)g->n * sizeof *g->paths);
  memcpy(out->labels + q->n, g->labels, (size_t)g->n * sizeof *g->labels);
  out->n = n;
  out->n_query = q->n;
  int32_t *cls = xmalloc(((size_t)q->n_classes + g->n_classes + 1) * sizeof *cls);
  int a = 0, b = 0, k = 0;
  while (a < q->n_classes || b < g->n_classes) { /* union of two ascending lists */
    int32_t v = b >= g->n_classes || (a < q->n_classes && q->classes[a] <= g->classes[b]) ? q->classes[a] : g->classes[b];
    if (a < q->n_classes && q->classes[a] == v) a++;
    if (b < g->n_classes && g->classes[b] == v) b++;
    cls[k++] = v;
  }
  free(q->classes);
  out->classes = cls;
  out->n_classes = k;
  free(g->name), free(g->paths), free(g->labels), free(g->classes);
  g->src->refs--;
  memset(g, 0, sizeof *g);
  memset(q, 0, sizeof *q);
}

dml_status dml_dataset_in_shop(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test) {
  char *root;
  dml_status st = dml_image_root(o, "in_shop/list_eval_partition.txt and in_shop/img/…", &root);
  if (st) return st;
  char *file = dml_strfmt("%s/list_eval_partition.txt", root);
  if (access(file, F_OK)) {
    free(file);
    file = dml_strfmt("%s/Eval/list_eval_partition.txt", root);
  }
  FILE *f = fopen(file, "r");
  if (!f) {
    st = dml_error(DML_ERR_IO, "dataset in_shop: cannot open %s: %s (expected list_eval_partition.txt: a count line, a "
                   "header, then 'image_name item_id evaluation_status' rows)", file, strerror(errno));
    free(file), free(root);
    return st;
  }
  struct row *rows = NULL;
  int n = 0, cap = 0, ln = 0;
  char line[8192];
  while (!st && fgets(line, sizeof line, f)) {
    ln++;
    if (ln <= 2) continue;
    line[strcspn(line, "\r\n")] = 0;
    if (!*line) continue;
    char name[4096], item[256], status[64];
    if (sscanf(line, "%4095s %255s %63s", name, item, status) != 3 ||
        (strcmp(status, "train") && strcmp(status, "query") && strcmp(status, "gallery"))) {
      st = dml_error(DML_ERR_FORMAT, "%s:%d: expected 'image_name item_id train|query|gallery'", file, ln);
      break;
    }
    if (n == cap) rows = xrealloc(rows, (size_t)(cap = cap ? 2 * cap : 1024) * sizeof *rows);
    rows[n++] = (struct row){dml_strfmt("%s/%s", root, name), xstrdup(item),
                             !strcmp(status, "train") ? 0 : !strcmp(status, "query") ? 1 : 2, 0};
  }
  fclose(f);
  if (!st && !n) st = dml_error(DML_ERR_FORMAT, "%s: no image rows", file);
  /* labels: item ids sorted as strings */
  char **ids = xmalloc(((size_t)n + 1) * sizeof *ids);
  int nid = 0;
  for (int i = 0; i < n; i++) ids[i] = rows[i].item;
  if (n) qsort(ids, (size_t)n, sizeof *ids, cmp_pstr);
  for (int i = 0; i < n; i++)
    if (!nid || strcmp(ids[nid - 1], ids[i])) ids[nid++] = ids[i];
  for (int i = 0; i < n; i++) {
    char **hit = bsearch(&rows[i].item, ids, (size_t)nid, sizeof *ids, cmp_pstr);
    rows[i].label = (int32_t)(hit - ids);
  }
  /* one class list per status */
  struct dml_imgsplit sp[3] = {{0}};
  if (!st) {
    int *cnt = xcalloc((size_t)nid * 3 + 1, sizeof *cnt);
    for (int i = 0; i < n; i++) cnt[rows[i].label * 3 + rows[i].status]++;
    int *slot = xmalloc(((size_t)nid * 3 + 1) * sizeof *slot);
    for (int l = 0; l < nid; l++)
      for (int s = 0; s < 3; s++) {
        slot[l * 3 + s] = -1;
        if (!cnt[l * 3 + s]) continue;
        slot[l * 3 + s] = sp[s].n;
        dml_imgsplit_add(&sp[s], l, 0, xmalloc((size_t)cnt[l * 3 + s] * sizeof(char *)), 0);
      }
    for (int i = 0; i < n; i++) {
      struct dml_imgclass *c = &sp[rows[i].status].c[slot[rows[i].label * 3 + rows[i].status]];
      c->paths[c->n++] = rows[i].path;
      rows[i].path = NULL;
    }
    free(cnt);
    free(slot);
    if (sp[0].n < 2 || !sp[1].n || !sp[2].n)
      st = dml_error(DML_ERR_FORMAT, "%s: %d training items, %d query and %d gallery items; expected train, query and "
                     "gallery rows", file, sp[0].n, sp[1].n, sp[2].n);
  }
  struct dml_dataset dummy = {0}, q = {0}, g = {0};
  if (!st) { /* train (and val) by the CUB rules, over all training classes */
    st = dml_image_split_classes(o, "in_shop", &sp[0], sp[0].n, 0, train, &dummy);
    dml_dataset_free(&dummy);
  }
  if (!st) st = dml_image_dataset(o, "in_shop/query", &sp[1], train->src, &q);
  if (!st) st = dml_image_dataset(o, "in_shop/gallery", &sp[2], train->src, &g);
  if (!st) merge_qg(&q, &g, test);
  dml_dataset_free(&q);
  dml_dataset_free(&g);
  for (int s = 0; s < 3; s++) dml_imgsplit_free(&sp[s]);
  for (int i = 0; i < n; i++) free(rows[i].path), free(rows[i].item);
  free(rows), free(ids), free(file), free(root);
  return st;
}
