/* image_set — what the image datasets share (datasets-impl.h): class lists, the split rules of the reference's
 * datasets/cub200.py and cars196.py, numpy's linspace rounding and legacy MT19937 draw, the header check of every
 * file, and the conversion into a struct dml_dataset that keeps paths. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/datasets/datasets-impl.h"

// ---------------------------------------------------------------------------------------------- class lists

void dml_imgsplit_add(struct dml_imgsplit *s, int32_t key, int super, char **paths, int n) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->c = xrealloc(s->c, (size_t)s->cap * sizeof *s->c);
  }
  s->c[s->n++] = (struct dml_imgclass){.key = key, .super = super, .paths = paths, .n = n};
}

void dml_imgsplit_add_pick(struct dml_imgsplit *s, const struct dml_imgclass *c, int32_t key, const int *pick, int m) {
  char **p = xmalloc(((size_t)m + 1) * sizeof *p);
  for (int i = 0; i < m; i++) p[i] = xstrdup(c->paths[pick[i]]);
  dml_imgsplit_add(s, key, c->super, p, m);
}

void dml_imgsplit_free(struct dml_imgsplit *s) {
  for (int i = 0; i < s->n; i++) dml_free_names(s->c[i].paths, s->c[i].n);
  free(s->c);
  memset(s, 0, sizeof *s);
}

// ---------------------------------------------------------------------------------------------- numpy

int dml_linspace_pick(int n, int m, int *pick) {
  if (m <= 0) return 0;
  /* np.linspace: y_j = j·step with step = (stop − start)/(num − 1), the last set to stop; np.round: half to even */
  double step = m > 1 ? (double)(n - 1) / (m - 1) : 0;
  int k = 0;
  for (int j = 0; j < m; j++) {
    double y = m > 1 && j == m - 1 ? (double)(n - 1) : j * step;
    int v = (int)nearbyint(y);
    if (!k || pick[k - 1] != v) pick[k++] = v; /* ascending: unique = drop repeats */
  }
  return k;
}

void dml_mt19937_seed(struct dml_mt19937 *r, uint32_t seed) {
  r->mt[0] = seed;
  for (int i = 1; i < 624; i++) r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
  r->i = 624;
}

