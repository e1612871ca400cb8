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
#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(hid_t) == sizeof(dml_h5_id), "hid_t is int64_t since HDF5 1.10");

/* deflate cannot expand more than 1032:1; other filters stay well below this bound */
#define DML_H5_MAX_EXPANSION 1100u
/* Any dataset may read this many bytes of fill value that the file does not store (a run-record series that
 * gained a key late has unallocated leading chunks); beyond it, the bytes must be in the file. */
#define DML_H5_UNSTORED_ALLOWANCE ((uint64_t)16 << 20)

void dml_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static dml_status precheck(const char *path, int layout_only);

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
  dml_status pre = precheck(path, 1); /* the attributes of a plain file are never read */
  if (pre) return pre;
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

static dml_status check_object(hid_t loc, const char *file, const char *name, uint64_t addr);

/* 1 when every level of the link path `name` ("a/b/c") under loc is a hard link, 0 when one is missing (or is a
 * soft or external link, which dml never writes), -1 with a dml_error when the object header a level points to
 * is forged: each level's header is checked (check_header, layout only) before libhdf5 loads it. */
static int walk(hid_t loc, const char *file, const char *name) {
  dml_h5_quiet();
  if (!name || !*name) return 0;
  size_t n = strlen(name);
  char *p = xmalloc(n + 1);
  memcpy(p, name, n + 1);
  int ok = 1;
  for (size_t i = 1; ok > 0 && i <= n; i++)
    if (p[i] == '/' || p[i] == 0) {
      char c = p[i];
      p[i] = 0;
      H5L_info_t li;
      ok = H5Lexists(loc, p, H5P_DEFAULT) > 0 && H5Lget_info(loc, p, &li, H5P_DEFAULT) >= 0 && li.type == H5L_TYPE_HARD;
      if (ok && check_object(loc, file, p, li.u.address)) ok = -1;
      p[i] = c;
    }
  free(p);
  H5Eclear2(H5E_DEFAULT);
  return ok;
}

int dml_h5_has(dml_h5_id loc, const char *name) {
  char file[512];
  if (H5Fget_name(loc, file, sizeof file) < 0) snprintf(file, sizeof file, "?");
  H5Eclear2(H5E_DEFAULT);
  int r = walk(loc, file, name);
  if (r < 0) dml_error_clear();
  return r > 0;
}

