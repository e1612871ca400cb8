/* h5 — safe reading of untrusted HDF5 files. See h5.h.
 * How HDF5 is kept from hurting us on a hostile file:
 *   - the shape a dataset states is checked (dims.h) before any buffer is sized from it, in 64-bit arithmetic
 *     that cannot wrap, and against the bytes the file stores for it (H5Dget_storage_size, bounded by the file
 *     size): a 1.6 KB file cannot make us read 2^64 bytes of fill value into an 8-byte buffer;
 *   - every read goes through a transfer property list whose conversion callback aborts the read on a range or
 *     truncation exception instead of HDF5's default clamping;
 *   - errors never print (H5Eset_auto2 off); the innermost HDF5 message is not needed by callers, whose one line
 *     names the file and the dataset. */
#include "common/h5.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

_Static_assert(sizeof(hid_t) == sizeof(dml_h5_id), "hid_t is int64_t since HDF5 1.10");

/* deflate cannot expand more than 1032:1; other filters stay well below this bound */
#define DML_H5_MAX_EXPANSION 1100u
/* Any dataset may read this many bytes of fill value that the file does not store (a run-record series that
 * gained a key late has unallocated leading chunks); beyond it, the bytes must be in the file. */
#define DML_H5_UNSTORED_ALLOWANCE ((uint64_t)16 << 20)

void dml_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* HDF5 registers H5_term_library with atexit, and that closes every file id still open. A commit that failed on
 * a full disk leaves its half-closed file there (H5Fclose failed while flushing), and closing it again at exit
 * crashed in H5F__close_cb (issue 15: SIGSEGV at exit of dml-train on a full disk). Every file dml writes is
 * closed explicitly and its close checked, so the exit-time pass has nothing to do but crash: switch it off
 * before the library initialises (H5dont_atexit must precede every other HDF5 call). */
__attribute__((constructor)) static void h5_no_atexit(void) { H5dont_atexit(); }

