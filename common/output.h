/* output — writing output files safely (issue 15, point 5): an output is written to "<path>.tmp" and renamed,
 * and only ever over nothing or a regular file (never a device node, FIFO, socket or folder: `--out /dev/full`
 * must not replace /dev/full with a regular file); every write and the close are checked.
 *
 *   if ((st = dml_output_check(path, "--out"))) return st;        // early: before the work
 *   FILE *f = dml_output_open_tmp(path, &tmp, &st);  ... fwrite ...
 *   st = dml_output_close(f, tmp);                                 // fflush + ferror + fsync + fclose
 *   if (!st) st = dml_output_commit(tmp, path, "--out");           // re-check, rename, fsync the folder
 *   free(tmp);
 */
#ifndef DML_OUTPUT_H
#define DML_OUTPUT_H
#include <stdio.h>

#include "common/error.h"

/* DML_OK when path does not exist or is a regular file (or a symlink to one); otherwise one line naming `role`
 * ("--out", "-o") and the path. */
dml_status dml_output_check(const char *path, const char *role);
/* fopen("<path>.tmp", "wb"); *tmp receives the heap name (free it). NULL + *st on error. */
FILE *dml_output_open_tmp(const char *path, char **tmp, dml_status *st);
/* Flush, check the stream's error flag, fsync and close f (written to `name`); any failure is DML_ERR_IO with
 * errno's text (ENOSPC: "No space left on device"). f may be stdout (then no fsync, no close). */
dml_status dml_output_close(FILE *f, const char *name);
/* Rename tmp over path after dml_output_check (tmp is removed when refused or on failure), then fsync the
 * folder. */
dml_status dml_output_commit(const char *tmp, const char *path, const char *role);
#endif
