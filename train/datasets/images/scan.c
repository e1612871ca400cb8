/* scan — listing dataset folders safely: sorted names, hidden entries skipped, symlinks followed only inside the
 * dataset root, loops and dangling links reported by path (see images.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/datasets/images/images.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void push(char ***v, int *n, int *cap, char *s) {
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 64;
    *v = xrealloc(*v, (size_t)*cap * sizeof **v);
  }
  (*v)[(*n)++] = s;
}

/* stat of full, following a symlink only when it resolves inside root */
static dml_status safe_stat(const char *root, const char *full, struct stat *sb) {
  if (lstat(full, sb)) return dml_error(DML_ERR_IO, "cannot read %s: %s", full, strerror(errno));
  if (!S_ISLNK(sb->st_mode)) return DML_OK;
  char res[PATH_MAX];
  if (!realpath(full, res))
    return dml_error(DML_ERR_FORMAT, "%s: %s", full,
                     errno == ELOOP ? "symbolic link loop" : errno == ENOENT ? "dangling symbolic link" : strerror(errno));
  size_t n = strlen(root);
  if (n > 1 && (strncmp(res, root, n) || (res[n] != '/' && res[n] != 0)))
    return dml_error(DML_ERR_FORMAT, "%s: symbolic link leaves the dataset root %s (points to %s)", full, root, res);
  if (stat(res, sb)) return dml_error(DML_ERR_IO, "cannot read %s: %s", res, strerror(errno));
  return DML_OK;
}

static dml_status list(const char *root, const char *dir, int dirs, int files, int strict, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return dml_error(DML_ERR_IO, "cannot read folder %s: %s", dir, strerror(errno));
  int cap = 0;
  struct dirent *e;
  dml_status st = DML_OK;
  while (!st && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char *full = dml_strfmt("%s/%s", dir, e->d_name);
    struct stat sb;
    st = safe_stat(root, full, &sb);
    if (!st && ((dirs && S_ISDIR(sb.st_mode)) || (files && S_ISREG(sb.st_mode)))) push(names, n, &cap, xstrdup(e->d_name));
    else if (!st && strict && S_ISDIR(sb.st_mode))
      st = dml_error(DML_ERR_FORMAT, "%s: expected image files in the class folder %s, found a folder", full, dir);
    free(full);
  }
  closedir(d);
  if (st) {
    dml_free_names(*names, *n);
    *names = NULL;
    *n = 0;
    return st;
  }
  if (*n) qsort(*names, (size_t)*n, sizeof **names, cmp_str);
  return DML_OK;
}

dml_status dml_list_dir(const char *root, const char *dir, int dirs, int files, char ***names, int *n) {
  return list(root, dir, dirs, files, files && !dirs, names, n);
}

void dml_free_names(char **names, int n) {
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

struct seen { dev_t dev; ino_t ino; };

static dml_status walk(const char *root, const char *base, const char *rel, struct seen **vis, int *nvis,
                       char ***out, int *n, int *cap) {
  char *dir = *rel ? dml_strfmt("%s/%s", base, rel) : xstrdup(base);
  struct stat sb;
  if (stat(dir, &sb)) {
    dml_status st = dml_error(DML_ERR_IO, "cannot read folder %s: %s", dir, strerror(errno));
    free(dir);
    return st;
  }
  for (int i = 0; i < *nvis; i++)
    if ((*vis)[i].dev == sb.st_dev && (*vis)[i].ino == sb.st_ino) {
      dml_status st = dml_error(DML_ERR_FORMAT, "%s: folder cycle (a link back to a folder above it)", dir);
      free(dir);
      return st;
    }
  *vis = xrealloc(*vis, (size_t)(*nvis + 1) * sizeof **vis);
  (*vis)[(*nvis)++] = (struct seen){sb.st_dev, sb.st_ino};
  char **sub = NULL, **fs = NULL;
  int nsub = 0, nfs = 0;
  dml_status st = list(root, dir, 1, 0, 0, &sub, &nsub);
  if (!st) st = list(root, dir, 0, 1, 0, &fs, &nfs);
  free(dir);
  for (int i = 0; !st && i < nfs; i++) push(out, n, cap, *rel ? dml_strfmt("%s/%s", rel, fs[i]) : xstrdup(fs[i]));
  for (int i = 0; !st && i < nsub; i++) {
    char *r = *rel ? dml_strfmt("%s/%s", rel, sub[i]) : xstrdup(sub[i]);
    st = walk(root, base, r, vis, nvis, out, n, cap);
    free(r);
  }
  (*nvis)--;
  dml_free_names(sub, nsub);
  dml_free_names(fs, nfs);
  return st;
}

dml_status dml_walk_files(const char *root, const char *dir, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  int cap = 0, nvis = 0;
  struct seen *vis = NULL;
  dml_status st = walk(root, dir, "", &vis, &nvis, names, n, &cap);
  free(vis);
  if (st) {
    dml_free_names(*names, *n);
    *names = NULL;
    *n = 0;
    return st;
  }
  if (*n) qsort(*names, (size_t)*n, sizeof **names, cmp_str);
  return DML_OK;
}