dml_status dml_h5_open_read(const char *path, dml_h5_id *file) {
  dml_h5_quiet();
  *file = -1;
  struct stat sb;
  if (!path || !*path) return dml_error(DML_ERR_ARG, "empty HDF5 file name");
  if (stat(path, &sb)) return dml_error(DML_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  if (S_ISDIR(sb.st_mode)) return dml_error(DML_ERR_IO, "%s is a folder, not an HDF5 file", path);
  if (!S_ISREG(sb.st_mode)) return dml_error(DML_ERR_FORMAT, "%s is not a regular file (device or FIFO), not an HDF5 file", path);
  FILE *probe = fopen(path, "rb");
  if (!probe) return dml_error(DML_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  fclose(probe);
  htri_t is = H5Fis_hdf5(path);
  H5Eclear2(H5E_DEFAULT);
  if (is <= 0) return dml_error(DML_ERR_FORMAT, "%s is not an HDF5 file", path);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
  H5Pset_file_locking(fapl, 0, 1);
#endif
  H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  H5Eclear2(H5E_DEFAULT);
  if (f < 0) return dml_error(DML_ERR_FORMAT, "%s: HDF5 file cannot be opened (truncated or corrupt?)", path);
  *file = f;
  return DML_OK;
}

void dml_h5_close(dml_h5_id id) {
  if (id < 0) return;
  switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    default: break;
  }
  H5Eclear2(H5E_DEFAULT);
}

int dml_h5_has(dml_h5_id loc, const char *name) {
  if (!name || !*name) return 0;
  size_t n = strlen(name);
  char *p = xmalloc(n + 1);
  memcpy(p, name, n + 1);
  int ok = 1;
  /* H5Lexists needs every intermediate level to exist: test the prefixes in order */
  for (size_t i = 1; ok && i <= n; i++)
    if (p[i] == '/' || p[i] == 0) {
      char c = p[i];
      p[i] = 0;
      ok = H5Lexists(loc, p, H5P_DEFAULT) > 0;
      p[i] = c;
    }
  free(p);
  H5Eclear2(H5E_DEFAULT);
  return ok;
}

int dml_h5_is_group(dml_h5_id loc, const char *name) {
  if (!dml_h5_has(loc, name)) return 0;
  H5O_info_t oi;
  int g = H5Oget_info_by_name(loc, name, &oi, H5P_DEFAULT) >= 0 && oi.type == H5O_TYPE_GROUP;
  H5Eclear2(H5E_DEFAULT);
  return g;
}

/* "/full/name" of an open object (for messages), or `fallback` */
static void object_name(hid_t obj, const char *fallback, char *buf, size_t cap) {
  ssize_t n = H5Iget_name(obj, buf, cap);
  if (n <= 0) snprintf(buf, cap, "%s", fallback);
}

static enum dml_h5_class class_of(hid_t t) {
  switch (H5Tget_class(t)) {
    case H5T_INTEGER: return DML_H5_CLASS_INT;
    case H5T_FLOAT: return DML_H5_CLASS_FLOAT;
    case H5T_STRING: return DML_H5_CLASS_STRING;
    default: return DML_H5_CLASS_OTHER;
  }
}

static dml_status open_dataset(hid_t loc, const char *file, const char *name, hid_t *ds) {
  dml_h5_quiet();
  *ds = -1;
  if (!dml_h5_has(loc, name)) return dml_error(DML_ERR_FORMAT, "%s has no dataset '%s'", file, name);
  H5O_info_t oi;
  if (H5Oget_info_by_name(loc, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) {
    H5Eclear2(H5E_DEFAULT);
    return dml_error(DML_ERR_FORMAT, "%s: '%s' is not a dataset", file, name);
  }
  *ds = H5Dopen2(loc, name, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  if (*ds < 0) return dml_error(DML_ERR_FORMAT, "%s: cannot open dataset '%s' (corrupt header?)", file, name);
  return DML_OK;
}

static dml_status shape_of(hid_t ds, const char *file, const char *what, struct dml_h5_shape *s) {
  memset(s, 0, sizeof *s);
  hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
  dml_status st = DML_OK;
  int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  if (rank < 0 || t < 0) st = dml_error(DML_ERR_FORMAT, "%s: cannot read the shape of dataset '%s'", file, what);
  else if (rank > DML_DIMS_MAX_RANK)
    st = dml_error(DML_ERR_FORMAT, "%s: dataset '%s' has %d dimensions (at most %d supported)", file, what, rank,
                   DML_DIMS_MAX_RANK);
  else {
    hsize_t d[DML_DIMS_MAX_RANK] = {0};
    if (rank > 0 && H5Sget_simple_extent_dims(sp, d, NULL) < 0)
      st = dml_error(DML_ERR_FORMAT, "%s: cannot read the shape of dataset '%s'", file, what);
    s->rank = rank;
    for (int k = 0; k < rank; k++) s->dims[k] = d[k];
    s->cls = class_of(t);
  }
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  H5Eclear2(H5E_DEFAULT);
  return st;
}

dml_status dml_h5_shape(dml_h5_id loc, const char *file, const char *name, struct dml_h5_shape *s) {
  hid_t ds;
  dml_status st = open_dataset(loc, file, name, &ds);
  if (st) return st;
  char what[512];
  object_name(ds, name, what, sizeof what);
  st = shape_of(ds, file, what, s);
  H5Dclose(ds);
  return st;
}

/* The bytes dataset ds can yield from this file: what it stores (bounded by the file size), times the filter
 * expansion bound when it is compressed, and at least the fill-value allowance. */
static uint64_t stored_bytes(hid_t ds) {
  hsize_t stored = H5Dget_storage_size(ds);
  hid_t fid = H5Iget_file_id(ds);
  hsize_t fsize = 0;
  if (fid < 0 || H5Fget_filesize(fid, &fsize) < 0) fsize = 0;
  if (fid >= 0) H5Fclose(fid);
  if (stored > fsize) stored = fsize;
  hid_t dcpl = H5Dget_create_plist(ds);
  int nf = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0;
  if (dcpl >= 0) H5Pclose(dcpl);
  H5Eclear2(H5E_DEFAULT);
  uint64_t can = nf > 0 ? (uint64_t)stored * DML_H5_MAX_EXPANSION : (uint64_t)stored;
  return can > DML_H5_UNSTORED_ALLOWANCE ? can : DML_H5_UNSTORED_ALLOWANCE;
}

struct conv_flag { int hit; H5T_conv_except_t what; };

/* Abort a conversion that would clamp, truncate or invent a value (HDF5's default is to clamp silently). */
static H5T_conv_ret_t conv_cb(H5T_conv_except_t e, hid_t src, hid_t dst, void *sbuf, void *dbuf, void *ud) {
  (void)src; (void)dst; (void)sbuf; (void)dbuf;
  struct conv_flag *f = ud;
  if (e == H5T_CONV_EXCEPT_PRECISION) return H5T_CONV_UNHANDLED; /* int → float rounding: fine */
  if (!f->hit) f->what = e;
  f->hit = 1;
  return H5T_CONV_ABORT;
}

static const char *except_text(H5T_conv_except_t e) {
  switch (e) {
    case H5T_CONV_EXCEPT_RANGE_HI: return "a value above the range of";
    case H5T_CONV_EXCEPT_RANGE_LOW: return "a value below the range of";
    case H5T_CONV_EXCEPT_TRUNCATE: return "a fractional value for";
    case H5T_CONV_EXCEPT_PINF: return "+Inf for";
    case H5T_CONV_EXCEPT_NINF: return "-Inf for";
    case H5T_CONV_EXCEPT_NAN: return "NaN for";
    default: return "a value not representable as";
  }
}

static hid_t mem_type(enum dml_h5_mem m, size_t *size, const char **name) {
  switch (m) {
    case DML_H5_F32: *size = 4; *name = "float32"; return H5T_NATIVE_FLOAT;
    case DML_H5_F64: *size = 8; *name = "float64"; return H5T_NATIVE_DOUBLE;
    case DML_H5_I32: break;
  }
  *size = 4;
  *name = "int32";
  return H5T_NATIVE_INT32;
}

/* The common body: check the stated shape, then read into dst (allocated here when *dst is NULL). */
static dml_status read_checked(hid_t loc, const char *file, const char *name, enum dml_h5_mem mem, int want_rank,
                               const struct dml_dims_caps *caps, size_t want_count, struct dml_h5_shape *shape,
                               void **dst) {
  hid_t ds;
  dml_status st = open_dataset(loc, file, name, &ds);
  if (st) return st;
  char what[512], label[540];
  object_name(ds, name, what, sizeof what);
  snprintf(label, sizeof label, "dataset '%s'", what);
  struct dml_h5_shape s;
  size_t msize;
  const char *mname;
  hid_t mt = mem_type(mem, &msize, &mname);
  hid_t ft = -1, dxpl = -1;
  void *buf = NULL;
  st = shape_of(ds, file, what, &s);
  if (!st && s.cls != DML_H5_CLASS_INT && s.cls != DML_H5_CLASS_FLOAT)
    st = dml_error(DML_ERR_FORMAT, "%s: %s is not numeric (cannot be read as %s)", file, label, mname);
  if (!st && want_rank > 0 && s.rank != want_rank)
    st = dml_error(DML_ERR_FORMAT, "%s: %s has %d dimensions, expected %d", file, label, s.rank, want_rank);
  size_t count = 0, bytes = 0;
  if (!st) { /* stated shape × file element size against what the file stores */
    ft = H5Dget_type(ds);
    size_t fsize = ft >= 0 ? H5Tget_size(ft) : 0;
    st = dml_dims_check(file, label, s.rank, s.dims, fsize ? fsize : 1, "in the file", caps, stored_bytes(ds), NULL, NULL);
  }
  if (!st) st = dml_dims_check(file, label, s.rank, s.dims, msize, mname, caps, UINT64_MAX, &count, &bytes);
  if (!st && want_count != (size_t)-1 && count != want_count)
    st = dml_error(DML_ERR_FORMAT, "%s: %s has %zu elements, expected %zu", file, label, count, want_count);
  if (!st) {
    buf = *dst ? *dst : dml_dims_alloc(file, label, bytes, &st);
  }
  if (!st && count) {
    struct conv_flag cf = {0, H5T_CONV_EXCEPT_RANGE_HI};
    dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_type_conv_cb(dxpl, conv_cb, &cf);
    herr_t r = H5Dread(ds, mt, H5S_ALL, H5S_ALL, dxpl, buf);
    H5Eclear2(H5E_DEFAULT);
    if (cf.hit) st = dml_error(DML_ERR_FORMAT, "%s: %s holds %s %s", file, label, except_text(cf.what), mname);
    else if (r < 0) st = dml_error(DML_ERR_FORMAT, "%s: cannot read %s as %s (corrupt data?)", file, label, mname);
  }
  if (dxpl >= 0) H5Pclose(dxpl);
  if (ft >= 0) H5Tclose(ft);
  H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  if (st) {
    if (!*dst) free(buf);
    return st;
  }
  if (shape) *shape = s;
  *dst = buf;
  return DML_OK;
}

dml_status dml_h5_read_alloc(dml_h5_id loc, const char *file, const char *name, enum dml_h5_mem mem, int want_rank,
                             const struct dml_dims_caps *caps, struct dml_h5_shape *shape, void **out) {
  *out = NULL;
  return read_checked(loc, file, name, mem, want_rank, caps, (size_t)-1, shape, out);
}

dml_status dml_h5_read_into(dml_h5_id loc, const char *file, const char *name, enum dml_h5_mem mem, void *dst,
                            size_t count) {
  void *p = dst;
  return read_checked(loc, file, name, mem, 0, NULL, count, NULL, &p);
}
