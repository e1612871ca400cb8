/* runrecord — the run record, one HDF5 file per run (docs/run-format.md, schema_version 1).
 *
 * Writes are buffered in the handle and applied by dml_runrecord_commit(): copy run.h5 to run.h5.tmp (or create
 * it), apply the pending changes there, close, fsync, rename over run.h5. The file is never open between
 * commits, so a process killed at any moment leaves the previous or the new complete file.
 * This is the only file that touches HDF5 for run records; H5_CHECK reports a failing HDF5 call. */
#include "common/runrecord.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* An HDF5 call that must not fail on a file we wrote ourselves: a failure is returned as DML_ERR_IO naming the call. */
#define H5_CHECK(x)                                                                              \
  do {                                                                                           \
    if ((x) < 0) { st = dml_error(DML_ERR_IO, "%s: HDF5 call failed: %s", rr->path, #x); goto out; } \
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

struct pend_metrics { char *split; long epoch; size_t n; char **keys, **defs; double *vals; };
struct pend_array { char *split, *key, *def; long epoch; size_t n; double *v; };
struct pend_train { long epoch; struct dml_train_row row; };
struct pend_emb { char *split; int best; size_t n, d; float *emb; int32_t *labels; char **paths; };
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

/* Dataset names: '%' → "%25", '/' → "%2F" (a W&B key may contain '/'); "." and ".." cannot be names. */
static char *escape_name(const char *k) {
  size_t n = strlen(k);
  char *o = xmalloc(3 * n + 4), *p = o;
  if (!strcmp(k, ".") || !strcmp(k, "..")) { *p++ = '%'; *p++ = '2'; *p++ = 'E'; k++; }
  for (; *k; k++) {
    if (*k == '%') { memcpy(p, "%25", 3); p += 3; }
    else if (*k == '/') { memcpy(p, "%2F", 3); p += 3; }
    else *p++ = *k;
  }
  *p = 0;
  return o;
}

static char *unescape_name(const char *k) {
  char *o = xmalloc(strlen(k) + 1), *p = o;
  for (; *k; k++) {
    if (k[0] == '%' && k[1] == '2' && (k[2] == '5' || k[2] == 'F' || k[2] == 'E')) {
      *p++ = k[2] == '5' ? '%' : k[2] == 'F' ? '/' : '.';
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

static herr_t put_str_attr(hid_t obj, const char *name, const char *value) {
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
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
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t r = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_LLONG, &value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return r;
}

/* Read a string attribute (variable or fixed length); NULL when absent. */
static char *get_str_attr(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0) return NULL;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return NULL;
  hid_t ft = H5Aget_type(a);
  char *out = NULL;
  if (H5Tget_class(ft) == H5T_STRING) {
    if (H5Tis_variable_str(ft) > 0) {
      hid_t mt = str_type();
      char *v = NULL;
      if (H5Aread(a, mt, &v) >= 0 && v) {
        out = xstrdup(v);
        H5free_memory(v);
      }
      H5Tclose(mt);
    } else {
      size_t n = H5Tget_size(ft);
      char *buf = xcalloc(n + 1, 1);
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, n + 1);
      if (H5Aread(a, mt, buf) >= 0) out = xstrdup(buf);
      H5Tclose(mt);
      free(buf);
    }
  }
  H5Tclose(ft);
  H5Aclose(a);
  return out;
}

static int get_ll_attr(hid_t obj, const char *name, long long *v) {
  if (H5Aexists(obj, name) <= 0) return 0;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  int ok = a >= 0 && H5Aread(a, H5T_NATIVE_LLONG, v) >= 0;
  if (a >= 0) H5Aclose(a);
  return ok;
}

/* Open a group path, creating every missing level. */
static hid_t group_path(hid_t file, const char *path) {
  char *p = xstrdup(path);
  hid_t g = H5Gopen2(file, "/", H5P_DEFAULT);
  for (char *s = strtok(p, "/"); s && g >= 0; s = strtok(NULL, "/")) {
    hid_t next = H5Lexists(g, s, H5P_DEFAULT) > 0 ? H5Gopen2(g, s, H5P_DEFAULT)
                                                    : H5Gcreate2(g, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    g = next;
  }
  free(p);
  return g;
}

static hsize_t ds_len(hid_t g, const char *name) {
  if (H5Lexists(g, name, H5P_DEFAULT) <= 0) return 0;
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  H5Dclose(d);
  return n;
}

/* Append one double to the extendible 1-D dataset g/name, creating it NaN-filled to length `fill` first. */
static herr_t append_f64(hid_t g, const char *name, double v, hsize_t fill) {
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
    if (d < 0) return -1;
    if (fill && H5Dset_extent(d, &fill) < 0) { H5Dclose(d); return -1; } /* new chunks read as the NaN fill */
  }
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0, one = 1;
  H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  hsize_t nn = n + 1;
  herr_t r = H5Dset_extent(d, &nn);
  hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &one, NULL);
  if (r >= 0) r = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &n, NULL, &one, NULL);
  if (r >= 0) r = H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &v);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(d);
  return r;
}

/* Write a whole dataset, replacing it unless it exists with the same shape and type (then overwritten in place,
 * so a file does not grow with every epoch's embeddings). */
static herr_t put_dataset(hid_t g, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims, const void *data) {
  hid_t d = -1;
  if (H5Lexists(g, name, H5P_DEFAULT) > 0) {
    d = H5Dopen2(g, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t cur[4] = {0};
    int same = H5Sget_simple_extent_ndims(sp) == rank && H5Tequal(t, ftype) > 0;
    H5Sget_simple_extent_dims(sp, cur, NULL);
    for (int i = 0; same && i < rank; i++) same = cur[i] == dims[i];
    H5Sclose(sp);
    H5Tclose(t);
    if (!same) {
      H5Dclose(d);
      d = -1;
      H5Ldelete(g, name, H5P_DEFAULT);
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
  dst->finished = m->finished ? xstrdup(m->finished) : NULL;
  dst->status = xstrdup(m->status && *m->status ? m->status : "running");
}

static void meta_free(struct dml_run_meta *m) {
  free(m->dml_version); free(m->status); free(m->created); free(m->finished); free(m->name); free(m->group);
  free(m->project); free(m->dataset); free(m->arch); free(m->loss); free(m->batch_mining); free(m->source);
  free(m->config_json);
  memset(m, 0, sizeof *m);
}

dml_status dml_runrecord_create(const char *path, const struct dml_run_meta *meta, dml_runrecord_t **out) {
  struct stat sb;
  if (!stat(path, &sb)) return dml_error(DML_ERR_STATE, "run record %s already exists (resume it instead)", path);
  dml_runrecord_t *rr = xcalloc(1, sizeof *rr);
  rr->path = xstrdup(path);
  rr->fresh = 1;
  meta_copy(&rr->meta, meta);
  *out = rr;
  /* write the file now, so a run that dies before its first epoch still leaves its configuration */
  dml_status st = dml_runrecord_commit(rr);
  if (st) {
    meta_free(&rr->meta);
    free(rr->path);
    free(rr);
    *out = NULL;
  }
  return st;
}

dml_status dml_runrecord_open(const char *path, dml_runrecord_t **out) {
  if (!dml_runrecord_is_record(path)) return dml_error(DML_ERR_FORMAT, "%s is not a readable run record", path);
  dml_runrecord_t *rr = xcalloc(1, sizeof *rr);
  rr->path = xstrdup(path);
  *out = rr;
  return DML_OK;
}

#define GROW(arr, n) (arr = xrealloc(arr, ((n) + 1) * sizeof *(arr)), &(arr)[(n)++])

dml_status dml_runrecord_append_metrics(dml_runrecord_t *rr, const char *split, long epoch,
                                        const struct dml_metric_value *v, size_t n) {
  if (!split || !*split) return dml_error(DML_ERR_ARG, "metric split name is empty");
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
  struct pend_array *p = GROW(rr->pa, rr->npa);
  p->split = xstrdup(split);
  p->key = xstrdup(key);
  p->def = definition ? xstrdup(definition) : NULL;
  p->epoch = epoch;
  p->n = n;
  p->v = xmalloc((n + 1) * sizeof *p->v);
  memcpy(p->v, v, n * sizeof *v);
  return DML_OK;
}

dml_status dml_runrecord_append_train(dml_runrecord_t *rr, long epoch, const struct dml_train_row *row) {
  struct pend_train *p = GROW(rr->pt, rr->npt);
  p->epoch = epoch;
  p->row = *row;
  return DML_OK;
}

dml_status dml_runrecord_put_embeddings(dml_runrecord_t *rr, const char *split, int best, const float *emb,
                                        size_t n, size_t d, const int32_t *labels, const char *const *paths) {
  /* a newer put for the same (split, best) replaces a pending one */
  struct pend_emb *p = NULL;
  for (size_t i = 0; i < rr->npe; i++)
    if (rr->pe[i].best == best && !strcmp(rr->pe[i].split, split)) {
      p = &rr->pe[i];
      free(p->split); free(p->emb); free(p->labels);
      if (p->paths) for (size_t k = 0; k < p->n; k++) free(p->paths[k]);
      free(p->paths);
    }
  if (!p) p = GROW(rr->pe, rr->npe);
  p->split = xstrdup(split);
  p->best = best;
  p->n = n;
  p->d = d;
  p->emb = xmalloc(n * d * sizeof *emb + 1);
  memcpy(p->emb, emb, n * d * sizeof *emb);
  p->labels = xmalloc(n * sizeof *labels + 1);
  memcpy(p->labels, labels, n * sizeof *labels);
  p->paths = NULL;
  if (paths) {
    p->paths = xcalloc(n + 1, sizeof *p->paths);
    for (size_t k = 0; k < n; k++) p->paths[k] = dup_or_empty(paths[k]);
  }
  return DML_OK;
}

dml_status dml_runrecord_set_attr(dml_runrecord_t *rr, const char *name, const char *value) {
  static const char *reserved[] = {"schema_version", "seed", "config"};
  for (size_t i = 0; i < 3; i++)
    if (!strcmp(name, reserved[i])) return dml_error(DML_ERR_ARG, "root attribute '%s' cannot be set this way", name);
  struct pend_attr *p = GROW(rr->at, rr->nat);
  p->name = xstrdup(name);
  p->value = dup_or_empty(value);
  return DML_OK;
}

dml_status dml_runrecord_set_status(dml_runrecord_t *rr, enum dml_run_status s) {
  dml_runrecord_set_attr(rr, "status", dml_run_status_name(s));
  if (s != DML_RUN_RUNNING) {
    char *now = iso_now();
    dml_runrecord_set_attr(rr, "finished", now);
    free(now);
  } else {
    dml_runrecord_set_attr(rr, "finished", "");
  }
  return DML_OK;
}

static void clear_pending(dml_runrecord_t *rr) {
  for (size_t i = 0; i < rr->npm; i++) {
    for (size_t k = 0; k < rr->pm[i].n; k++) { free(rr->pm[i].keys[k]); free(rr->pm[i].defs[k]); }
    free(rr->pm[i].keys); free(rr->pm[i].defs); free(rr->pm[i].vals); free(rr->pm[i].split);
  }
  for (size_t i = 0; i < rr->npa; i++) { free(rr->pa[i].split); free(rr->pa[i].key); free(rr->pa[i].def); free(rr->pa[i].v); }
  for (size_t i = 0; i < rr->npe; i++) {
    free(rr->pe[i].split); free(rr->pe[i].emb); free(rr->pe[i].labels);
    if (rr->pe[i].paths) for (size_t k = 0; k < rr->pe[i].n; k++) free(rr->pe[i].paths[k]);
    free(rr->pe[i].paths);
  }
  for (size_t i = 0; i < rr->nat; i++) { free(rr->at[i].name); free(rr->at[i].value); }
  free(rr->pm); free(rr->pa); free(rr->pt); free(rr->pe); free(rr->at);
  rr->pm = NULL; rr->pa = NULL; rr->pt = NULL; rr->pe = NULL; rr->at = NULL;
  rr->npm = rr->npa = rr->npt = rr->npe = rr->nat = 0;
}

static dml_status copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY), out = -1;
  if (in < 0) return dml_error(DML_ERR_IO, "cannot read %s: %s", from, strerror(errno));
  out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    close(in);
    return dml_error(DML_ERR_IO, "cannot write %s: %s", to, strerror(errno));
  }
  char buf[1 << 16];
  ssize_t r;
  dml_status st = DML_OK;
  while ((r = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)r) != r) { st = dml_error(DML_ERR_IO, "writing %s: %s", to, strerror(errno)); break; }
  if (r < 0) st = dml_error(DML_ERR_IO, "reading %s: %s", from, strerror(errno));
  close(in);
  if (close(out) && !st) st = dml_error(DML_ERR_IO, "writing %s: %s", to, strerror(errno));
  return st;
}

