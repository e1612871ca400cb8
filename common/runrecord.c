/* runrecord — the run record, one HDF5 file per run (docs/run-format.md is the specification, schema_version 1).
 *
 * Contract:
 *   - Writes are buffered in the handle (metric rows, train rows, arrays, embeddings, attributes) and applied by
 *     dml_runrecord_commit(): copy run.h5 to run.h5.tmp (or create it fresh), apply the pending changes there,
 *     close, fsync, rename over run.h5, fsync the folder. The file is never open between commits, so a process
 *     killed at any moment leaves the previous or the new complete file (plus, at worst, a stale run.h5.tmp that
 *     the next commit overwrites).
 *   - A commit writes each metric key once for all pending rows of its split (NaN where a row lacks the key), so a
 *     fetched history of hundreds of epochs costs about one epoch; embeddings, arrays and unchanged attributes are
 *     overwritten in place or skipped, so a record does not grow with every epoch.
 *   - Readers open read-only with file locking off, so a reader never blocks (or is blocked by) a writer.
 *   - Expected failures (missing file, not HDF5, not a run record, newer schema, bad argument) return a dml_status
 *     with a one-line dml_error naming the path; HDF5's automatic error-stack printing is switched off here and a
 *     failing HDF5 call on a file we are writing is reported by H5_CHECK with the statement and HDF5's message.
 *   - Dataset and group names are escaped (escape_name): '%' -> "%25", '/' -> "%2F", the names "." and ".." ->
 *     "%2E" and "%2E.", the metric key "epoch" -> "%65poch"; readers decode every "%XX".
 * This is the only file that touches HDF5 for run records. No globals; not thread-safe per handle. */
#include "common/runrecord.h"

#include "common/h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A failing HDF5 call while committing `tmp`: record the statement and HDF5's innermost message, jump to `out`. */
#define H5_CHECK(x)                                   \
  do {                                                \
    if ((x) < 0) {                                    \
      st = h5_fail(tmp, #x);                          \
      goto out;                                       \
    }                                                 \
  } while (0)

const char *dml_run_status_name(enum dml_run_status s) {
  switch (s) {
    case DML_RUN_RUNNING: return "running";
    case DML_RUN_FINISHED: return "finished";
    case DML_RUN_FAILED: return "failed";
    case DML_RUN_INTERRUPTED: return "interrupted";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------- pending ops

struct pend_metrics { char *split; long epoch; size_t n; char **keys, **defs; double *vals; /* (n) */ };
struct pend_array { char *split, *key, *def; long epoch; size_t n; double *v; /* (n) */ };
struct pend_train { long epoch; struct dml_train_row row; };
struct pend_emb { char *split; int best; size_t n, d; float *emb; /* (n, d) */ int32_t *labels; /* (n) */ char **paths; };
struct pend_attr { char *name, *value; };

struct dml_runrecord {
  char *path;
  int fresh;                      /* the file does not exist yet: the first commit creates it */
  struct dml_run_meta meta;       /* for the creating commit */
  struct pend_metrics *pm; size_t npm;
  struct pend_array *pa; size_t npa;
  struct pend_train *pt; size_t npt;
  struct pend_emb *pe; size_t npe;
  struct pend_attr *at; size_t nat;
};

static char *dup_or_empty(const char *s) { return xstrdup(s ? s : ""); }

static void silence_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static char *iso_now(void) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return xstrdup(buf);
}

// ---------------------------------------------------------------------------------------------- errors

struct h5_msg { char text[256]; int set; };

static herr_t first_error(unsigned n, const H5E_error2_t *e, void *data) {
  struct h5_msg *m = data;
  if (!m->set && e->desc && *e->desc) {
    snprintf(m->text, sizeof m->text, "%s (in %s)", e->desc, e->func_name ? e->func_name : "?");
    m->set = 1;
  }
  return 0;
}

/* The innermost message on HDF5's error stack (then cleared), as a dml_error naming the file and the call. */
static dml_status h5_fail(const char *path, const char *stmt) {
  struct h5_msg m = {{0}, 0};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, &m);
  H5Eclear2(H5E_DEFAULT);
  return dml_error(DML_ERR_IO, "%s: HDF5 call failed: %s: %s", path, stmt, m.set ? m.text : "no HDF5 message");
}

// ---------------------------------------------------------------------------------------------- names

/* Escape a split or key for use as an HDF5 link name (see the file comment and docs/run-format.md). */
static char *escape_name(const char *k, int is_key) {
  size_t n = strlen(k);
  char *o = xmalloc(3 * n + 8), *p = o;
  if (!strcmp(k, ".") || !strcmp(k, "..")) { memcpy(p, "%2E", 3); p += 3; k++; }
  else if (is_key && !strcmp(k, "epoch")) { memcpy(p, "%65", 3); p += 3; k++; }
  for (; *k; k++) {
    if (*k == '%') { memcpy(p, "%25", 3); p += 3; }
    else if (*k == '/') { memcpy(p, "%2F", 3); p += 3; }
    else *p++ = *k;
  }
  *p = 0;
  return o;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decode every "%XX" (two hex digits); anything else is kept as is. */
static char *unescape_name(const char *k) {
  char *o = xmalloc(strlen(k) + 1), *p = o;
  for (; *k; k++) {
    int hi, lo;
    if (k[0] == '%' && (hi = hexval(k[1])) >= 0 && (lo = hexval(k[2])) >= 0) {
      *p++ = (char)(hi * 16 + lo);
      k += 2;
    } else {
      *p++ = *k;
    }
  }
  *p = 0;
  return o;
}

// ---------------------------------------------------------------------------------------------- HDF5 helpers

static hid_t str_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

/* File access for every open: readers never take locks (a reader must not block a writer or fail on a read-only
 * or lock-less file system); the writer only ever opens its private run.h5.tmp. */
static hid_t make_fapl(int writing) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
  H5Pset_file_locking(fapl, 0, 1);
#endif
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
  /* earliest format that can still hold a large attribute (the config): readable by HDF5 >= 1.8, h5py, h5dump */
  if (writing) H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V18);
  return fapl;
}

