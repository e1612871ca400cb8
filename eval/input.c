/* input — see input.h. Run records go through common/runrecord; plain files are read here with the HDF5 C API
 * through the common HDF5 layer (common/h5.h: a plain file is not a run record, so the runrecord module refuses it). */
#include "eval/input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/h5.h"
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

/* A plain file: `embeddings` (N, D) and `labels` (N) or (N, 1), at the root or in the group `split`, read through
 * the common HDF5 layer (shape caps, what the file stores, no clamping of labels). */
static dml_status read_plain(const char *path, const char *split, struct dml_eval_input *in) {
  dml_h5_id f;
  dml_status st = dml_h5_open_read(path, &f);
  if (st) return st;
  char *prefix = xstrdup("");
  if (split && *split && dml_h5_is_group(f, split)) {
    free(prefix);
    prefix = dml_strfmt("%s/", split);
  }
  char *en = dml_strfmt("%sembeddings", prefix), *ln = dml_strfmt("%slabels", prefix);
  struct dml_h5_shape se, sl;
  if (!dml_h5_has(f, en))
    st = dml_error(DML_ERR_FORMAT, "%s has no dataset '%s' (expected a run record or an HDF5 file with embeddings (N, D) and labels (N))", path, en);
  else if (!dml_h5_has(f, ln))
    st = dml_error(DML_ERR_FORMAT, "%s has no dataset '%s' (the labels of '%s')", path, ln, en);
  if (!st) st = dml_h5_shape(f, path, en, &se);
  if (!st) st = dml_h5_shape(f, path, ln, &sl);
  if (!st) {
    if (se.rank != 2) st = dml_error(DML_ERR_FORMAT, "%s: '%s' must be 2-D (N, D), it has %d dimensions", path, en, se.rank);
    else if (sl.rank != 1 && !(sl.rank == 2 && sl.dims[1] == 1))
      st = dml_error(DML_ERR_FORMAT, "%s: '%s' must be 1-D (N), it has %d dimensions", path, ln, sl.rank);
    else if (sl.dims[0] != se.dims[0])
      st = dml_error(DML_ERR_FORMAT, "%s: shape mismatch: %llu embeddings but %llu labels", path,
                     (unsigned long long)se.dims[0], (unsigned long long)sl.dims[0]);
  }
  if (!st) st = dml_h5_read_alloc(f, path, en, DML_H5_F32, 2, NULL, NULL, (void **)&in->emb);
  if (!st) st = dml_h5_read_alloc(f, path, ln, DML_H5_I32, 0, NULL, NULL, (void **)&in->labels);
  if (!st) {
    in->n = se.dims[0];
    in->d = se.dims[1];
    snprintf(in->where, sizeof in->where, "%s", en);
  }
  free(en);
  free(ln);
  free(prefix);
  dml_h5_close(f);
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