/* Append one metrics row: every existing key of the split gets a value (NaN when absent from the row). */
static herr_t apply_metrics(hid_t file, const struct pend_metrics *p) {
  char *gp = dml_strfmt("metrics/%s", p->split);
  char *esc_split = escape_name(p->split);
  free(gp);
  gp = dml_strfmt("metrics/%s", esc_split);
  free(esc_split);
  hid_t g = group_path(file, gp);
  free(gp);
  if (g < 0) return -1;
  hsize_t L = ds_len(g, "epoch");
  herr_t r = 0;
  char **esc = xcalloc(p->n + 1, sizeof *esc);
  for (size_t i = 0; i < p->n && r >= 0; i++) {
    esc[i] = escape_name(p->keys[i]);
    if (!strcmp(esc[i], "epoch")) continue; /* a metric called "epoch" would shadow the epoch series */
    r = append_f64(g, esc[i], p->vals[i], L);
    if (r >= 0 && p->defs[i]) {
      hid_t d = H5Dopen2(g, esc[i], H5P_DEFAULT);
      r = put_str_attr(d, "definition", p->defs[i]);
      H5Dclose(d);
    }
  }
  /* pad the keys of this split that the row did not mention */
  H5G_info_t info;
  if (r >= 0) r = H5Gget_info(g, &info);
  for (hsize_t k = 0; r >= 0 && k < info.nlinks; k++) {
    char name[1024];
    if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, k, name, sizeof name, H5P_DEFAULT) < 0) continue;
    if (!strcmp(name, "epoch")) continue;
    if (ds_len(g, name) == L) r = append_f64(g, name, NAN, L);
  }
  if (r >= 0) r = append_f64(g, "epoch", (double)p->epoch, L);
  for (size_t i = 0; i < p->n; i++) free(esc[i]);
  free(esc);
  H5Gclose(g);
  return r;
}