dml_status dml_h5_open_group(dml_h5_id loc, const char *file, const char *name, dml_h5_id *group) {
  *group = -1;
  int r = walk(loc, file, name);
  if (r < 0) return DML_ERR_FORMAT;
  if (!r) return DML_OK;
  H5O_info_t oi;
  if (H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 && oi.type == H5O_TYPE_GROUP)
    *group = H5Gopen2(loc, name, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return DML_OK;
}

int dml_h5_is_group(dml_h5_id loc, const char *name) {
  if (!dml_h5_has(loc, name)) return 0;
  H5O_info_t oi;
  int g = H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 && oi.type == H5O_TYPE_GROUP;
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
  int r = walk(loc, file, name);
  if (r < 0) return DML_ERR_FORMAT;
  if (!r) return dml_error(DML_ERR_FORMAT, "%s has no dataset '%s'", file, name);
  H5O_info_t oi;
  if (H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) {
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

/* A dataset stored in its header (compact layout) keeps its bytes in the layout message, and libhdf5 1.10.8 copies
 * the dataset's size out of them without comparing (heap overflow in H5D__compact_readvv, found by
 * fuzz_runrecord): the stored size must be exactly what the shape needs. */
static dml_status layout_ok(hid_t ds, const char *file, const char *what, uint64_t need) {
  hid_t dcpl = H5Dget_create_plist(ds);
  H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
  if (dcpl >= 0) H5Pclose(dcpl);
  hsize_t stored = lay == H5D_COMPACT ? H5Dget_storage_size(ds) : 0;
  H5Eclear2(H5E_DEFAULT);
  if (lay == H5D_LAYOUT_ERROR) return dml_error(DML_ERR_FORMAT, "%s: %s has no readable storage layout", file, what);
  if (lay == H5D_COMPACT && stored != need)
    return dml_error(DML_ERR_FORMAT, "%s: %s is stored compact with %llu bytes but its shape needs %llu", file, what,
                     (unsigned long long)stored, (unsigned long long)need);
  return DML_OK;
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
    size_t fbytes = 0;
    st = dml_dims_check(file, label, s.rank, s.dims, fsize ? fsize : 1, "in the file", caps, stored_bytes(ds), NULL, &fbytes);
    if (!st) st = layout_ok(ds, file, label, fbytes);
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

// ---------------------------------------------------------------------------------------------- strings
/* Variable-length strings live in the file's global heap: an element stores (length u32, collection address,
 * object index u32) and the bytes sit in a "GCOL" collection. libhdf5 1.10.8 trusts all of it (H5HG_read copies a
 * forged object size into a buffer sized from the element's length, and indexes its object table with a forged
 * index unchecked), so dml never lets libhdf5 read variable-length data. It asks libhdf5 only for the raw
 * elements, through a conversion to an opaque type of the same size that copies nothing (registered once, below),
 * and decodes them here from the collections, each checked first:
 *   collection: "GCOL", version 1, size within the file; objects (index u16, refcount u16, reserved u32,
 *   size, data padded to 8 bytes) each inside the collection, no index twice, the walk stopping at the free-space
 *   object (index 0) or the end; element: its collection valid, its index present, the object exactly `length`
 *   bytes (what libhdf5 writes for a string). */

#define HEAP_TAG "dml: raw variable-length element"
#define HEAP_MAX_COLLECTION ((uint64_t)1 << 30)

static int has_heap_tag(hid_t t) {
  char *tag = H5Tget_class(t) == H5T_OPAQUE ? H5Tget_tag(t) : NULL;
  int ok = tag && !strcmp(tag, HEAP_TAG);
  if (tag) H5free_memory(tag);
  return ok;
}

/* The conversion from a variable-length string in the file to HEAP_TAG: the elements already are their raw
 * bytes in the conversion buffer, so there is nothing to do but accept exactly this pair of equal sizes. */
static herr_t raw_elements(hid_t src, hid_t dst, H5T_cdata_t *cd, size_t n, size_t stride, size_t bstride, void *buf,
                           void *bkg, hid_t dxpl) {
  (void)n; (void)bstride; (void)buf; (void)bkg; (void)dxpl;
  switch (cd->command) {
    case H5T_CONV_INIT:
      cd->need_bkg = H5T_BKG_NO;
      return H5Tis_variable_str(src) > 0 && has_heap_tag(dst) && H5Tget_size(src) == H5Tget_size(dst) ? 0 : -1;
    case H5T_CONV_CONV: return stride == 0 && H5Tget_size(src) == H5Tget_size(dst) ? 0 : -1;
    default: return 0;
  }
}

static pthread_once_t raw_once = PTHREAD_ONCE_INIT;
static herr_t raw_registered = -1;
static void register_raw(void) {
  hid_t vs = H5Tcopy(H5T_C_S1), op = H5Tcreate(H5T_OPAQUE, 16);
  H5Tset_size(vs, H5T_VARIABLE);
  H5Tset_tag(op, HEAP_TAG);
  raw_registered = H5Tregister(H5T_PERS_SOFT, "dml_raw_vlen_elements", vs, op, raw_elements);
  H5Tclose(vs);
  H5Tclose(op);
  H5Eclear2(H5E_DEFAULT);
}

struct heap_obj { uint64_t off, size; int present; };
struct heap_col { uint64_t addr; uint8_t *bytes; struct heap_obj *obj; size_t nobj; };

/* What decoding the elements of one file needs; collections are read once each. */
struct heap {
  const char *file, *what;
  int fd;
  uint64_t fsize, base;
  size_t sa, ss, elem; /* sizes of an address and of a length in this file; raw element size */
  struct heap_col *col;
  size_t ncol, last;
};

static uint64_t get_le(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
  return v;
}

static size_t align8(size_t x) { return (x + 7) & ~(size_t)7; }

static dml_status heap_open(struct heap *h, hid_t loc, const char *file, const char *what) {
  memset(h, 0, sizeof *h);
  h->file = file;
  h->what = what;
  h->fd = -1;
  pthread_once(&raw_once, register_raw);
  if (raw_registered < 0) return dml_error(DML_ERR_IO, "%s: cannot read %s (HDF5 refused dml's string decoder)", file, what);
  hid_t fid = H5Iget_file_id(loc), fcpl = fid >= 0 ? H5Fget_create_plist(fid) : -1, fapl = fid >= 0 ? H5Fget_access_plist(fid) : -1;
  hsize_t ub = 0;
  void *handle = NULL;
  int ok = fcpl >= 0 && fapl >= 0 && H5Pget_sizes(fcpl, &h->sa, &h->ss) >= 0 && H5Pget_userblock(fcpl, &ub) >= 0 &&
           H5Pget_driver(fapl) == H5FD_SEC2 && H5Fget_vfd_handle(fid, H5P_DEFAULT, &handle) >= 0 && handle;
  if (ok) h->fd = *(int *)handle;
  if (fapl >= 0) H5Pclose(fapl);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (fid >= 0) H5Fclose(fid);
  H5Eclear2(H5E_DEFAULT);
  struct stat sb;
  if (!ok || fstat(h->fd, &sb)) return dml_error(DML_ERR_FORMAT, "%s: cannot read %s (file properties unavailable)", file, what);
  if ((h->sa != 2 && h->sa != 4 && h->sa != 8) || (h->ss != 2 && h->ss != 4 && h->ss != 8))
    return dml_error(DML_ERR_FORMAT, "%s: cannot read %s: the file states %zu-byte addresses and %zu-byte lengths", file,
                     what, h->sa, h->ss);
  h->fsize = (uint64_t)sb.st_size;
  h->base = ub;
  h->elem = 4 + h->sa + 4;
  return DML_OK;
}

static void heap_close(struct heap *h) {
  for (size_t i = 0; i < h->ncol; i++) {
    free(h->col[i].bytes);
    free(h->col[i].obj);
  }
  free(h->col);
  h->col = NULL;
  h->ncol = 0;
}

static dml_status heap_bad(const struct heap *h, uint64_t addr, const char *why) {
  return dml_error(DML_ERR_FORMAT, "%s: %s: forged string storage (global heap collection at %llu %s)", h->file, h->what,
                   (unsigned long long)addr, why);
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off) {
  uint8_t *p = buf;
  while (n) {
    ssize_t r = pread(fd, p, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
    off += (uint64_t)r;
  }
  return 0;
}

/* Read and check the collection at file address addr (relative to the base address). */
static dml_status heap_load(struct heap *h, uint64_t addr, struct heap_col **out) {
  for (size_t k = 0; k < h->ncol; k++) {
    size_t i = (h->last + k) % h->ncol;
    if (h->col[i].addr == addr) {
      h->last = i;
      *out = &h->col[i];
      return DML_OK;
    }
  }
  size_t hdr = align8(8 + h->ss), ohdr = align8(8 + h->ss);
  uint8_t head[16];
  uint64_t at;
  if (addr > UINT64_MAX - h->base || (at = h->base + addr) > h->fsize || h->fsize - at < hdr) return heap_bad(h, addr, "lies beyond the end of the file");
  if (pread_all(h->fd, head, hdr, at)) return dml_error(DML_ERR_IO, "%s: %s: cannot read the file: %s", h->file, h->what, strerror(errno));
  if (memcmp(head, "GCOL", 4)) return heap_bad(h, addr, "has no GCOL signature");
  if (head[4] != 1) return heap_bad(h, addr, "has an unknown version");
  uint64_t size = get_le(head + 8, h->ss);
  if (size < hdr || size > h->fsize - at || size > HEAP_MAX_COLLECTION) return heap_bad(h, addr, "states a size beyond the file");
  struct heap_col c = {addr, xmalloc(size), NULL, 0};
  if (pread_all(h->fd, c.bytes, size, at)) {
    free(c.bytes);
    return dml_error(DML_ERR_IO, "%s: %s: cannot read the file: %s", h->file, h->what, strerror(errno));
  }
  const char *bad = NULL;
  for (uint64_t p = hdr; !bad && size - p >= ohdr;) {
    const uint8_t *o = c.bytes + p;
    unsigned idx = (unsigned)get_le(o, 2);
    uint64_t osz = get_le(o + 8, h->ss);
    if (idx == 0) break; /* free space: the last object */
    if (osz > size - p - ohdr || align8(osz) > size - p - ohdr) { bad = "has an object that overruns it"; break; }
    if (idx >= c.nobj) {
      size_t n = idx + 1;
      c.obj = xrealloc(c.obj, n * sizeof *c.obj);
      memset(c.obj + c.nobj, 0, (n - c.nobj) * sizeof *c.obj);
      c.nobj = n;
    }
    if (c.obj[idx].present) { bad = "lists an object twice"; break; }
    c.obj[idx] = (struct heap_obj){p + ohdr, osz, 1};
    p += ohdr + align8(osz);
  }
  if (bad) {
    free(c.bytes);
    free(c.obj);
    return heap_bad(h, addr, bad);
  }
  h->col = xrealloc(h->col, (h->ncol + 1) * sizeof *h->col);
  h->col[h->ncol] = c;
  h->last = h->ncol++;
  *out = &h->col[h->last];
  return DML_OK;
}

/* Decode one raw element into a new string (*out NULL for a null element, which HDF5 reads as no string). */
static dml_status heap_string(struct heap *h, const uint8_t *raw, char **out) {
  *out = NULL;
  uint64_t len = get_le(raw, 4), addr = get_le(raw + 4, h->sa), idx = get_le(raw + 4 + h->sa, 4);
  if (addr == 0) return DML_OK; /* a null string: HDF5 stores no heap object for it */
  struct heap_col *c = NULL;
  dml_status st = heap_load(h, addr, &c);
  if (st) return st;
  if (idx >= c->nobj || !c->obj[idx].present) return heap_bad(h, addr, "lacks the object a string refers to");
  if (c->obj[idx].size != len) return heap_bad(h, addr, "holds an object whose size differs from the string's length");
  char *s = xmalloc((size_t)len + 1);
  memcpy(s, c->bytes + c->obj[idx].off, (size_t)len);
  s[len] = 0;
  *out = s;
  return DML_OK;
}

static hid_t raw_type(const struct heap *h) {
  hid_t t = H5Tcreate(H5T_OPAQUE, h->elem);
  if (t >= 0) H5Tset_tag(t, HEAP_TAG);
  return t;
}

// ---------------------------------------------------------------------------------------------- attributes
/* Every attribute call of libhdf5 (H5Aexists, H5Aopen, H5Aiterate ...) first decodes all attribute messages of
 * the object header, and libhdf5 1.10.8 trusts the sizes inside them: a dataspace size of 2056 in a 56-byte
 * message made H5O__attr_decode copy the value from past the header chunk (heap-use-after-free under
 * H5Aexists, found by fuzz_runrecord). So before any attribute call dml walks the object header itself
 * (version 1 or 2, every continuation chunk) and checks each attribute message: name, datatype, dataspace and
 * value inside the message, the name terminated; attributes in shared or dense storage (which dml never writes)
 * are refused. */

#define OH_MAX_CHUNKS 64
#define OH_MAX_CHUNK ((uint64_t)1 << 24)

struct oh_walk {
  const char *file, *what;
  int fd;
  uint64_t fsize, base;
  size_t sa, ss;
  int layout_only; /* check chunks only, not the attribute messages (files whose attributes dml never reads) */
};

static dml_status oh_bad(const struct oh_walk *w, const char *why) {
  return dml_error(DML_ERR_FORMAT, "%s: the object header of %s is corrupt (%s)", w->file, w->what, why);
}

/* Read `len` bytes at relative address addr into a new buffer. */
static dml_status oh_read(const struct oh_walk *w, uint64_t addr, uint64_t len, uint8_t **out) {
  *out = NULL;
  uint64_t at;
  if (addr > UINT64_MAX - w->base || (at = w->base + addr) > w->fsize || len > w->fsize - at || len > OH_MAX_CHUNK)
    return oh_bad(w, "a chunk or heap it points to lies beyond the end of the file");
  uint8_t *b = xmalloc(len ? len : 1);
  if (pread_all(w->fd, b, len, at)) {
    free(b);
    return dml_error(DML_ERR_IO, "%s: cannot read %s: %s", w->file, w->what, strerror(errno));
  }
  *out = b;
  return DML_OK;
}

static uint64_t pad8(uint64_t x) { return (x + 7) & ~(uint64_t)7; }

/* Points of a dataspace message (ds, n bytes); UINT64_MAX when it cannot be decoded. */
static uint64_t space_points(const struct oh_walk *w, const uint8_t *ds, uint64_t n) {
  if (n < 4) return UINT64_MAX;
  unsigned ver = ds[0], rank = ds[1], flags = ds[2];
  uint64_t at;
  if (ver == 1) at = 8;
  else if (ver == 2) at = 4;
  else return UINT64_MAX;
  if (rank > 32) return UINT64_MAX;
  uint64_t need = at + (uint64_t)rank * w->ss * ((flags & 1) ? 2 : 1) + ((ver == 1 && (flags & 2)) ? (uint64_t)rank * 4 : 0);
  if (need > n) return UINT64_MAX;
  if (ver == 2 && ds[3] == 2) return 0; /* null dataspace */
  uint64_t pts = 1;
  for (unsigned k = 0; k < rank; k++)
    if (!dml_u64_mul(pts, get_le(ds + at + (uint64_t)k * w->ss, w->ss), &pts)) return UINT64_MAX;
  return pts;
}

/* Bytes of the properties of a datatype message of class c without nested types; -1 for the other classes. */
static int simple_props(unsigned c) {
  switch (c) {
    case 0: return 4;  /* fixed-point: bit offset, precision */
    case 1: return 12; /* floating-point: offsets, sizes, bias */
    case 3: return 0;  /* string */
    case 4: return 4;  /* bitfield */
    default: return -1;
  }
}

/* A datatype message (t, n bytes) dml reads in attributes: integer, float, string, bitfield, opaque with a
 * terminated tag, or variable-length of one of those (libhdf5 decodes compound and enum member names with an
 * unbounded strdup, so those are not handed to it). */
static int simple_type(const uint8_t *t, uint64_t n) {
  if (n < 8) return 0;
  unsigned c = t[0] & 0x0f;
  int pr = simple_props(c);
  if (pr >= 0) return n >= 8u + (unsigned)pr;
  if (c == 5) return n > 8 && memchr(t + 8, 0, n - 8) != NULL;
  if (c == 9) {
    if (n < 16) return 0;
    int bp = simple_props(t[8] & 0x0f);
    return bp >= 0 && n >= 16u + (unsigned)bp;
  }
  return 0;
}

/* One attribute message (m, n bytes). */
static dml_status check_attr_msg(const struct oh_walk *w, const uint8_t *m, uint64_t n) {
  if (n < 9) return oh_bad(w, "an attribute message is too short");
  unsigned ver = m[0], flags = m[1];
  uint64_t name = get_le(m + 2, 2), dt = get_le(m + 4, 2), ds = get_le(m + 6, 2);
  uint64_t at = ver == 3 ? 9 : 8;
  if (ver < 1 || ver > 3) return oh_bad(w, "an attribute message has an unknown version");
  if (ver > 1 && (flags & 3)) return oh_bad(w, "an attribute uses a shared datatype or dataspace, which dml does not read");
  uint64_t pn = ver == 1 ? pad8(name) : name, pt = ver == 1 ? pad8(dt) : dt, ps = ver == 1 ? pad8(ds) : ds;
  if (name < 1 || dt < 8 || ds < 4 || at + pn + pt + ps > n) return oh_bad(w, "an attribute's parts overrun its message");
  const uint8_t *nm = m + at, *t = nm + pn, *sp = t + pt;
  if (!memchr(nm, 0, name)) return oh_bad(w, "an attribute name is not terminated");
  if (!simple_type(t, dt)) return oh_bad(w, "an attribute has a datatype dml does not read (compound, enum, array ...)");
  uint64_t elem = get_le(t + 4, 4);
  /* variable-length: a heap id on disk, the size libhdf5 sizes the value from and then copies (a smaller stated
   * size overflowed in H5A__read) */
  if ((t[0] & 0x0f) == 9 && elem != 4 + w->sa + 4) return oh_bad(w, "a variable-length attribute states a wrong size");
  uint64_t pts = space_points(w, sp, ds), bytes;
  if (pts == UINT64_MAX || !dml_u64_mul(pts, elem, &bytes) || bytes > n - (at + pn + pt + ps))
    return oh_bad(w, "an attribute's value overruns its message");
  return DML_OK;
}

/* A group's symbol table (old-style group): the B-tree node at btree starts "TREE" for group nodes, and the local
 * heap at heap ("HEAP", version 0) keeps its data segment inside the file (a forged segment size made libhdf5
 * copy into a failed allocation under H5Lexists, found by fuzz_plain). */
static dml_status check_stab(const struct oh_walk *w, uint64_t btree, uint64_t heap) {
  uint8_t *b = NULL;
  dml_status st = oh_read(w, btree, 8, &b);
  if (!st && (memcmp(b, "TREE", 4) || b[4] != 0)) st = oh_bad(w, "its symbol table B-tree has no TREE signature");
  free(b);
  b = NULL;
  if (!st) st = oh_read(w, heap, 8 + 2 * w->ss + w->sa, &b);
  if (!st) {
    uint64_t size = get_le(b + 8, w->ss), free_at = get_le(b + 8 + w->ss, w->ss), data = get_le(b + 8 + 2 * w->ss, w->sa);
    uint64_t undef = w->ss == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * w->ss)) - 1;
    if (memcmp(b, "HEAP", 4) || b[4] != 0) st = oh_bad(w, "its local heap has no HEAP signature");
    else if (size > w->fsize || data > w->fsize || w->base + data > w->fsize - size)
      st = oh_bad(w, "its local heap lies beyond the end of the file");
    else if (free_at != 1 && free_at != undef && free_at >= size) st = oh_bad(w, "its local heap's free list is outside it");
  }
  free(b);
  return st;
}

/* Check every attribute message of the object header at relative address addr. */
static dml_status check_header(const struct oh_walk *w, uint64_t addr) {
  uint8_t *b = NULL;
  dml_status st = oh_read(w, addr, 16, &b);
  if (st) return st;
  int v2 = !memcmp(b, "OHDR", 4);
  unsigned hflags = v2 ? b[5] : 0;
  uint64_t prefix, len;
  if (!v2) {
    if (b[0] != 1) {
      free(b);
      return oh_bad(w, "unknown version");
    }
    prefix = 16;
    len = get_le(b + 8, 4);
  } else {
    if (b[4] != 2) {
      free(b);
      return oh_bad(w, "unknown version");
    }
    prefix = 6 + ((hflags & 0x20) ? 16 : 0) + ((hflags & 0x10) ? 4 : 0);
    size_t szb = (size_t)1 << (hflags & 3);
    free(b);
    if ((st = oh_read(w, addr, prefix + szb, &b))) return st;
    len = get_le(b + prefix, szb);
    prefix += szb;
  }
  free(b);
  /* the chunks to walk: (address of the messages, their length) */
  uint64_t ca[OH_MAX_CHUNKS], cl[OH_MAX_CHUNKS], dt_elem = 0, chunk_elem = 0;
  size_t nc = 1, mh = v2 ? 4 + ((hflags & 0x04) ? 2 : 0) : 8;
  ca[0] = addr + prefix;
  cl[0] = len;
  for (size_t c = 0; !st && c < nc; c++) {
    if ((st = oh_read(w, ca[c], cl[c], &b))) break;
    uint64_t end = cl[c], p = 0;
    if (v2 && c > 0) { /* "OCHK" + messages + checksum */
      if (end < 8 || memcmp(b, "OCHK", 4)) st = oh_bad(w, "a continuation chunk has no OCHK signature");
      p = 4;
      end = end >= 8 ? end - 4 : 0;
    }
    while (!st && end - p >= mh) {
      unsigned type = v2 ? b[p] : (unsigned)get_le(b + p, 2);
      uint64_t size = get_le(b + p + (v2 ? 1 : 2), 2);
      unsigned mflags = b[p + (v2 ? 3 : 4)];
      p += mh;
      if (size > end - p) {
        st = oh_bad(w, "a message overruns its chunk");
        break;
      }
      const uint8_t *m = b + p;
      if (type == 0x03 && size >= 8) dt_elem = get_le(m + 4, 4);
      if (type == 0x08 && size >= 3 && m[0] == 3 && m[1] == 2) { /* layout v3, chunked: the last "dimension" is */
        unsigned nd = m[2];                                        /* the element size libhdf5 sizes chunks by */
        if (nd < 1 || size < 3 + w->sa + 4 * (uint64_t)nd) st = oh_bad(w, "a short chunked layout message");
        else chunk_elem = get_le(m + 3 + w->sa + 4 * (uint64_t)(nd - 1), 4);
        if (st) break;
      }
      if (type == 0x11) { /* symbol table: its local heap and B-tree, which libhdf5 loads to look up names */
        if (size < 2 * w->sa) st = oh_bad(w, "a short symbol table message");
        else st = check_stab(w, get_le(m, w->sa), get_le(m + w->sa, w->sa));
      } else if (w->layout_only && type != 0x10) {
        /* only the chunks */
      } else if (type == 0x0c) {
        if (mflags & 0x02) st = oh_bad(w, "an attribute is stored as a shared message, which dml does not read");
        else st = check_attr_msg(w, m, size);
      } else if (type == 0x15) { /* attribute info: dense storage when a fractal heap is named */
        uint64_t at = 2 + ((size > 1 && (m[1] & 1)) ? 2 : 0);
        if (size < at + w->sa) st = oh_bad(w, "a short attribute info message");
        else if (get_le(m + at, w->sa) != (w->sa == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * w->sa)) - 1))
          st = oh_bad(w, "attributes in dense storage, which dml does not read");
      } else if (type == 0x10) { /* continuation */
        if (size < w->sa + w->ss) st = oh_bad(w, "a short continuation message");
        else if (nc == OH_MAX_CHUNKS) st = oh_bad(w, "too many continuation chunks");
        else {
          ca[nc] = get_le(m, w->sa);
          cl[nc++] = get_le(m + w->sa, w->ss);
        }
      }
      p += size;
    }
    free(b);
    b = NULL;
  }
  if (!st && chunk_elem && dt_elem && chunk_elem != dt_elem)
    st = oh_bad(w, "its chunks are sized for a different element size than its datatype's");
  return st;
}

/* Check the attribute messages of object loc (see above); the error names the file and the object. */
static dml_status check_attrs(hid_t loc, const char *file) {
  H5O_info_t oi;
  char obj[256];
  object_name(loc, "?", obj, sizeof obj);
  if (H5Oget_info2(loc, &oi, H5O_INFO_BASIC) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return dml_error(DML_ERR_FORMAT, "%s: cannot locate the object header of '%s'", file, obj);
  }
  struct heap h;
  char what[300];
  snprintf(what, sizeof what, "'%s'", obj);
  dml_status st = heap_open(&h, loc, file, what);
  if (st) return st;
  struct oh_walk w = {file, what, h.fd, h.fsize, h.base, h.sa, h.ss, 0};
  st = check_header(&w, oi.addr);
  heap_close(&h);
  return st;
}

static dml_status precheck(const char *path, int layout_only) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return dml_error(DML_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  struct stat sb;
  uint8_t b[96];
  uint64_t fsize = fstat(fd, &sb) ? 0 : (uint64_t)sb.st_size, at = 0;
  static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  int found = 0;
  /* the superblock sits at 0, 512, 1024, 2048 ... (after a user block) */
  for (uint64_t a = 0; !found && a + sizeof b <= fsize; a = a ? 2 * a : 512)
    if (!pread_all(fd, b, sizeof b, a) && !memcmp(b, sig, 8)) {
      found = 1;
      at = a;
    }
  dml_status st = DML_OK;
  if (!found) st = dml_error(DML_ERR_FORMAT, "%s: no HDF5 superblock found (truncated or not HDF5?)", path);
  struct oh_walk w = {path, "the root group", fd, fsize, at, 0, 0, layout_only};
  uint64_t root = 0;
  if (!st) {
    unsigned ver = b[8];
    if (ver <= 1) {
      w.sa = b[13];
      w.ss = b[14];
      root = 24 + (ver == 1 ? 4 : 0) + 5 * (uint64_t)w.sa;
    } else if (ver <= 3) {
      w.sa = b[9];
      w.ss = b[10];
      root = 12 + 3 * (uint64_t)w.sa;
    } else {
      st = dml_error(DML_ERR_FORMAT, "%s: unknown HDF5 superblock version %u", path, ver);
    }
    if (!st && ((w.sa != 2 && w.sa != 4 && w.sa != 8) || (w.ss != 2 && w.ss != 4 && w.ss != 8)))
      st = dml_error(DML_ERR_FORMAT, "%s: the superblock states %zu-byte addresses and %zu-byte lengths", path, w.sa, w.ss);
    if (!st && root + w.sa > sizeof b) st = dml_error(DML_ERR_FORMAT, "%s: corrupt superblock", path);
  }
  if (!st) st = check_header(&w, get_le(b + root, w.sa));
  close(fd);
  return st;
}

dml_status dml_h5_precheck(const char *path) { return precheck(path, 0); }

/* Check the object header at relative address addr (reached from loc by link name) before libhdf5 loads it. */
static dml_status check_object(hid_t loc, const char *file, const char *name, uint64_t addr) {
  struct heap h;
  char what[300];
  snprintf(what, sizeof what, "'%s'", name);
  dml_status st = heap_open(&h, loc, file, what);
  if (st) return st;
  struct oh_walk w = {file, what, h.fd, h.fsize, h.base, h.sa, h.ss, 1};
  st = check_header(&w, addr);
  heap_close(&h);
  return st;
}

/* 1 when loc has an attribute `name`, 0 when not, -1 with a dml_error when its object header is forged. */
static int attr_exists(hid_t loc, const char *file, const char *name) {
  if (check_attrs(loc, file)) return -1;
  htri_t e = H5Aexists(loc, name);
  H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

dml_status dml_h5_attr_str(dml_h5_id loc, const char *file, const char *name, char **out) {
  dml_h5_quiet();
  *out = NULL;
  int ex = attr_exists(loc, file, name);
  if (ex < 0) return DML_ERR_FORMAT;
  if (!ex) return DML_OK;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  if (a < 0) return DML_OK;
  char obj[256], what[400];
  object_name(loc, "?", obj, sizeof obj);
  snprintf(what, sizeof what, "attribute '%s' of '%s'", name, obj);
  hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
  dml_status st = DML_OK;
  if (ft >= 0 && sp >= 0 && H5Tget_class(ft) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == 1) {
    if (H5Tis_variable_str(ft) > 0) {
      struct heap h;
      uint8_t raw[24];
      st = heap_open(&h, loc, file, what);
      hid_t mt = st ? -1 : raw_type(&h);
      if (!st && (mt < 0 || H5Aread(a, mt, raw) < 0)) st = dml_error(DML_ERR_FORMAT, "%s: cannot read %s (corrupt?)", file, what);
      if (!st) st = heap_string(&h, raw, out);
      if (mt >= 0) H5Tclose(mt);
      heap_close(&h);
    } else if (H5Tget_size(ft) <= H5Aget_storage_size(a) && H5Tget_size(ft) < ((size_t)1 << 26)) {
      /* a fixed-length string stores its bytes in the attribute: a stated size beyond them is forged (a fuzzed
       * record asked for 12.8 GB here) */
      size_t n = H5Tget_size(ft);
      char *buf = xcalloc(n + 1, 1);
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, n + 1);
      if (H5Aread(a, mt, buf) >= 0) *out = xstrdup(buf);
      H5Tclose(mt);
      free(buf);
    }
  }
  if (sp >= 0) H5Sclose(sp);
  if (ft >= 0) H5Tclose(ft);
  H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  return st;
}

int dml_h5_attr_ll(dml_h5_id loc, const char *file, const char *name, long long *v) {
  dml_h5_quiet();
  int ex = attr_exists(loc, file, name);
  if (ex < 0) return -1;
  if (!ex) return 0;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
  long long x = 0;
  int ok = H5Tget_class(ft) == H5T_INTEGER && H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, H5T_NATIVE_LLONG, &x) >= 0;
  if (ok) *v = x;
  if (sp >= 0) H5Sclose(sp);
  if (ft >= 0) H5Tclose(ft);
  H5Aclose(a);
  H5Eclear2(H5E_DEFAULT);
  return ok;
}

