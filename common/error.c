/* error — thread-local last-error message, exit codes, checked allocation. See error.h. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one piece of per-thread state: like errno, the message of the last expected failure. Heap strings of any
 * length: a 10k-character group name must not push the cause of an error out of a fixed buffer (issue 15). */
static _Thread_local char *last_msg;
static _Thread_local char *last_hint;

/* vprintf into a new heap string, newlines and tabs (e.g. from a server) turned into spaces: one line */
static char *vfmt_line(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
  if (!buf) {
    va_end(ap2);
    return NULL;
  }
  if (n > 0) vsnprintf(buf, (size_t)n + 1, fmt, ap2);
  else buf[0] = 0;
  va_end(ap2);
  for (char *c = buf; *c; c++)
    if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
  return buf;
}

static void replace(char **slot, char *s) {
  if (!s) return; /* out of memory: keep the previous text rather than lose everything */
  free(*slot);
  *slot = s;
}

dml_status dml_error(dml_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  replace(&last_msg, vfmt_line(fmt, ap));
  va_end(ap);
  if (last_hint) last_hint[0] = 0;
  return st;
}

dml_status dml_error_prefix(dml_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *pre = vfmt_line(fmt, ap);
  va_end(ap);
  if (!pre) return st;
  const char *old = last_msg && last_msg[0] ? last_msg : dml_status_name(st);
  size_t a = strlen(pre), b = strlen(old);
  char *m = malloc(a + b + 3);
  if (m) {
    memcpy(m, pre, a);
    memcpy(m + a, ": ", 2);
    memcpy(m + a + 2, old, b + 1);
    replace(&last_msg, m);
  }
  free(pre);
  return st;
}

void dml_error_hint(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  replace(&last_hint, vfmt_line(fmt, ap));
  va_end(ap);
}

const char *dml_error_message(void) { return last_msg ? last_msg : ""; }

const char *dml_error_hint_message(void) { return last_hint ? last_hint : ""; }

void dml_error_clear(void) {
  if (last_msg) last_msg[0] = 0;
  if (last_hint) last_hint[0] = 0;
}

const char *dml_status_name(dml_status st) {
  switch (st) {
    case DML_OK: return "ok";
    case DML_ERR_ARG: return "bad argument";
    case DML_ERR_IO: return "i/o error";
    case DML_ERR_FORMAT: return "bad format";
    case DML_ERR_NUMERIC: return "numeric error";
    case DML_ERR_NET: return "network error";
    case DML_ERR_AUTH: return "authentication error";
    case DML_ERR_STATE: return "invalid state";
    case DML_ERR_INTERRUPTED: return "interrupted";
  }
  return "unknown error";
}

void dml_exit_on_error(const char *prog, dml_status st) {
  if (st == DML_OK) return;
  fprintf(stderr, "%s: error: %s\n", prog, last_msg && last_msg[0] ? last_msg : dml_status_name(st));
  if (last_hint && last_hint[0]) fprintf(stderr, "HINT: %s\n", last_hint);
  exit(st == DML_ERR_ARG ? 2 : st == DML_ERR_INTERRUPTED ? 130 : 1);
}

void dml_abort_at(const char *file, int line, const char *func, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s:%d (%s): fatal: ", file, line, func);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  abort();
}

void *dml_xmalloc_at(size_t n, const char *file, int line) {
  void *p = malloc(n ? n : 1);
  if (!p) dml_abort_at(file, line, "xmalloc", "out of memory allocating %zu bytes", n);
  return p;
}

void *dml_xcalloc_at(size_t n, size_t size, const char *file, int line) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) dml_abort_at(file, line, "xcalloc", "out of memory allocating %zu x %zu bytes", n, size);
  return p;
}

void *dml_xrealloc_at(void *p, size_t n, const char *file, int line) {
  void *q = realloc(p, n ? n : 1);
  if (!q) dml_abort_at(file, line, "xrealloc", "out of memory reallocating %zu bytes", n);
  return q;
}

char *dml_xstrdup_at(const char *s, const char *file, int line) {
  size_t n = strlen(s) + 1;
  char *p = dml_xmalloc_at(n, file, line);
  memcpy(p, s, n);
  return p;
}

char *dml_strfmt(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) DML_ABORT("bad format string %s", fmt);
  char *s = xmalloc((size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return s;
}