static herr_t apply_train(hid_t file, const struct pend_train *p) {
  hid_t g = group_path(file, "train");
  if (g < 0) return -1;
  hsize_t L = ds_len(g, "epoch");
  herr_t r = append_f64(g, "loss", p->row.loss, L);
  if (r >= 0) r = append_f64(g, "lr", p->row.lr, L);
  if (r >= 0) r = append_f64(g, "seconds", p->row.seconds, L);
  if (r >= 0) r = append_f64(g, "images_per_second", p->row.images_per_second, L);
  if (r >= 0) r = append_f64(g, "epoch", (double)p->epoch, L);
  H5Gclose(g);
  return r;
}

static herr_t apply_array(hid_t file, const struct pend_array *p) {
  char *es = escape_name(p->split), *ek = escape_name(p->key);
  char *gp = dml_strfmt("metrics_arrays/%s", es);
  hid_t g = group_path(file, gp);
  herr_t r = -1;
  if (g >= 0) {
    hsize_t n = p->n;
    if (H5Lexists(g, ek, H5P_DEFAULT) > 0) H5Ldelete(g, ek, H5P_DEFAULT);
    r = put_dataset(g, ek, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &n, p->v);
    hid_t d = r >= 0 ? H5Dopen2(g, ek, H5P_DEFAULT) : -1;
    if (d >= 0) {
      r = put_int_attr(d, "epoch", p->epoch, H5T_STD_I64LE);
      if (r >= 0 && p->def) r = put_str_attr(d, "definition", p->def);
      H5Dclose(d);
    }
    H5Gclose(g);
  }
  free(gp); free(es); free(ek);
  return r;
}