static herr_t put_str_attr(hid_t obj, const char *name, const char *value) {
  if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
  hid_t t = str_type(), sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  const char *v = value ? value : "";
  herr_t r = a < 0 ? -1 : H5Awrite(a, t, &v);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  return r;
}

static herr_t put_int_attr(hid_t obj, const char *name, long long value, hid_t type) {
  if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_LLONG, &value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return r;
}

/* A string attribute (common/h5.h: variable-length strings decoded and checked by dml, never by libhdf5); NULL
 * when absent or not a string. A forged one is an error (dml_error set, *bad = 1 when bad is given). */
static char *get_str_attr(hid_t obj, const char *path, const char *name, int *bad) {
  char *v = NULL;
  if (dml_h5_attr_str(obj, path, name, &v) && bad) *bad = 1;
  return v;
}

/* An integer attribute: 1 when read, 0 when absent, -1 (dml_error set) when the object header is forged. */
static int get_ll_attr(hid_t obj, const char *path, const char *name, long long *v) { return dml_h5_attr_ll(obj, path, name, v); }

/* Open a group path, creating every missing level. */
static hid_t group_path(hid_t file, const char *path) {
  char *p = xstrdup(path), *save = NULL;
  hid_t g = H5Gopen2(file, "/", H5P_DEFAULT);
  for (char *s = strtok_r(p, "/", &save); s && g >= 0; s = strtok_r(NULL, "/", &save)) {
    hid_t next = H5Lexists(g, s, H5P_DEFAULT) > 0 ? H5Gopen2(g, s, H5P_DEFAULT)
                                                    : H5Gcreate2(g, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    g = next;
  }
  free(p);
  return g;
}

struct name_list { char **v; size_t n; };

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  struct name_list *l = data;
  l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
  l->v[l->n++] = xstrdup(name);
  return 0;
}

/* Every link name in group g, in name order. */
static herr_t list_names(hid_t g, struct name_list *l) {
  l->v = NULL;
  l->n = 0;
  hsize_t idx = 0;
  return H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, l);
}

static void free_names(struct name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* Length of the 1-D dataset g/name (0 when absent). */
static hsize_t ds_len(hid_t g, const char *name) {
  if (H5Lexists(g, name, H5P_DEFAULT) <= 0) return 0;
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) return 0;
  hid_t sp = H5Dget_space(d);
  hsize_t n[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(sp) == 1) H5Sget_simple_extent_dims(sp, n, NULL);
  H5Sclose(sp);
  H5Dclose(d);
  return n[0];
}

/* Write v[0..m) at [at, at + m) of the extendible 1-D float64 dataset g/name, first creating it (chunked, NaN fill
 * value, unlimited size) when missing and setting its length to at + m: elements never written read as NaN. */
static herr_t write_tail_f64(hid_t g, const char *name, hsize_t at, const double *v, hsize_t m) {
  hid_t d;
  if (H5Lexists(g, name, H5P_DEFAULT) > 0) {
    d = H5Dopen2(g, name, H5P_DEFAULT);
  } else {
    hsize_t zero = 0, unl = H5S_UNLIMITED, chunk = 64;
    hid_t sp = H5Screate_simple(1, &zero, &unl), pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 1, &chunk);
    double nan = NAN;
    H5Pset_fill_value(pl, H5T_NATIVE_DOUBLE, &nan);
    d = H5Dcreate2(g, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Pclose(pl);
    H5Sclose(sp);
  }
  if (d < 0) return -1;
  hsize_t len = at + m;
  herr_t r = H5Dset_extent(d, &len);
  if (r >= 0 && m) {
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &m, NULL);
    r = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &m, NULL);
    if (r >= 0) r = H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v);
    H5Sclose(ms);
    H5Sclose(fs);
  }
  H5Dclose(d);
  return r;
}

/* Write a whole dataset, replacing it unless it exists with the same shape and type (then it is overwritten in
 * place, so a file does not grow with every epoch's embeddings: HDF5 does not reuse freed space across opens). */
static herr_t put_dataset(hid_t g, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
                          const void *data) {
  hid_t d = -1;
  if (H5Lexists(g, name, H5P_DEFAULT) > 0) {
    d = H5Dopen2(g, name, H5P_DEFAULT);
    int same = 0;
    if (d >= 0) {
      hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
      hsize_t cur[4] = {0};
      same = H5Sget_simple_extent_ndims(sp) == rank && H5Tequal(t, ftype) > 0;
      if (same) H5Sget_simple_extent_dims(sp, cur, NULL);
      for (int i = 0; same && i < rank; i++) same = cur[i] == dims[i];
      H5Sclose(sp);
      H5Tclose(t);
    }
    if (!same) {
      if (d >= 0) H5Dclose(d);
      d = -1;
      if (H5Ldelete(g, name, H5P_DEFAULT) < 0) return -1;
    }
  }
  if (d < 0) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    d = H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(sp);
    if (d < 0) return -1;
  }
  herr_t r = H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(d);
  return r;
}

