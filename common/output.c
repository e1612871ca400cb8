/* output — safe output files. See output.h. */
#include "common/output.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

dml_status dml_output_check(const char *path, const char *role) {
  if (!role) role = "output";
  if (!path || !*path) return dml_error(DML_ERR_ARG, "%s: empty file name", role);
  struct stat sb;
  if (stat(path, &sb)) {
    if (errno == ENOENT) return DML_OK;
    return dml_error(DML_ERR_IO, "%s %s: %s", role, path, strerror(errno));
  }
  if (S_ISDIR(sb.st_mode)) return dml_error(DML_ERR_ARG, "%s %s is a folder, not a file", role, path);
  if (!S_ISREG(sb.st_mode))
    return dml_error(DML_ERR_ARG, "%s %s exists and is not a regular file (a device, FIFO or socket): refusing to replace it",
                     role, path);
  return DML_OK;
}

FILE *dml_output_open_tmp(const char *path, char **tmp, dml_status *st) {
  *tmp = dml_strfmt("%s.tmp", path);
  FILE *f = fopen(*tmp, "wb");
  *st = f ? DML_OK : dml_error(DML_ERR_IO, "cannot write %s: %s", *tmp, strerror(errno));
  return f;
}

dml_status dml_output_close(FILE *f, const char *name) {
  if (!f) return dml_error(DML_ERR_IO, "cannot write %s", name);
  int bad = fflush(f) != 0 || ferror(f);
  int err = bad ? errno : 0;
  if (f == stdout || f == stderr) {
    if (bad) return dml_error(DML_ERR_IO, "writing %s failed: %s", name, err ? strerror(err) : "write error");
    return DML_OK;
  }
  if (!bad && fsync(fileno(f)) != 0 && errno != EINVAL && errno != EROFS) bad = 1, err = errno;
  if (fclose(f) != 0 && !bad) bad = 1, err = errno;
  if (bad) return dml_error(DML_ERR_IO, "writing %s failed: %s", name, err ? strerror(err) : "write error");
  return DML_OK;
}

dml_status dml_output_commit(const char *tmp, const char *path, const char *role) {
  dml_status st = dml_output_check(path, role);
  if (!st && rename(tmp, path)) st = dml_error(DML_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
  if (st) {
    unlink(tmp);
    return st;
  }
  char *d = xstrdup(path);
  int fd = open(dirname(d), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(d);
  return DML_OK;
}