static herr_t apply_embeddings(hid_t file, const struct pend_emb *p) {
  char *es = escape_name(p->split);
  char *gp = dml_strfmt("embeddings/%s/%s", p->best ? "best" : "latest", es);
  hid_t g = group_path(file, gp);
  free(gp);
  free(es);
  if (g < 0) return -1;
  hsize_t dims[2] = {p->n, p->d};
  herr_t r = put_dataset(g, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, p->emb);
  if (r >= 0) r = put_dataset(g, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, dims, p->labels);
  if (r >= 0 && p->paths) {
    if (H5Lexists(g, "paths", H5P_DEFAULT) > 0) H5Ldelete(g, "paths", H5P_DEFAULT);
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
  if (r >= 0) r = put_str_attr(root, "status", m->status);
  if (r >= 0) r = put_str_attr(root, "created", m->created);
  if (r >= 0) r = put_str_attr(root, "finished", m->finished ? m->finished : "");
  if (r >= 0) r = put_int_attr(root, "seed", m->seed, H5T_STD_I64LE);
  const char *names[] = {"name", "group", "project", "dataset", "arch", "loss", "batch_mining", "source", "config"};
  const char *vals[] = {m->name, m->group, m->project, m->dataset, m->arch, m->loss, m->batch_mining, m->source, m->config_json};
  for (size_t i = 0; r >= 0 && i < sizeof names / sizeof *names; i++) r = put_str_attr(root, names[i], vals[i]);
  return r;
}

dml_status dml_runrecord_commit(dml_runrecord_t *rr) {
  silence_hdf5();
  dml_status st = DML_OK;
  char *tmp = dml_strfmt("%s.tmp", rr->path);
  hid_t file = -1, root = -1, fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V18);
  if (rr->fresh) {
    file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (file < 0) { st = dml_error(DML_ERR_IO, "cannot create run record %s", tmp); goto out; }
  } else {
    if ((st = copy_file(rr->path, tmp))) goto out;
    file = H5Fopen(tmp, H5F_ACC_RDWR, fapl);
    if (file < 0) { st = dml_error(DML_ERR_FORMAT, "cannot open run record copy %s for writing", tmp); goto out; }
  }
  H5_CHECK(root = H5Gopen2(file, "/", H5P_DEFAULT));
  if (rr->fresh) H5_CHECK(write_meta(root, &rr->meta));
  for (size_t i = 0; i < rr->nat; i++) H5_CHECK(put_str_attr(root, rr->at[i].name, rr->at[i].value));
  for (size_t i = 0; i < rr->npm; i++) H5_CHECK(apply_metrics(file, &rr->pm[i]));
  for (size_t i = 0; i < rr->npt; i++) H5_CHECK(apply_train(file, &rr->pt[i]));
  for (size_t i = 0; i < rr->npa; i++) H5_CHECK(apply_array(file, &rr->pa[i]));
  for (size_t i = 0; i < rr->npe; i++) H5_CHECK(apply_embeddings(file, &rr->pe[i]));
out:
  if (root >= 0) H5Gclose(root);
  if (file >= 0 && H5Fclose(file) < 0 && !st) st = dml_error(DML_ERR_IO, "closing %s failed", tmp);
  H5Pclose(fapl);
  if (!st) {
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
    if (rename(tmp, rr->path)) st = dml_error(DML_ERR_IO, "cannot rename %s to %s: %s", tmp, rr->path, strerror(errno));
  }
  if (st) unlink(tmp);
  else {
    clear_pending(rr);
    rr->fresh = 0;
  }
  free(tmp);
  return st;
}