static void free_strings(char **v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

// ---------------------------------------------------------------------------------------------- opening for reading

enum probe { PROBE_OK, PROBE_MISSING, PROBE_FOLDER, PROBE_UNREADABLE, PROBE_NOT_HDF5, PROBE_CORRUPT, PROBE_FORGED,
             PROBE_NO_SCHEMA, PROBE_NEWER, PROBE_BAD_SCHEMA };

/* Open `path` read-only and check its schema_version; only PROBE_FORGED sets the error message (is_record clears it). */
static enum probe probe_record(const char *path, hid_t *file, long long *schema, int *err) {
  silence_hdf5();
  *file = -1;
  *err = 0;
  struct stat sb;
  if (!path || !*path) return *err = ENOENT, PROBE_MISSING;
  if (stat(path, &sb)) return *err = errno, PROBE_MISSING;
  if (S_ISDIR(sb.st_mode)) return PROBE_FOLDER;
  if (!S_ISREG(sb.st_mode)) return PROBE_NOT_HDF5; /* a FIFO or device: never open it */
  if (access(path, R_OK)) return *err = errno, PROBE_UNREADABLE;
  if (H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return PROBE_NOT_HDF5;
  }
  if (dml_h5_precheck(path)) return PROBE_FORGED;
  hid_t fapl = make_fapl(0);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (f < 0) {
    H5Eclear2(H5E_DEFAULT);
    return PROBE_CORRUPT;
  }
  long long sv = 0;
  enum probe p = PROBE_OK;
  int got = get_ll_attr(f, path, "schema_version", &sv);
  if (got < 0) p = PROBE_FORGED;
  else if (!got) p = PROBE_NO_SCHEMA;
  else if (sv > DML_RUNRECORD_SCHEMA_VERSION) p = PROBE_NEWER;
  else if (sv < 1) p = PROBE_BAD_SCHEMA;
  H5Eclear2(H5E_DEFAULT);
  *schema = sv;
  if (p != PROBE_OK) H5Fclose(f);
  else *file = f;
  return p;
}

/* Open `path` read-only as a run record, with a clear one-line error for each way it can fail. */
static dml_status open_record(const char *path, hid_t *file, long long *schema) {
  long long sv = 0;
  int err = 0;
  switch (probe_record(path, file, &sv, &err)) {
    case PROBE_OK:
      if (schema) *schema = sv;
      return DML_OK;
    case PROBE_MISSING:
    case PROBE_UNREADABLE: return dml_error(DML_ERR_IO, "cannot read run record %s: %s", path, strerror(err));
    case PROBE_FOLDER: return dml_error(DML_ERR_IO, "%s is a folder, not a run record file", path);
    case PROBE_NOT_HDF5: return dml_error(DML_ERR_FORMAT, "%s is not an HDF5 file, so not a dml run record", path);
    case PROBE_CORRUPT: return dml_error(DML_ERR_FORMAT, "%s: HDF5 file cannot be opened (truncated or corrupt?)", path);
    case PROBE_FORGED: return DML_ERR_FORMAT; /* the message names the file and the object */
    case PROBE_NO_SCHEMA:
      return dml_error(DML_ERR_FORMAT, "%s is an HDF5 file but not a dml run record (no integer schema_version attribute)", path);
    case PROBE_NEWER:
      dml_error(DML_ERR_FORMAT, "%s has run-record schema_version %lld; this dml (%s) reads up to %d", path, sv, DML_VERSION,
                DML_RUNRECORD_SCHEMA_VERSION);
      dml_error_hint("the record was written by a newer dml; update dml to read it");
      return DML_ERR_FORMAT;
    case PROBE_BAD_SCHEMA: break;
  }
  return dml_error(DML_ERR_FORMAT, "%s has an invalid run-record schema_version %lld", path, sv);
}

dml_status dml_runrecord_read_attr(const char *path, const char *name, char **value) {
  *value = NULL;
  hid_t f;
  dml_status st = open_record(path, &f, NULL);
  if (st) return st;
  silence_hdf5();
  int bad = 0;
  *value = get_str_attr(f, path, name, &bad);
  H5Fclose(f);
  return bad ? DML_ERR_FORMAT : DML_OK;
}

int dml_runrecord_is_record(const char *path) {
  hid_t f;
  long long sv;
  int err;
  enum probe p = path ? probe_record(path, &f, &sv, &err) : PROBE_MISSING;
  if (p == PROBE_FORGED) dml_error_clear();
  if (p != PROBE_OK) return 0;
  H5Fclose(f);
  return 1;
}

// ---------------------------------------------------------------------------------------------- writer API

static void meta_copy(struct dml_run_meta *dst, const struct dml_run_meta *m) {
  dst->seed = m->seed;
  dst->name = dup_or_empty(m->name);
  dst->group = dup_or_empty(m->group);
  dst->project = dup_or_empty(m->project);
  dst->dataset = dup_or_empty(m->dataset);
  dst->arch = dup_or_empty(m->arch);
  dst->loss = dup_or_empty(m->loss);
  dst->batch_mining = dup_or_empty(m->batch_mining);
  dst->source = xstrdup(m->source && *m->source ? m->source : "local");
  dst->config_json = xstrdup(m->config_json && *m->config_json ? m->config_json : "{}");
  dst->created = m->created && *m->created ? xstrdup(m->created) : iso_now();
  dst->finished = dup_or_empty(m->finished);
  dst->status = xstrdup(m->status && *m->status ? m->status : "running");
}

static void meta_free(struct dml_run_meta *m) {
  free(m->dml_version); free(m->status); free(m->created); free(m->finished); free(m->name); free(m->group);
  free(m->project); free(m->dataset); free(m->arch); free(m->loss); free(m->batch_mining); free(m->source);
  free(m->config_json);
  memset(m, 0, sizeof *m);
}

static void handle_free(dml_runrecord_t *rr);

dml_status dml_runrecord_create(const char *path, const struct dml_run_meta *meta, dml_runrecord_t **out) {
  *out = NULL;
  if (!path || !*path) return dml_error(DML_ERR_ARG, "run record path is empty");
  struct stat sb;
  if (!stat(path, &sb)) return dml_error(DML_ERR_STATE, "run record %s already exists (resume it instead)", path);
  dml_runrecord_t *rr = xcalloc(1, sizeof *rr);
  rr->path = xstrdup(path);
  rr->fresh = 1;
  struct dml_run_meta empty = {0};
  meta_copy(&rr->meta, meta ? meta : &empty);
  /* write the file now, so a run that dies before its first epoch still leaves its configuration */
  dml_status st = dml_runrecord_commit(rr);
  if (st) {
    handle_free(rr);
    return st;
  }
  *out = rr;
  return DML_OK;
}

dml_status dml_runrecord_open(const char *path, dml_runrecord_t **out) {
  *out = NULL;
  hid_t f;
  dml_status st = open_record(path, &f, NULL);
  if (st) return dml_error_prefix(st, "reopening the run record");
  H5Fclose(f);
  dml_runrecord_t *rr = xcalloc(1, sizeof *rr);
  rr->path = xstrdup(path);
  *out = rr;
  return DML_OK;
}

#define GROW(arr, n) (arr = xrealloc(arr, ((n) + 1) * sizeof *(arr)), &(arr)[(n)++])

static int bad_name(const char *s) { return !s || !*s; }

dml_status dml_runrecord_append_metrics(dml_runrecord_t *rr, const char *split, long epoch,
                                        const struct dml_metric_value *v, size_t n) {
  if (bad_name(split)) return dml_error(DML_ERR_ARG, "%s: metric split name is empty", rr->path);
  if (n && !v) return dml_error(DML_ERR_ARG, "%s: no metric values given", rr->path);
  for (size_t i = 0; i < n; i++) {
    if (bad_name(v[i].key)) return dml_error(DML_ERR_ARG, "%s: metric %zu of split '%s' has an empty key", rr->path, i, split);
    for (size_t j = 0; j < i; j++)
      if (!strcmp(v[i].key, v[j].key))
        return dml_error(DML_ERR_ARG, "%s: metric '%s' given twice for split '%s' at epoch %ld", rr->path, v[i].key, split, epoch);
  }
  struct pend_metrics *p = GROW(rr->pm, rr->npm);
  p->split = xstrdup(split);
  p->epoch = epoch;
  p->n = n;
  p->keys = xcalloc(n + 1, sizeof *p->keys);
  p->defs = xcalloc(n + 1, sizeof *p->defs);
  p->vals = xcalloc(n + 1, sizeof *p->vals);
  for (size_t i = 0; i < n; i++) {
    p->keys[i] = xstrdup(v[i].key);
    p->defs[i] = v[i].definition ? xstrdup(v[i].definition) : NULL;
    p->vals[i] = v[i].value;
  }
  return DML_OK;
}

dml_status dml_runrecord_put_metric_array(dml_runrecord_t *rr, const char *split, const char *key, long epoch,
                                          const double *v, size_t n, const char *definition) {
  if (bad_name(split) || bad_name(key)) return dml_error(DML_ERR_ARG, "%s: array metric needs a split and a key", rr->path);
  if (n && !v) return dml_error(DML_ERR_ARG, "%s: array metric '%s' has no values", rr->path, key);
  /* a newer put for the same (split, key) replaces a pending one */
  struct pend_array *p = NULL;
  for (size_t i = 0; i < rr->npa && !p; i++)
    if (!strcmp(rr->pa[i].split, split) && !strcmp(rr->pa[i].key, key)) {
      p = &rr->pa[i];
      free(p->split); free(p->key); free(p->def); free(p->v);
    }
  if (!p) p = GROW(rr->pa, rr->npa);
  p->split = xstrdup(split);
  p->key = xstrdup(key);
  p->def = definition ? xstrdup(definition) : NULL;
  p->epoch = epoch;
  p->n = n;
  p->v = xmalloc((n + 1) * sizeof *p->v);
  if (n) memcpy(p->v, v, n * sizeof *v);
  return DML_OK;
}

dml_status dml_runrecord_append_train(dml_runrecord_t *rr, long epoch, const struct dml_train_row *row) {
  if (!row) return dml_error(DML_ERR_ARG, "%s: no train row given", rr->path);
  struct pend_train *p = GROW(rr->pt, rr->npt);
  p->epoch = epoch;
  p->row = *row;
  return DML_OK;
}

static void pend_emb_free(struct pend_emb *p) {
  free(p->split); free(p->emb); free(p->labels);
  free_strings(p->paths, p->n);
  memset(p, 0, sizeof *p);
}

dml_status dml_runrecord_put_embeddings(dml_runrecord_t *rr, const char *split, int best, const float *emb,
                                        size_t n, size_t d, const int32_t *labels, const char *const *paths) {
  if (bad_name(split)) return dml_error(DML_ERR_ARG, "%s: embeddings split name is empty", rr->path);
  if ((n && d && !emb) || (n && !labels))
    return dml_error(DML_ERR_ARG, "%s: embeddings of split '%s' need data and labels", rr->path, split);
  if (d && n > SIZE_MAX / d / sizeof *emb) return dml_error(DML_ERR_ARG, "%s: embeddings of %zu x %zu overflow", rr->path, n, d);
  best = best ? 1 : 0;
  /* a newer put for the same (split, best) replaces a pending one */
  struct pend_emb *p = NULL;
  for (size_t i = 0; i < rr->npe && !p; i++)
    if (rr->pe[i].best == best && !strcmp(rr->pe[i].split, split)) {
      p = &rr->pe[i];
      pend_emb_free(p);
    }
  if (!p) p = GROW(rr->pe, rr->npe);
  p->split = xstrdup(split);
  p->best = best;
  p->n = n;
  p->d = d;
  p->emb = xmalloc(n * d * sizeof *emb + 1);
  if (n && d) memcpy(p->emb, emb, n * d * sizeof *emb);
  p->labels = xmalloc(n * sizeof *labels + 1);
  if (n) memcpy(p->labels, labels, n * sizeof *labels);
  p->paths = NULL;
  if (paths) {
    p->paths = xcalloc(n + 1, sizeof *p->paths);
    for (size_t k = 0; k < n; k++) p->paths[k] = dup_or_empty(paths[k]);
  }
  return DML_OK;
}

dml_status dml_runrecord_set_attr(dml_runrecord_t *rr, const char *name, const char *value) {
  static const char *reserved[] = {"schema_version", "seed", "config", "dml_version"};
  if (bad_name(name)) return dml_error(DML_ERR_ARG, "%s: root attribute name is empty", rr->path);
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
    if (!strcmp(name, reserved[i])) return dml_error(DML_ERR_ARG, "%s: root attribute '%s' cannot be set this way", rr->path, name);
  for (size_t i = 0; i < rr->nat; i++) /* a later value for the same name replaces a pending one */
    if (!strcmp(rr->at[i].name, name)) {
      free(rr->at[i].value);
      rr->at[i].value = dup_or_empty(value);
      return DML_OK;
    }
  struct pend_attr *p = GROW(rr->at, rr->nat);
  p->name = xstrdup(name);
  p->value = dup_or_empty(value);
  return DML_OK;
}

/* The `config` attribute is reserved for set_attr; a resume that changes an allowed flag (--n_epochs) replaces
 * it through this call, with the change listed in `config_history` (see docs/run-format.md). */
dml_status dml_runrecord_set_config(dml_runrecord_t *rr, const char *config_json) {
  if (!config_json || !*config_json) return dml_error(DML_ERR_ARG, "%s: empty configuration", rr->path);
  free(rr->meta.config_json);
  rr->meta.config_json = xstrdup(config_json);
  for (size_t i = 0; i < rr->nat; i++)
    if (!strcmp(rr->at[i].name, "config")) {
      free(rr->at[i].value);
      rr->at[i].value = xstrdup(config_json);
      return DML_OK;
    }
  struct pend_attr *p = GROW(rr->at, rr->nat);
  p->name = xstrdup("config");
  p->value = xstrdup(config_json);
  return DML_OK;
}

dml_status dml_runrecord_set_status(dml_runrecord_t *rr, enum dml_run_status s) {
  if ((unsigned)s > DML_RUN_INTERRUPTED) return dml_error(DML_ERR_ARG, "%s: unknown run status %d", rr->path, (int)s);
  dml_runrecord_set_attr(rr, "status", dml_run_status_name(s));
  char *when = s == DML_RUN_RUNNING ? xstrdup("") : iso_now(); /* `finished` is set by a terminal status only */
  dml_runrecord_set_attr(rr, "finished", when);
  free(when);
  return DML_OK;
}

static void clear_pending(dml_runrecord_t *rr) {
  for (size_t i = 0; i < rr->npm; i++) {
    for (size_t k = 0; k < rr->pm[i].n; k++) { free(rr->pm[i].keys[k]); free(rr->pm[i].defs[k]); }
    free(rr->pm[i].keys); free(rr->pm[i].defs); free(rr->pm[i].vals); free(rr->pm[i].split);
  }
  for (size_t i = 0; i < rr->npa; i++) { free(rr->pa[i].split); free(rr->pa[i].key); free(rr->pa[i].def); free(rr->pa[i].v); }
  for (size_t i = 0; i < rr->npe; i++) pend_emb_free(&rr->pe[i]);
  for (size_t i = 0; i < rr->nat; i++) { free(rr->at[i].name); free(rr->at[i].value); }
  free(rr->pm); free(rr->pa); free(rr->pt); free(rr->pe); free(rr->at);
  rr->pm = NULL; rr->pa = NULL; rr->pt = NULL; rr->pe = NULL; rr->at = NULL;
  rr->npm = rr->npa = rr->npt = rr->npe = rr->nat = 0;
}

void dml_runrecord_drop_data(dml_runrecord_t *rr) {
  if (!rr) return;
  size_t nat = rr->nat;
  struct pend_attr *at = rr->at;
  rr->at = NULL;
  rr->nat = 0;
  clear_pending(rr);
  rr->at = at;
  rr->nat = nat;
}

static void handle_free(dml_runrecord_t *rr) {
  clear_pending(rr);
  meta_free(&rr->meta);
  free(rr->path);
  free(rr);
}

// ---------------------------------------------------------------------------------------------- commit

/* Copy `from` to `to` (kernel-side copy_file_range where possible, read/write otherwise). */
static dml_status copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY);
  if (in < 0) return dml_error(DML_ERR_IO, "cannot read run record %s: %s", from, strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    close(in);
    return dml_error(DML_ERR_IO, "cannot write %s: %s", to, strerror(errno));
  }
  dml_status st = DML_OK;
  ssize_t r;
  int kernel_copy = 1;
  while (kernel_copy && (r = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0)) != 0) {
    if (r < 0) {
      if (errno == EINTR) continue;
      kernel_copy = 0; /* ENOSYS, EXDEV, EINVAL ...: fall back from the current offsets */
    }
  }
  if (!kernel_copy) {
    char buf[1 << 16];
    while ((r = read(in, buf, sizeof buf)) != 0) {
      if (r < 0) {
        if (errno == EINTR) continue;
        st = dml_error(DML_ERR_IO, "reading %s: %s", from, strerror(errno));
        break;
      }
      if (write(out, buf, (size_t)r) != r) { st = dml_error(DML_ERR_IO, "writing %s: %s", to, strerror(errno)); break; }
    }
  }
  close(in);
  if (close(out) && !st) st = dml_error(DML_ERR_IO, "writing %s: %s", to, strerror(errno));
  return st;
}