dml_status dml_h5_read_strings(dml_h5_id loc, const char *file, const char *name, size_t n, char ***out) {
  *out = NULL;
  int r = walk(loc, file, name);
  if (r < 0) return DML_ERR_FORMAT;
  if (!r) return DML_OK;
  hid_t ds;
  dml_status st = open_dataset(loc, file, name, &ds);
  if (st) return st;
  char path[512], what[540];
  object_name(ds, name, path, sizeof path);
  snprintf(what, sizeof what, "dataset '%s'", path);
  hid_t ft = H5Dget_type(ds), mt = -1;
  struct dml_h5_shape s;
  st = shape_of(ds, file, path, &s);
  int usable = !st && ft >= 0 && H5Tis_variable_str(ft) > 0 && s.rank == 1 && s.dims[0] == n;
  struct heap h = {0};
  uint8_t *raw = NULL;
  size_t bytes = 0;
  if (usable) st = heap_open(&h, ds, file, what);
  if (usable && !st) st = dml_dims_check(file, what, 1, s.dims, h.elem, "in the file", NULL, stored_bytes(ds), NULL, &bytes);
  if (usable && !st) st = layout_ok(ds, file, what, bytes);
  if (usable && !st && n) {
    raw = dml_dims_alloc(file, what, bytes, &st);
    mt = st ? -1 : raw_type(&h);
    if (!st && (mt < 0 || H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0))
      st = dml_error(DML_ERR_FORMAT, "%s: cannot read %s (corrupt?)", file, what);
  }
  if (usable && !st) {
    char **v = xcalloc(n + 1, sizeof *v);
    for (size_t i = 0; !st && i < n; i++) {
      st = heap_string(&h, raw + i * h.elem, &v[i]);
      if (!st && !v[i]) v[i] = xstrdup("");
    }
    if (st) {
      for (size_t i = 0; i < n; i++) free(v[i]);
      free(v);
    } else {
      *out = v;
    }
  }
  heap_close(&h);
  free(raw);
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  return st;
}