uint32_t dml_mt19937_u32(struct dml_mt19937 *r) {
  if (r->i >= 624) {
    for (int k = 0; k < 624; k++) {
      uint32_t y = (r->mt[k] & 0x80000000u) | (r->mt[(k + 1) % 624] & 0x7fffffffu);
      r->mt[k] = r->mt[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
    }
    r->i = 0;
  }
  uint32_t y = r->mt[r->i++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

void dml_numpy_choice(struct dml_mt19937 *r, int n, int m, int *out) {
  int *a = xmalloc(((size_t)n + 1) * sizeof *a);
  for (int i = 0; i < n; i++) a[i] = i;
  for (int i = n - 1; i > 0; i--) { /* legacy shuffle: j = random_interval(i) by masked rejection */
    uint32_t mask = (uint32_t)i, v;
    mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8, mask |= mask >> 16;
    while ((v = dml_mt19937_u32(r) & mask) > (uint32_t)i) {}
    int t = a[i];
    a[i] = a[v], a[v] = t;
  }
  memcpy(out, a, (size_t)m * sizeof *out);
  free(a);
}

// ---------------------------------------------------------------------------------------------- source, root

dml_status dml_image_source_new(const struct dml_train_opts *o, struct dml_image_source **out) {
  struct dml_image_source *s = xcalloc(1, sizeof *s);
  s->train_tf = dml_transform_for(o->arch, o->augmentation, 0);
  s->eval_tf = dml_transform_for(o->arch, o->augmentation, 1);
  if (!s->train_tf.crop) {
    free(s);
    return dml_error(DML_ERR_ARG, "unknown --augmentation '%s' (known: base, adv, big, red)", o->augmentation);
  }
  s->train_tf.exact = s->eval_tf.exact = o->image_exact;
  if (o->image_size > 0) { /* small crops for tests and quick looks */
    s->train_tf.crop = s->eval_tf.crop = o->image_size;
    s->train_tf.resize = s->eval_tf.resize = o->image_size * 256 / 224;
  }
  s->seed = (uint64_t)o->seed;
  s->skip_bad = o->skip_bad_images;
  if (*o->cache_dir) {
    dml_status st = dml_image_cache_open(o->cache_dir, &s->cache);
    if (st) {
      free(s);
      return st;
    }
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int workers = o->data_workers > 0 ? o->data_workers : o->kernels < 1 ? 1 : o->kernels;
  if (o->data_workers <= 0 && ncpu > 0 && workers > ncpu) workers = (int)ncpu;
  s->loader = dml_loader_create(workers, s->cache);
  *out = s;
  return DML_OK;
}

dml_status dml_image_root(const struct dml_train_opts *o, const char *expect, char **root) {
  const char *sp = *o->source_path ? o->source_path : "../../Datasets";
  char *want = dml_strfmt("%s/%s", sp, o->dataset), res[PATH_MAX];
  struct stat sb;
  if (!realpath(want, res) || stat(res, &sb) || !S_ISDIR(sb.st_mode)) {
    dml_status st = dml_error(DML_ERR_IO, "no dataset folder %s (--source_path is the folder that holds %s/; expected %s)",
                              want, o->dataset, expect);
    free(want);
    return st;
  }
  free(want);
  *root = xstrdup(res);
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- split → dataset

static int cmp_key(const void *a, const void *b) {
  const struct dml_imgclass *x = a, *y = b;
  return (x->key > y->key) - (x->key < y->key);
}

dml_status dml_image_dataset(const struct dml_train_opts *o, const char *name, struct dml_imgsplit *s,
                             struct dml_image_source *src, struct dml_dataset *out) {
  memset(out, 0, sizeof *out);
  if (s->n) qsort(s->c, (size_t)s->n, sizeof *s->c, cmp_key);
  for (int c = 0; c < s->n; c++)
    if (o->max_per_class > 0 && s->c[c].n > o->max_per_class) {
      for (int i = o->max_per_class; i < s->c[c].n; i++) free(s->c[c].paths[i]);
      s->c[c].n = o->max_per_class;
    }
  long total = 0;
  for (int c = 0; c < s->n; c++) total += s->c[c].n;
  /* every header, in parallel: a bad file fails the load before any run folder exists */
  const char **flat = xmalloc(((size_t)total + 1) * sizeof *flat);
  char **err = xcalloc((size_t)total + 1, sizeof *err);
  long k = 0;
  for (int c = 0; c < s->n; c++)
    for (int i = 0; i < s->c[c].n; i++) flat[k++] = s->c[c].paths[i];
  long maxp = src->eval_tf.max_pixels;
#pragma omp parallel for schedule(dynamic, 64)
  for (long i = 0; i < total; i++) {
    int w, h, kind;
    if (dml_image_probe(flat[i], maxp, &w, &h, &kind)) err[i] = xstrdup(dml_error_message());
  }
  dml_status st = DML_OK;
  long bad = 0;
  for (long i = 0; i < total && !st; i++) {
    if (!err[i]) continue;
    if (!src->skip_bad) st = dml_error(DML_ERR_FORMAT, "%s (--skip_bad_images skips such files)", err[i]);
    else fprintf(stderr, "warning: skipping %s\n", err[i]), bad++;
  }
  if (!st) {
    out->name = xstrdup(name);
    out->channels = 3;
    out->height = out->width = src->train_tf.crop;
    out->paths = xmalloc(((size_t)total + 1) * sizeof *out->paths);
    out->labels = xmalloc(((size_t)total + 1) * sizeof *out->labels);
    out->classes = xmalloc(((size_t)s->n + 1) * sizeof *out->classes);
    k = 0;
    for (int c = 0; c < s->n; c++) {
      int kept = 0;
      for (int i = 0; i < s->c[c].n; i++, k++) {
        if (err[k]) continue;
        out->paths[out->n] = s->c[c].paths[i];
        s->c[c].paths[i] = NULL;
        out->labels[out->n++] = s->c[c].key;
        kept++;
      }
      if (kept) out->classes[out->n_classes++] = s->c[c].key;
    }
    out->src = src;
    src->refs++;
    src->bad_at_load += bad;
  }
  for (long i = 0; i < total; i++) free(err[i]);
  free(err);
  free(flat);
  dml_imgsplit_free(s);
  return st;
}

dml_status dml_image_split_classes(const struct dml_train_opts *o, const char *dataset, struct dml_imgsplit *all,
                                   int n_train, int random, struct dml_dataset *train, struct dml_dataset *test) {
  struct dml_image_source *src;
  dml_status st = dml_image_source_new(o, &src);
  if (st) {
    dml_imgsplit_free(all);
    return st;
  }
  if (all->n) qsort(all->c, (size_t)all->n, sizeof *all->c, cmp_key);
  if (n_train < 0) n_train = all->n / 2; /* keys[:len(keys)//2] */
  struct dml_imgsplit tr = {0}, va = {0}, te = {0};
  for (int c = n_train; c < all->n; c++) dml_imgsplit_add(&te, all->c[c].key, 0, all->c[c].paths, all->c[c].n);
  if (!o->use_tv_split) {
    for (int c = 0; c < n_train; c++) dml_imgsplit_add(&tr, all->c[c].key, 0, all->c[c].paths, all->c[c].n);
  } else if (!o->tv_split_by_samples) { /* train[:int(len·perc)], the rest val; both re-indexed from 0 */
    int k = (int)(n_train * o->tv_split_perc);
    for (int c = 0; c < n_train; c++)
      dml_imgsplit_add(c < k ? &tr : &va, c < k ? c : c - k, 0, all->c[c].paths, all->c[c].n);
  } else {
    struct dml_mt19937 mt;
    dml_mt19937_seed(&mt, (uint32_t)o->seed);
    for (int c = 0; c < n_train; c++) {
      struct dml_imgclass *cl = &all->c[c];
      int m = (int)(cl->n * o->tv_split_perc), *pick = xmalloc(((size_t)cl->n + 1) * sizeof *pick);
      if (random) dml_numpy_choice(&mt, cl->n, m, pick); /* np.random.choice(n, m, replace=False) */
      else m = dml_linspace_pick(cl->n, m, pick);
      unsigned char *in = xcalloc((size_t)cl->n + 1, 1);
      for (int i = 0; i < m; i++) in[pick[i]] = 1;
      int *rest = xmalloc(((size_t)cl->n + 1) * sizeof *rest), nr = 0;
      for (int i = 0; i < cl->n; i++)
        if (!in[i]) rest[nr++] = i;
      if (m) dml_imgsplit_add_pick(&tr, cl, cl->key, pick, m); /* an empty class is left out (the reference crashes) */
      if (nr) dml_imgsplit_add_pick(&va, cl, cl->key, rest, nr);
      dml_free_names(cl->paths, cl->n);
      free(pick);
      free(in);
      free(rest);
    }
  }
  free(all->c);
  memset(all, 0, sizeof *all);
  char *n1 = dml_strfmt("%s/train", dataset), *n2 = dml_strfmt("%s/test", dataset), *n3 = dml_strfmt("%s/val", dataset);
  int want_val = o->use_tv_split;
  if (want_val && (!tr.n || !va.n)) {
    st = dml_error(DML_ERR_ARG, "--tv_split_perc %g leaves %d training and %d validation classes", o->tv_split_perc,
                   tr.n, va.n);
    dml_imgsplit_free(&tr), dml_imgsplit_free(&va), dml_imgsplit_free(&te);
  } else {
    st = dml_image_dataset(o, n1, &tr, src, train);
    if (!st) st = dml_image_dataset(o, n2, &te, src, test);
    else dml_imgsplit_free(&te);
    if (!st && want_val) {
      train->val_split = xcalloc(1, sizeof *train->val_split);
      st = dml_image_dataset(o, n3, &va, src, train->val_split);
    } else {
      dml_imgsplit_free(&va);
    }
  }
  if (!src->refs) { /* nothing took it */
    dml_loader_free(src->loader);
    dml_image_cache_close(src->cache);
    free(src);
  }
  free(n1), free(n2), free(n3);
  return st;
}