/* Set a string attribute unless it already holds that value (rewriting attributes every commit fragments the file). */
static herr_t ensure_str_attr(hid_t obj, const char *name, const char *value) {
  char *cur = get_str_attr(obj, "", name, NULL); /* unreadable: rewritten */
  dml_error_clear();
  int same = cur && !strcmp(cur, value);
  free(cur);
  return same ? 0 : put_str_attr(obj, name, value);
}

/* Append the m pending rows of one split (in order): every key of the split, old or new, grows by m values, NaN
 * where a row does not give the key; a key new to the split reads NaN for the earlier epochs. One write per key,
 * so a commit of many rows (a fetched history) costs about as much as one row. */
static herr_t apply_metrics(hid_t file, const char *split, const struct pend_metrics *const *rows, size_t m) {
  char *es = escape_name(split, 0);
  char *gp = dml_strfmt("metrics/%s", es);
  hid_t g = group_path(file, gp);
  free(gp);
  free(es);
  if (g < 0) return -1;
  hsize_t L = ds_len(g, "epoch");
  struct name_list keys = {0};
  herr_t r = list_names(g, &keys); /* on-disk (escaped) names, "epoch" among them */
  for (size_t i = 0; r >= 0 && i < m; i++)
    for (size_t k = 0; k < rows[i]->n; k++) {
      char *ek = escape_name(rows[i]->keys[k], 1);
      size_t j = 0;
      while (j < keys.n && strcmp(keys.v[j], ek)) j++;
      if (j == keys.n) {
        keys.v = xrealloc(keys.v, (keys.n + 1) * sizeof *keys.v);
        keys.v[keys.n++] = ek;
      } else {
        free(ek);
      }
    }
  double *col = xmalloc((m + 1) * sizeof *col); /* (m) */
  for (size_t j = 0; r >= 0 && j < keys.n; j++) {
    if (!strcmp(keys.v[j], "epoch")) continue;
    const char *def = NULL;
    for (size_t i = 0; i < m; i++) {
      col[i] = NAN;
      for (size_t k = 0; k < rows[i]->n; k++) {
        char *ek = escape_name(rows[i]->keys[k], 1);
        int hit = !strcmp(ek, keys.v[j]);
        free(ek);
        if (hit) {
          col[i] = rows[i]->vals[k];
          if (rows[i]->defs[k]) def = rows[i]->defs[k];
          break;
        }
      }
    }
    r = write_tail_f64(g, keys.v[j], L, col, m);
    if (r >= 0 && def) {
      hid_t d = H5Dopen2(g, keys.v[j], H5P_DEFAULT);
      r = d < 0 ? -1 : ensure_str_attr(d, "definition", def);
      if (d >= 0) H5Dclose(d);
    }
  }
  for (size_t i = 0; i < m; i++) col[i] = (double)rows[i]->epoch;
  if (r >= 0) r = write_tail_f64(g, "epoch", L, col, m);
  free(col);
  free_names(&keys);
  H5Gclose(g);
  return r;
}

