/* error — the three error tiers of dml (STYLE.md §11).
 *
 * 1. Broken invariants: DML_ASSERT(cond) / DML_ABORT(fmt, ...) print file:line (function) and abort().
 * 2. Vendor calls: one checking macro per library lives beside the one file that uses the library
 *    (H5_CHECK in common/runrecord.c, DNNL_CHECK in kernels/cpu, CURL_CHECK in analysis/wandb ...).
 * 3. Expected failures (missing file, bad flag, HTTP 429, NaN loss): a function returns a
 *    dml_status != DML_OK after calling dml_error(status, fmt, ...), which records a one-line
 *    message for the calling thread. main() ends with dml_exit_on_error(prog, st), which prints
 *    "<prog>: error: <message>" (plus a "HINT: ..." line when one was set) and exits non-zero.
 *
 *   dml_status st = dml_runrecord_create(path, &meta, &rr);
 *   if (st) return dml_error_prefix(st, "writing run record");   // keeps the inner message
 *
 * Checked allocation: xmalloc/xcalloc/xrealloc/xstrdup abort with the caller's location on OOM.
 */
#ifndef DML_ERROR_H
#define DML_ERROR_H
#include <stddef.h>

typedef enum dml_status {
  DML_OK = 0,
  DML_ERR_ARG,      /* bad flag or argument value             (exit 2) */
  DML_ERR_IO,       /* missing / unreadable / unwritable file (exit 1) */
  DML_ERR_FORMAT,   /* a file exists but is not what we expect (exit 1) */
  DML_ERR_NUMERIC,  /* NaN/Inf where numbers were expected     (exit 1) */
  DML_ERR_NET,      /* network or server failure               (exit 1) */
  DML_ERR_AUTH,     /* missing or rejected credentials         (exit 1) */
  DML_ERR_STATE,    /* the operation does not fit the current state (exit 1) */
  DML_ERR_INTERRUPTED /* SIGINT/SIGTERM seen                   (exit 130) */
} dml_status;

/* Record a message for the calling thread and return st (so: `return dml_error(...)`). */
dml_status dml_error(dml_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepend "<context>: " to the current message; returns st. */
dml_status dml_error_prefix(dml_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Attach a HINT line (printed after the error by dml_exit_on_error). */
void dml_error_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *dml_error_message(void);
/* The HINT attached to the current message, "" if none. */
const char *dml_error_hint_message(void);
void dml_error_clear(void);
const char *dml_status_name(dml_status st);
/* Print "<prog>: error: <message>" to stderr and exit with the status's code; no-op for DML_OK. */
void dml_exit_on_error(const char *prog, dml_status st);

void dml_abort_at(const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
#define DML_ABORT(...) dml_abort_at(__FILE__, __LINE__, __func__, __VA_ARGS__)
#define DML_ASSERT(x) \
  do { if (!(x)) dml_abort_at(__FILE__, __LINE__, __func__, "assertion failed: %s", #x); } while (0)

void *dml_xmalloc_at(size_t n, const char *file, int line);
void *dml_xcalloc_at(size_t n, size_t size, const char *file, int line);
void *dml_xrealloc_at(void *p, size_t n, const char *file, int line);
char *dml_xstrdup_at(const char *s, const char *file, int line);
#define xmalloc(n) dml_xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s) dml_xcalloc_at((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) dml_xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) dml_xstrdup_at((s), __FILE__, __LINE__)
/* printf into a new heap string (aborts on OOM). */
char *dml_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