dml_status dml_runrecord_close(dml_runrecord_t *rr) {
  if (!rr) return DML_OK;
  dml_status st = (rr->npm || rr->npa || rr->npt || rr->npe || rr->nat || rr->fresh) ? dml_runrecord_commit(rr) : DML_OK;
  clear_pending(rr);
  meta_free(&rr->meta);
  free(rr->path);
  free(rr);
  return st;
}

// ---------------------------------------------------------------------------------------------- reader

int dml_runrecord_is_record(const char *path) {
  silence_hdf5();
  if (access(path, R_OK)) return 0;
  if (H5Fis_hdf5(path) <= 0) return 0;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 0;
  int ok = H5Aexists(f, "schema_version") > 0;
  H5Fclose(f);
  return ok;
}

static herr_t read_f64(hid_t g, const char *name, double **out, size_t *n) {
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t sp = H5Dget_space(d);
  hsize_t len = 0;
  int rank = H5Sget_simple_extent_ndims(sp);
  if (rank == 1) H5Sget_simple_extent_dims(sp, &len, NULL);
  H5Sclose(sp);
  if (rank != 1) { H5Dclose(d); return -1; }
  *out = xmalloc((len + 1) * sizeof **out);
  *n = len;
  herr_t r = len ? H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) : 0;
  H5Dclose(d);
  return r;
}

static int cmp_series(const void *a, const void *b) {
  const struct dml_series *x = a, *y = b;
  int c = strcmp(x->split, y->split);
  return c ? c : strcmp(x->key, y->key);
}