/* Append the pending train rows: one write per column. */
static herr_t apply_train(hid_t file, const struct pend_train *p, size_t m) {
  hid_t g = group_path(file, "train");
  if (g < 0) return -1;
  hsize_t L = ds_len(g, "epoch");
  double *col = xmalloc((m + 1) * sizeof *col); /* (m) */
  static const char *names[5] = {"loss", "lr", "seconds", "images_per_second", "epoch"};
  herr_t r = 0;
  for (int c = 0; c < 5 && r >= 0; c++) {
    for (size_t i = 0; i < m; i++)
      col[i] = c == 0 ? p[i].row.loss : c == 1 ? p[i].row.lr : c == 2 ? p[i].row.seconds
             : c == 3 ? p[i].row.images_per_second : (double)p[i].epoch;
    r = write_tail_f64(g, names[c], L, col, m);
  }
  free(col);
  H5Gclose(g);
  return r;
}

static herr_t apply_array(hid_t file, const struct pend_array *p) {
  char *es = escape_name(p->split, 0), *ek = escape_name(p->key, 0);
  char *gp = dml_strfmt("metrics_arrays/%s", es);
  hid_t g = group_path(file, gp);
  herr_t r = -1;
  if (g >= 0) {
    hsize_t n = p->n;
    r = put_dataset(g, ek, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, p->v);
    hid_t d = r >= 0 ? H5Dopen2(g, ek, H5P_DEFAULT) : -1;
    if (r >= 0 && d < 0) r = -1;
    if (d >= 0) {
      r = put_int_attr(d, "epoch", p->epoch, H5T_STD_I64LE);
      if (r >= 0) {
        if (p->def) r = put_str_attr(d, "definition", p->def);
        else if (H5Aexists(d, "definition") > 0) r = H5Adelete(d, "definition");
      }
      H5Dclose(d);
    }
    H5Gclose(g);
  }
  free(gp); free(es); free(ek);
  return r;
}

