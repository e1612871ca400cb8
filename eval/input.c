/* input — see input.h. Run records go through common/runrecord; plain files are read here with the HDF5 C API
 * (the only other HDF5 reader in dml: a plain file is not a run record, so the runrecord module refuses it). */
#include "eval/input.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/runrecord.h"

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

int dml_eval_count_classes(const int32_t *l, size_t n) {
  int32_t *s = xmalloc((n ? n : 1) * sizeof *s);
  memcpy(s, l, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_i32);
  int k = 0;
  for (size_t i = 0; i < n; i++)
    if (!i || s[i] != s[i - 1]) k++;
  free(s);
  return k;
}

void dml_eval_input_free(struct dml_eval_input *in) {
  free(in->emb);
  free(in->labels);
  memset(in, 0, sizeof *in);
}

int dml_eval_train_classes(const char *path) {
  if (!dml_runrecord_is_record(path)) return 0;
  float *e = NULL;
  int32_t *l = NULL;
  size_t n = 0, d = 0;
  if (dml_runrecord_read_embeddings(path, "train", 0, &e, &n, &d, &l, NULL)) {
    dml_error_clear();
    return 0;
  }
  int k = dml_eval_count_classes(l, n);
  free(e);
  free(l);
  return k;
}

static int has_link(hid_t loc, const char *name) { return H5Lexists(loc, name, H5P_DEFAULT) > 0; }

static dml_status read_plain(const char *path, const char *split, struct dml_eval_input *in) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (H5Fis_hdf5(path) <= 0) return dml_error(DML_ERR_FORMAT, "%s is not an HDF5 file", path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return dml_error(DML_ERR_IO, "cannot open %s", path);
  char prefix[200] = "";
  if (split && *split && has_link(f, split)) {
    hid_t g = H5Gopen2(f, split, H5P_DEFAULT); /* fails (quietly) when `split` is not a group */
    if (g >= 0) {
      H5Gclose(g);
      snprintf(prefix, sizeof prefix, "%s/", split);
    }
  }
  char en[256], ln[256];
  snprintf(en, sizeof en, "%sembeddings", prefix);
  snprintf(ln, sizeof ln, "%slabels", prefix);
  dml_status st = DML_OK;
  hid_t de = -1, dl = -1;
  if (!has_link(f, en) || (de = H5Dopen2(f, en, H5P_DEFAULT)) < 0)
    st = dml_error(DML_ERR_FORMAT, "%s has no dataset '%s' (expected a run record or an HDF5 file with embeddings (N, D) and labels (N))", path, en);
  else if (!has_link(f, ln) || (dl = H5Dopen2(f, ln, H5P_DEFAULT)) < 0)
    st = dml_error(DML_ERR_FORMAT, "%s has no dataset '%s' (the labels of '%s')", path, ln, en);
  if (!st) {
    hid_t se = H5Dget_space(de), sl = H5Dget_space(dl);
    int re = H5Sget_simple_extent_ndims(se), rl = H5Sget_simple_extent_ndims(sl);
    hsize_t de_dims[8] = {0}, dl_dims[8] = {0};
    if (re > 0 && re <= 8) H5Sget_simple_extent_dims(se, de_dims, NULL);
    if (rl > 0 && rl <= 8) H5Sget_simple_extent_dims(sl, dl_dims, NULL);
    H5Sclose(se);
    H5Sclose(sl);
    hid_t te = H5Dget_type(de), tl = H5Dget_type(dl);
    H5T_class_t ce = H5Tget_class(te), cl = H5Tget_class(tl);
    H5Tclose(te);
    H5Tclose(tl);
    if (re != 2) st = dml_error(DML_ERR_FORMAT, "%s: '%s' must be 2-D (N, D), it has %d dimensions", path, en, re);
    else if (rl != 1 && !(rl == 2 && dl_dims[1] == 1))
      st = dml_error(DML_ERR_FORMAT, "%s: '%s' must be 1-D (N), it has %d dimensions", path, ln, rl);
    else if (dl_dims[0] != de_dims[0])
      st = dml_error(DML_ERR_FORMAT, "%s: shape mismatch: %llu embeddings but %llu labels", path,
                     (unsigned long long)de_dims[0], (unsigned long long)dl_dims[0]);
    else if (ce != H5T_FLOAT && ce != H5T_INTEGER)
      st = dml_error(DML_ERR_FORMAT, "%s: '%s' is not numeric", path, en);
    else if (cl != H5T_INTEGER && cl != H5T_FLOAT)
      st = dml_error(DML_ERR_FORMAT, "%s: '%s' is not numeric", path, ln);
    else {
      in->n = de_dims[0];
      in->d = de_dims[1];
      in->emb = xmalloc(in->n * in->d * sizeof *in->emb + 8);
      in->labels = xmalloc(in->n * sizeof *in->labels + 8);
      if (H5Dread(de, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, in->emb) < 0 ||
          H5Dread(dl, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, in->labels) < 0)
        st = dml_error(DML_ERR_FORMAT, "%s: cannot read '%s'/'%s' as float32/int32", path, en, ln);
      snprintf(in->where, sizeof in->where, "%s", en);
    }
  }
  if (de >= 0) H5Dclose(de);
  if (dl >= 0) H5Dclose(dl);
  H5Fclose(f);
  return st;
}

dml_status dml_eval_read_input(const char *path, const char *split, int best, struct dml_eval_input *in) {
  memset(in, 0, sizeof *in);
  if (access(path, R_OK)) return dml_error(DML_ERR_IO, "cannot read %s: no such file or no permission", path);
  dml_status st;
  if (dml_runrecord_is_record(path)) {
    in->is_record = 1;
    snprintf(in->where, sizeof in->where, "embeddings/%s/%s", best ? "best" : "latest", split);
    st = dml_runrecord_read_embeddings(path, split, best, &in->emb, &in->n, &in->d, &in->labels, NULL);
  } else {
    st = read_plain(path, split, in);
  }
  if (st) dml_eval_input_free(in);
  return st;
}