dml_status dml_runrecord_read(const char *path, struct dml_run *out) {
  silence_hdf5();
  memset(out, 0, sizeof *out);
  if (access(path, R_OK)) return dml_error(DML_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  if (H5Fis_hdf5(path) <= 0) return dml_error(DML_ERR_FORMAT, "%s is not an HDF5 file", path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return dml_error(DML_ERR_FORMAT, "%s: HDF5 file cannot be opened (truncated or corrupt?)", path);
  long long sv = 0, seed = 0;
  if (!get_ll_attr(f, "schema_version", &sv)) {
    H5Fclose(f);
    return dml_error(DML_ERR_FORMAT, "%s is an HDF5 file but not a dml run record (no schema_version)", path);
  }
  if (sv > DML_RUNRECORD_SCHEMA_VERSION) {
    H5Fclose(f);
    dml_error(DML_ERR_FORMAT, "%s has run-record schema_version %lld; this dml reads up to %d", path, sv,
              DML_RUNRECORD_SCHEMA_VERSION);
    dml_error_hint("update dml to read records written by a newer version");
    return DML_ERR_FORMAT;
  }
  out->path = xstrdup(path);
  struct dml_run_meta *m = &out->meta;
  m->schema_version = (int)sv;
  get_ll_attr(f, "seed", &seed);
  m->seed = (long)seed;
  m->dml_version = get_str_attr(f, "dml_version");
  m->status = get_str_attr(f, "status");
  m->created = get_str_attr(f, "created");
  m->finished = get_str_attr(f, "finished");
  m->name = get_str_attr(f, "name");
  m->group = get_str_attr(f, "group");
  m->project = get_str_attr(f, "project");
  m->dataset = get_str_attr(f, "dataset");
  m->arch = get_str_attr(f, "arch");
  m->loss = get_str_attr(f, "loss");
  m->batch_mining = get_str_attr(f, "batch_mining");
  m->source = get_str_attr(f, "source");
  m->config_json = get_str_attr(f, "config");
  if (!m->status) m->status = xstrdup("unknown");
  /* metrics/<split>/<key> */
  size_t cap = 0;
  if (H5Lexists(f, "metrics", H5P_DEFAULT) > 0) {
    hid_t mg = H5Gopen2(f, "metrics", H5P_DEFAULT);
    H5G_info_t gi;
    H5Gget_info(mg, &gi);
    for (hsize_t s = 0; s < gi.nlinks; s++) {
      char sname[1024];
      if (H5Lget_name_by_idx(mg, ".", H5_INDEX_NAME, H5_ITER_INC, s, sname, sizeof sname, H5P_DEFAULT) < 0) continue;
      hid_t sg = H5Gopen2(mg, sname, H5P_DEFAULT);
      if (sg < 0) continue;
      double *ep = NULL;
      size_t ne = 0;
      if (read_f64(sg, "epoch", &ep, &ne) < 0) { H5Gclose(sg); free(ep); continue; }
      H5G_info_t ki;
      H5Gget_info(sg, &ki);
      for (hsize_t k = 0; k < ki.nlinks; k++) {
        char kname[1024];
        if (H5Lget_name_by_idx(sg, ".", H5_INDEX_NAME, H5_ITER_INC, k, kname, sizeof kname, H5P_DEFAULT) < 0) continue;
        if (!strcmp(kname, "epoch")) continue;
        double *v = NULL;
        size_t nv = 0;
        if (read_f64(sg, kname, &v, &nv) < 0) { free(v); continue; }
        if (out->n_series == cap) out->series = xrealloc(out->series, (cap = cap ? 2 * cap : 16) * sizeof *out->series);
        struct dml_series *se = &out->series[out->n_series++];
        se->split = unescape_name(sname);
        se->key = unescape_name(kname);
        hid_t d = H5Dopen2(sg, kname, H5P_DEFAULT);
        se->definition = get_str_attr(d, "definition");
        H5Dclose(d);
        se->n = nv < ne ? nv : ne;
        se->value = v;
        se->epoch = xmalloc((se->n + 1) * sizeof *se->epoch);
        memcpy(se->epoch, ep, se->n * sizeof *ep);
      }
      free(ep);
      H5Gclose(sg);
    }
    H5Gclose(mg);
  }
  if (out->n_series) qsort(out->series, out->n_series, sizeof *out->series, cmp_series);
  if (H5Lexists(f, "train", H5P_DEFAULT) > 0) {
    hid_t tg = H5Gopen2(f, "train", H5P_DEFAULT);
    size_t n0 = 0, n1 = 0, n2 = 0, n3 = 0, n4 = 0;
    read_f64(tg, "epoch", &out->train_epoch, &n0);
    read_f64(tg, "loss", &out->train_loss, &n1);
    read_f64(tg, "lr", &out->train_lr, &n2);
    read_f64(tg, "seconds", &out->train_seconds, &n3);
    read_f64(tg, "images_per_second", &out->train_ips, &n4);
    out->n_train = n0;
    if (n1 < n0 || n2 < n0 || n3 < n0 || n4 < n0) out->n_train = 0; /* inconsistent: show none */
    H5Gclose(tg);
  }
  H5Fclose(f);
  return DML_OK;
}

void dml_run_free(struct dml_run *run) {
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
  for (size_t i = 0; i < run->n_series; i++)
    if (!strcmp(run->series[i].split, split) && !strcmp(run->series[i].key, key)) return &run->series[i];
  return NULL;
}

dml_status dml_runrecord_read_embeddings(const char *path, const char *split, int best, float **emb, size_t *n,
                                         size_t *d, int32_t **labels, char ***paths) {
  silence_hdf5();
  *emb = NULL; *labels = NULL; *n = *d = 0;
  if (paths) *paths = NULL;
  if (!dml_runrecord_is_record(path)) return dml_error(DML_ERR_FORMAT, "%s is not a readable run record", path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  char *es = escape_name(split);
  char *gp = dml_strfmt("embeddings/%s/%s", best ? "best" : "latest", es);
  free(es);
  dml_status st = DML_OK;
  hid_t g = H5Lexists(f, "embeddings", H5P_DEFAULT) > 0 ? H5Gopen2(f, gp, H5P_DEFAULT) : -1;
  if (g < 0) {
    st = dml_error(DML_ERR_FORMAT, "%s has no %s embeddings for split '%s'", path, best ? "best" : "latest", split);
  } else {
    hid_t ds = H5Dopen2(g, "embeddings", H5P_DEFAULT), ls = H5Dopen2(g, "labels", H5P_DEFAULT);
    hsize_t dims[2] = {0, 0}, ldim = 0;
    if (ds < 0 || ls < 0) {
      st = dml_error(DML_ERR_FORMAT, "%s: %s lacks embeddings or labels", path, gp);
    } else {
      hid_t sp = H5Dget_space(ds), lsp = H5Dget_space(ls);
      int ok = H5Sget_simple_extent_ndims(sp) == 2 && H5Sget_simple_extent_ndims(lsp) == 1;
      H5Sget_simple_extent_dims(sp, dims, NULL);
      H5Sget_simple_extent_dims(lsp, &ldim, NULL);
      H5Sclose(sp);
      H5Sclose(lsp);
      if (!ok || ldim != dims[0]) st = dml_error(DML_ERR_FORMAT, "%s: %s has mismatched shapes", path, gp);
      else {
        *emb = xmalloc(dims[0] * dims[1] * sizeof **emb + 1);
        *labels = xmalloc(dims[0] * sizeof **labels + 1);
        if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *emb) < 0 ||
            H5Dread(ls, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, *labels) < 0)
          st = dml_error(DML_ERR_FORMAT, "%s: cannot read %s", path, gp);
        *n = dims[0];
        *d = dims[1];
        if (!st && paths && H5Lexists(g, "paths", H5P_DEFAULT) > 0) {
          hid_t ps = H5Dopen2(g, "paths", H5P_DEFAULT);
          hid_t t = str_type();
          char **raw = xcalloc(dims[0] + 1, sizeof *raw);
          if (H5Dread(ps, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
            *paths = xcalloc(dims[0] + 1, sizeof **paths);
            for (size_t i = 0; i < dims[0]; i++) {
              (*paths)[i] = xstrdup(raw[i] ? raw[i] : "");
              if (raw[i]) H5free_memory(raw[i]);
            }
          }
          free(raw);
          H5Tclose(t);
          H5Dclose(ps);
        }
      }
    }
    if (ds >= 0) H5Dclose(ds);
    if (ls >= 0) H5Dclose(ls);
    H5Gclose(g);
  }
  free(gp);
  H5Fclose(f);
  if (st) {
    free(*emb); free(*labels);
    *emb = NULL; *labels = NULL; *n = *d = 0;
  }
  return st;
}