static int same_strings(char **a, char **b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(a[i], b[i])) return 0;
  return 1;
}

static herr_t apply_embeddings(hid_t file, const struct pend_emb *p) {
  char *es = escape_name(p->split, 0);
  char *gp = dml_strfmt("embeddings/%s/%s", p->best ? "best" : "latest", es);
  hid_t g = group_path(file, gp);
  free(gp);
  free(es);
  if (g < 0) return -1;
  hsize_t dims[2] = {p->n, p->d};
  herr_t r = put_dataset(g, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, p->emb);
  if (r >= 0) r = put_dataset(g, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims, p->labels);
  /* paths: rewritten only when they change (rewriting variable-length strings leaks file space every epoch) */
  char **old = NULL;
  if (r >= 0 && p->paths && dml_h5_read_strings(g, "", "paths", p->n, &old)) dml_error_clear(); /* unreadable: rewritten */
  int keep = old && same_strings(old, p->paths, p->n);
  free_strings(old, p->n);
  if (r >= 0 && !keep && H5Lexists(g, "paths", H5P_DEFAULT) > 0) r = H5Ldelete(g, "paths", H5P_DEFAULT);
  if (r >= 0 && !keep && p->paths) {
    hid_t t = str_type();
    r = put_dataset(g, "paths", t, t, 1, dims, p->paths);
    H5Tclose(t);
  }
  H5Gclose(g);
  return r;
}

static herr_t write_meta(hid_t root, const struct dml_run_meta *m) {
  herr_t r = put_int_attr(root, "schema_version", DML_RUNRECORD_SCHEMA_VERSION, H5T_STD_I32LE);
  if (r >= 0) r = put_str_attr(root, "dml_version", DML_VERSION);
  if (r >= 0) r = put_int_attr(root, "seed", m->seed, H5T_STD_I64LE);
  const char *names[] = {"status", "created", "finished", "name", "group", "project", "dataset", "arch", "loss",
                         "batch_mining", "source", "config"};
  const char *vals[] = {m->status, m->created, m->finished, m->name, m->group, m->project, m->dataset, m->arch,
                        m->loss, m->batch_mining, m->source, m->config_json};
  for (size_t i = 0; r >= 0 && i < sizeof names / sizeof *names; i++) r = put_str_attr(root, names[i], vals[i]);
  return r;
}

/* fsync a file or folder by path (best effort: some file systems refuse fsync on folders). */
static int sync_path(const char *path, int dir) {
  int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return -1;
  int r = fsync(fd);
  close(fd);
  return r;
}

