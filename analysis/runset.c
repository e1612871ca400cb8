/* runset — find run records below folders (recursively, *.h5) and read them; foreign or unreadable files are
 * reported on one line each and skipped, never fatal to the rest. */
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

static dml_status scan(struct dml_runset *rs, const char *path, FILE *report, int depth) {
  struct stat sb;
  if (stat(path, &sb)) return dml_error(DML_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  if (!S_ISDIR(sb.st_mode)) {
    add_file(rs, path, report);
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
      if (S_ISDIR(cs.st_mode)) scan(rs, p, report, depth + 1);
      else if (ends_with(names[i], ".h5")) add_file(rs, p, report);
    }
    free(p);
    free(names[i]);
  }
  free(names);
  return DML_OK;
}

dml_status dml_runset_scan(struct dml_runset *rs, const char *path, FILE *report) { return scan(rs, path, report, 0); }

void dml_runset_free(struct dml_runset *rs) {
  for (size_t i = 0; i < rs->n; i++) dml_run_free(&rs->runs[i]);
  free(rs->runs);
  memset(rs, 0, sizeof *rs);
}
