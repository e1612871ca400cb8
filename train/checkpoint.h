/* checkpoint — training state as .safetensors (the same format as pretrained weights): every parameter by its
 * table name, optimizer moments as "<name>.adam_m"/"<name>.adam_v", criterion parameters as "criterion.<name>",
 * and the counters (epoch, Adam step, best storage value, seed) in the "__metadata__" strings.
 * Written to "<path>.tmp" and renamed, so a kill never leaves a torn file.
 *
 *   struct dml_ckpt_tensor t[] = {{"fc1.weight", data, 2, {512, 784}}, ...};
 *   dml_checkpoint_write("run/checkpoint.safetensors", t, n, meta_keys, meta_values, n_meta);
 *   dml_checkpoint_read(path, t, n, ...)   // fills data; a missing, extra or mis-shaped tensor is an error naming it
 */
#ifndef DML_CHECKPOINT_H
#define DML_CHECKPOINT_H
#include <stddef.h>

#include "common/error.h"

struct dml_ckpt_tensor {
  const char *name;
  float *data;       /* host, float32 */
  int ndim;
  int shape[4];
};

dml_status dml_checkpoint_write(const char *path, const struct dml_ckpt_tensor *t, size_t n, const char *const *meta_keys,
                                const char *const *meta_values, size_t n_meta);
/* Reads every tensor of t (by name, shapes must match; a tensor in the file but not in t is an error unless
 * allow_extra). meta_out[i] receives a heap copy of the metadata value of meta_keys[i] (NULL if absent). */
dml_status dml_checkpoint_read(const char *path, const struct dml_ckpt_tensor *t, size_t n, int allow_extra,
                               const char *const *meta_keys, char **meta_out, size_t n_meta);
#endif