dml_status dml_runrecord_commit(dml_runrecord_t *rr) {
  if (!rr) return dml_error(DML_ERR_ARG, "no run record handle");
  if (!rr->fresh && !rr->npm && !rr->npa && !rr->npt && !rr->npe && !rr->nat) return DML_OK; /* nothing to do */
  silence_hdf5();
  dml_status st = DML_OK;
  char *tmp = dml_strfmt("%s.tmp", rr->path);
  hid_t file = -1, root = -1, fapl = make_fapl(1);
  if (rr->fresh) {
    /* small chunk-index B-tree nodes: the default (K = 32, 2 KiB per series) would be most of a small record */
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_istore_k(fcpl, 4);
    errno = 0;
    file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    int err = errno;
    H5Pclose(fcpl);
    if (file < 0) {
      H5Eclear2(H5E_DEFAULT);
      st = dml_error(DML_ERR_IO, "cannot create run record %s: %s", tmp, err ? strerror(err) : "HDF5 refused");
      goto out;
    }
  } else {
    if ((st = copy_file(rr->path, tmp))) goto out;
    file = H5Fopen(tmp, H5F_ACC_RDWR, fapl);
    if (file < 0) {
      st = dml_error(DML_ERR_FORMAT, "cannot open %s (a copy of the run record %s) for writing", tmp, rr->path);
      goto out;
    }
  }
  H5_CHECK(root = H5Gopen2(file, "/", H5P_DEFAULT));
  if (rr->fresh) H5_CHECK(write_meta(root, &rr->meta));
  for (size_t i = 0; i < rr->nat; i++) H5_CHECK(ensure_str_attr(root, rr->at[i].name, rr->at[i].value));
  for (size_t i = 0; i < rr->npm; i++) { /* the rows of each split together, in the order they were given */
    size_t first = 0, m = 0;
    while (strcmp(rr->pm[first].split, rr->pm[i].split)) first++;
    if (first < i) continue; /* split already written */
    const struct pend_metrics **rows = xmalloc(rr->npm * sizeof *rows);
    for (size_t j = i; j < rr->npm; j++)
      if (!strcmp(rr->pm[j].split, rr->pm[i].split)) rows[m++] = &rr->pm[j];
    herr_t hr = apply_metrics(file, rr->pm[i].split, rows, m);
    free(rows);
    H5_CHECK(hr);
  }
  if (rr->npt) H5_CHECK(apply_train(file, rr->pt, rr->npt));
  for (size_t i = 0; i < rr->npa; i++) H5_CHECK(apply_array(file, &rr->pa[i]));
  for (size_t i = 0; i < rr->npe; i++) H5_CHECK(apply_embeddings(file, &rr->pe[i]));
out:
  if (root >= 0) H5Gclose(root);
  if (file >= 0 && H5Fclose(file) < 0 && !st) st = h5_fail(tmp, "H5Fclose");
  H5Pclose(fapl);
  if (!st && sync_path(tmp, 0)) st = dml_error(DML_ERR_IO, "cannot fsync %s: %s", tmp, strerror(errno));
  if (!st && rename(tmp, rr->path)) st = dml_error(DML_ERR_IO, "cannot rename %s to %s: %s", tmp, rr->path, strerror(errno));
  if (st) {
    unlink(tmp); /* the previous run.h5 is untouched; the pending changes stay for a retry */
  } else {
    char *dir = xstrdup(rr->path);
    sync_path(dirname(dir), 1); /* make the rename itself durable */
    free(dir);
    clear_pending(rr);
    rr->fresh = 0;
  }
  free(tmp);
  return st;
}

dml_status dml_runrecord_close(dml_runrecord_t *rr) {
  if (!rr) return DML_OK;
  dml_status st = dml_runrecord_commit(rr);
  handle_free(rr);
  return st;
}

// ---------------------------------------------------------------------------------------------- reader

/* Read the 1-D numeric dataset g/name of `path` as doubles through the checked HDF5 layer (common/h5.h).
 * Returns 1 when read, 0 when g/name is not a 1-D numeric dataset (skipped by readers), -1 with a dml_error when
 * its stated size is refused or the read fails. */
static int read_f64(hid_t g, const char *path, const char *name, double **out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct dml_h5_shape sh;
  if (dml_h5_shape(g, path, name, &sh)) {
    dml_error_clear();
    return 0;
  }
  if (sh.rank != 1 || (sh.cls != DML_H5_CLASS_FLOAT && sh.cls != DML_H5_CLASS_INT)) return 0;
  if (dml_h5_read_alloc(g, path, name, DML_H5_F64, 1, NULL, &sh, (void **)out)) return -1;
  *n = sh.dims[0];
  return 1;
}

static int cmp_series(const void *a, const void *b) {
  const struct dml_series *x = a, *y = b;
  int c = strcmp(x->split, y->split);
  return c ? c : strcmp(x->key, y->key);
}

/* metrics/<split>/<key> of one split group into out->series. */
static dml_status read_split(hid_t mg, const char *path, const char *sname, struct dml_run *out, size_t *cap) {
  hid_t sg;
  dml_status gs = dml_h5_open_group(mg, path, sname, &sg);
  if (gs || sg < 0) return gs;
  double *ep = NULL;
  size_t ne = 0;
  struct name_list keys = {0};
  dml_status st = DML_OK;
  int re = read_f64(sg, path, "epoch", &ep, &ne);
  if (re < 0) st = DML_ERR_FORMAT;
  if (re > 0 && list_names(sg, &keys) >= 0) {
    for (size_t k = 0; k < keys.n; k++) {
      if (!strcmp(keys.v[k], "epoch")) continue;
      double *v = NULL;
      size_t nv = 0;
      int rk = read_f64(sg, path, keys.v[k], &v, &nv);
      if (rk < 0) {
        st = DML_ERR_FORMAT;
        break;
      }
      if (rk == 0) continue;
      if (out->n_series == *cap) out->series = xrealloc(out->series, (*cap = *cap ? 2 * *cap : 16) * sizeof *out->series);
      struct dml_series *se = &out->series[out->n_series++];
      se->split = unescape_name(sname);
      se->key = unescape_name(keys.v[k]);
      hid_t d = H5Dopen2(sg, keys.v[k], H5P_DEFAULT);
      int bad = 0;
      se->definition = d >= 0 ? get_str_attr(d, path, "definition", &bad) : NULL;
      if (d >= 0) H5Dclose(d);
      se->n = nv < ne ? nv : ne; /* equal in every record this module wrote */
      se->value = v;
      se->epoch = xmalloc((se->n + 1) * sizeof *se->epoch);
      memcpy(se->epoch, ep, se->n * sizeof *ep);
      if (bad) {
        st = DML_ERR_FORMAT;
        break;
      }
    }
  }
  free_names(&keys);
  free(ep);
  H5Gclose(sg);
  return st;
}

