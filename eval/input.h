/* input — where dml-eval's embeddings come from: a run record (embeddings/<latest|best>/<split>, through the
 * runrecord module) or any HDF5 file with `embeddings` (N, D) and `labels` (N) at the root or in a group named
 * after the split. Internal to eval/ (used by dml-eval; the library API takes arrays). */
#ifndef DML_EVAL_INPUT_H
#define DML_EVAL_INPUT_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct dml_eval_input {
  float *emb;       /* (n, d) */
  int32_t *labels;  /* (n) */
  size_t n, d;
  int is_record;    /* 1: a run record */
  char where[256];  /* what was read, e.g. "embeddings/latest/test" */
};

/* split: the record split or the plain file's group (NULL/"" or a missing group in a plain file: the root).
 * Errors: missing/unreadable file, not HDF5, missing datasets, shape mismatches — one clear line each. */
dml_status dml_eval_read_input(const char *path, const char *split, int best, struct dml_eval_input *in);
/* The number of distinct labels of a record's `train` split (the reference's k-means k), or 0 when absent. */
int dml_eval_train_classes(const char *path);
/* Distinct values among labels (n). */
int dml_eval_count_classes(const int32_t *labels, size_t n);
void dml_eval_input_free(struct dml_eval_input *in);
#endif
