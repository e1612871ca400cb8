/* runset — find run records below folders (recursively, *.h5, in sorted order) and read them; foreign or
 * unreadable files are reported on one line each and skipped, never fatal to the rest. The folder walk comes
 * first, so reading shows a progress bar with a known total (on `report`'s stream). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/analysis.h"

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

struct pathlist { char **v; size_t n, cap; };

static void push(struct pathlist *l, char *p) {
  if (l->n == l->cap) l->v = xrealloc(l->v, (l->cap = l->cap ? 2 * l->cap : 64) * sizeof *l->v);
  l->v[l->n++] = p;
}

static void add_file(struct dml_runset *rs, const char *path, FILE *report) {
  struct dml_run r;
  dml_status st = dml_runrecord_read(path, &r);
  if (st) {
    rs->skipped++;
    if (report) fprintf(report, "skipped %s: %s\n", path, dml_error_message());
    return;
  }
  if (rs->n == rs->cap) rs->runs = xrealloc(rs->runs, (rs->cap = rs->cap ? 2 * rs->cap : 64) * sizeof *rs->runs);
  rs->runs[rs->n++] = r;
}

/* Every folder and file already taken, by (device, inode): a symlink loop (a/b -> a) or two links to one record
 * must not make one record count many times (issue 15: a loop counted one record 16 times). */
struct seen { dev_t *dev; ino_t *ino; size_t n, cap; };

static int seen_add(struct seen *s, const struct stat *sb) {
  for (size_t i = 0; i < s->n; i++)
    if (s->dev[i] == sb->st_dev && s->ino[i] == sb->st_ino) return 0;
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->dev = xrealloc(s->dev, s->cap * sizeof *s->dev);
    s->ino = xrealloc(s->ino, s->cap * sizeof *s->ino);
  }
  s->dev[s->n] = sb->st_dev;
  s->ino[s->n++] = sb->st_ino;
  return 1;
}

static dml_status scan(struct pathlist *files, struct seen *seen, const char *path, int depth) {
  struct stat sb;
  if (stat(path, &sb)) return dml_error(DML_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  if (!seen_add(seen, &sb)) return DML_OK; /* reached again through a link */
  if (!S_ISDIR(sb.st_mode)) {
    push(files, xstrdup(path));
    return DML_OK;
  }
  if (depth > 32) return DML_OK;
  DIR *d = opendir(path);
  if (!d) return dml_error(DML_ERR_IO, "cannot list %s: %s", path, strerror(errno));
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) names = xrealloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
    names[n++] = xstrdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str); /* a stable order, whatever the file system's */
  for (size_t i = 0; i < n; i++) {
    char *p = dml_strfmt("%s/%s", path, names[i]);
    struct stat cs;
    if (!stat(p, &cs)) {
      if (S_ISDIR(cs.st_mode)) scan(files, seen, p, depth + 1);
      else if (ends_with(names[i], ".h5") && seen_add(seen, &cs)) {
        push(files, p);
        p = NULL;
      }
    }
    free(p);
    free(names[i]);
  }
  free(names);
  return DML_OK;
}

dml_status dml_runset_scan(struct dml_runset *rs, const char *path, FILE *report) {
  struct pathlist files = {0};
  struct seen seen = {0};
  dml_status st = scan(&files, &seen, path, 0);
  free(seen.dev);
  free(seen.ino);
  struct dml_progress pg;
  dml_progress_init(&pg, "reading run records", files.n, "rec", report && files.n > 200 ? report : NULL);
  for (size_t i = 0; i < files.n; i++) {
    if (!st) add_file(rs, files.v[i], report);
    free(files.v[i]);
    if (!st && pg.out) dml_progress_update(&pg, i + 1, NULL);
  }
  if (!st && pg.out) dml_progress_finish(&pg, NULL);
  free(files.v);
  return st;
}

void dml_runset_free(struct dml_runset *rs) {
  for (size_t i = 0; i < rs->n; i++) dml_run_free(&rs->runs[i]);
  free(rs->runs);
  memset(rs, 0, sizeof *rs);
}