dml_status dml_runrecord_read(const char *path, struct dml_run *out) {
  memset(out, 0, sizeof *out);
  hid_t f;
  long long sv = 0;
  dml_status st = open_record(path, &f, &sv);
  if (st) return st;
  out->path = xstrdup(path);
  struct dml_run_meta *m = &out->meta;
  m->schema_version = (int)sv;
  long long seed = 0;
  int bad = get_ll_attr(f, path, "seed", &seed) < 0;
  m->seed = (long)seed;
  struct { const char *name; char **dst; } attrs[] = {
      {"dml_version", &m->dml_version}, {"status", &m->status}, {"created", &m->created}, {"finished", &m->finished},
      {"name", &m->name}, {"group", &m->group}, {"project", &m->project}, {"dataset", &m->dataset},
      {"arch", &m->arch}, {"loss", &m->loss}, {"batch_mining", &m->batch_mining}, {"source", &m->source},
      {"config", &m->config_json}};
  for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
    *attrs[i].dst = bad ? NULL : get_str_attr(f, path, attrs[i].name, &bad);
    if (!*attrs[i].dst) *attrs[i].dst = xstrdup(!strcmp(attrs[i].name, "status") ? "unknown" : "");
  }
  if (bad) st = DML_ERR_FORMAT;
  size_t cap = 0;
  hid_t mg = -1, tg = -1;
  if (!st) st = dml_h5_open_group(f, path, "metrics", &mg);
  if (mg >= 0) {
    struct name_list splits = {0};
    if (list_names(mg, &splits) >= 0)
      for (size_t s = 0; !st && s < splits.n; s++) st = read_split(mg, path, splits.v[s], out, &cap);
    free_names(&splits);
    if (mg >= 0) H5Gclose(mg);
  }
  if (out->n_series) qsort(out->series, out->n_series, sizeof *out->series, cmp_series);
  if (!st) st = dml_h5_open_group(f, path, "train", &tg);
  if (!st && tg >= 0) {
    {
      size_t n[5] = {0};
      static const char *cols[5] = {"epoch", "loss", "lr", "seconds", "images_per_second"};
      double **dst[5] = {&out->train_epoch, &out->train_loss, &out->train_lr, &out->train_seconds, &out->train_ips};
      for (int i = 0; i < 5; i++)
        if (H5Lexists(tg, cols[i], H5P_DEFAULT) > 0 && read_f64(tg, path, cols[i], dst[i], &n[i]) < 0) st = DML_ERR_FORMAT;
      size_t nt = n[0];
      for (int i = 1; i < 5; i++) if (n[i] < nt) nt = n[i]; /* equal in every record this module wrote */
      out->n_train = nt;
      if (!nt) { /* keep the arrays consistent with n_train: all NULL */
        free(out->train_epoch); free(out->train_loss); free(out->train_lr); free(out->train_seconds); free(out->train_ips);
        out->train_epoch = out->train_loss = out->train_lr = out->train_seconds = out->train_ips = NULL;
      }
      H5Gclose(tg);
    }
  }
  H5Fclose(f);
  if (st) {
    dml_run_free(out);
    return st;
  }
  return DML_OK;
}

void dml_run_free(struct dml_run *run) {
  if (!run) return;
  meta_free(&run->meta);
  for (size_t i = 0; i < run->n_series; i++) {
    free(run->series[i].split); free(run->series[i].key); free(run->series[i].definition);
    free(run->series[i].epoch); free(run->series[i].value);
  }
  free(run->series);
  free(run->train_epoch); free(run->train_loss); free(run->train_lr); free(run->train_seconds); free(run->train_ips);
  free(run->path);
  memset(run, 0, sizeof *run);
}

const struct dml_series *dml_run_series(const struct dml_run *run, const char *split, const char *key) {
  if (!run || !split || !key) return NULL;
  /* series are sorted by (split, key): binary search */
  size_t lo = 0, hi = run->n_series;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct dml_series *s = &run->series[mid];
    int c = strcmp(s->split, split);
    if (!c) c = strcmp(s->key, key);
    if (!c) return s;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

dml_status dml_runrecord_read_embeddings(const char *path, const char *split, int best, float **emb, size_t *n,
                                         size_t *d, int32_t **labels, char ***paths) {
  *emb = NULL;
  *labels = NULL;
  *n = *d = 0;
  if (paths) *paths = NULL;
  if (bad_name(split)) return dml_error(DML_ERR_ARG, "%s: embeddings split name is empty", path);
  hid_t f;
  dml_status st = open_record(path, &f, NULL);
  if (st) return st;
  const char *which = best ? "best" : "latest";
  char *es = escape_name(split, 0);
  char *gp = dml_strfmt("embeddings/%s/%s", which, es);
  free(es);
  hid_t g = -1;
  st = dml_h5_open_group(f, path, gp, &g); /* every level checked before libhdf5 loads it */
  H5Eclear2(H5E_DEFAULT);
  if (st) {
    /* a forged object header on the way: the message names it */
  } else if (g < 0) {
    st = dml_error(DML_ERR_FORMAT, "%s has no %s embeddings for split '%s'", path, which, split);
  } else {
    struct dml_h5_shape se, sl;
    st = dml_h5_shape(g, path, "embeddings", &se);
    if (!st) st = dml_h5_shape(g, path, "labels", &sl);
    if (st) {
      st = dml_error(DML_ERR_FORMAT, "%s: %s lacks embeddings or labels", path, gp);
    } else if (se.rank != 2 || sl.rank != 1 || sl.dims[0] != se.dims[0]) {
      st = dml_error(DML_ERR_FORMAT, "%s: %s has mismatched shapes", path, gp);
    } else {
      st = dml_h5_read_alloc(g, path, "embeddings", DML_H5_F32, 2, NULL, &se, (void **)emb);
      if (!st) st = dml_h5_read_alloc(g, path, "labels", DML_H5_I32, 1, NULL, &sl, (void **)labels);
      *n = se.dims[0];
      *d = se.dims[1];
      if (!st && paths) st = dml_h5_read_strings(g, path, "paths", *n, paths); /* NULL when absent */
    }
    H5Gclose(g);
  }
  free(gp);
  H5Fclose(f);
  if (st) {
    free(*emb);
    free(*labels);
    *emb = NULL;
    *labels = NULL;
    *n = *d = 0;
  }
  return st;
}
