/* safetensors — network weights in and out of .safetensors files with torchvision tensor names
 * (e.g. timm/resnet50.tv_in1k, or torchvision's state_dict written by safetensors.torch.save_file).
 * Load contract (nn.h): every backbone parameter and buffer must be in the file, F32, with its shape; the
 * head last_linear.* is taken when present with the right shape and kept (freshly initialised) otherwise;
 * any other file tensor is an error naming it, except the ImageNet classifier fc.* (DenseNet's classifier.*),
 * GoogLeNet's aux1/aux2.* and BN's num_batches_tracked.
 * Files are read through the one safetensors module (common/safetensors.h), which validates the whole header
 * (offsets, shapes, dtypes) before any data is read: a bad file is DML_ERR_FORMAT naming it and the tensor. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/safetensors.h"
#include "train/checkpoint.h"
#include "train/nn/nn.h"

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

/* the parameter or buffer named `name`, NULL if none */
static struct dml_param *lookup(const struct dml_network *net, const char *name) {
  const struct dml_param *p = dml_params_find(net->ps, name);
  if (!p && net->buffers) p = dml_params_find(net->buffers, name);
  return (struct dml_param *)p;
}

static struct dml_backend *backend_of(const struct dml_network *net) { return net->ps->be; }

dml_status dml_network_load(struct dml_network *net, const char *path) {
  struct dml_safetensors sf;
  dml_status st = dml_safetensors_open(path, &sf);
  if (st) return dml_error_prefix(st, "weights");
  /* every file tensor: known, ignorable, or an error */
  float *host = NULL;
  for (size_t i = 0; !st && i < sf.n; i++) {
    const struct dml_st_tensor *e = &sf.t[i];
    const char *key = e->name;
    struct dml_param *p = lookup(net, key);
    if (!p) {
      if (!strncmp(key, "fc.", 3) || ends_with(key, "num_batches_tracked") || !strncmp(key, "aux1.", 5) ||
          !strncmp(key, "aux2.", 5) || !strncmp(key, "classifier.", 11))
        continue; /* the ImageNet classifier and GoogLeNet's auxiliary classifiers are not used */
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' is not a tensor of --arch %s", path, key, net->arch);
      break;
    }
    int same = e->ndim == p->ndim;
    for (int k = 0; same && k < p->ndim; k++) same = e->shape[k] == (uint64_t)p->shape[k];
    int head = !strncmp(key, "last_linear.", 12);
    if (!same && head) continue; /* a head of another size: keep ours */
    if (strcmp(e->dtype, "F32")) {
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32", path, key, e->dtype);
      break;
    }
    if (!same) {
      char want[200] = "", got[200];
      for (int k = 0; k < p->ndim; k++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", k ? ", " : "", p->shape[k]);
      dml_dims_str(got, sizeof got, e->ndim, e->shape);
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected (%s)", path, key, got, want);
      break;
    }
    host = xrealloc(host, p->n * sizeof *host);
    st = dml_safetensors_read_f32(&sf, e, host, p->n);
    if (!st) backend_of(net)->fn.to_device(backend_of(net)->ctx, p->t.data, host, p->n * sizeof *host);
  }
  /* every backbone tensor must have come */
  struct dml_params *tabs[2] = {net->ps, net->buffers};
  for (int tb = 0; !st && tb < 2; tb++)
    for (int i = 0; tabs[tb] && i < tabs[tb]->n && !st; i++) {
      const char *name = tabs[tb]->p[i].name;
      if (!strncmp(name, "last_linear.", 12)) continue;
      if (!dml_safetensors_find(&sf, name)) st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
    }
  free(host);
  dml_safetensors_close(&sf);
  return st;
}

dml_status dml_network_save(const struct dml_network *net, const char *path) {
  const struct dml_params *tabs[2] = {net->ps, net->buffers};
  size_t n = 0;
  for (int tb = 0; tb < 2; tb++) n += tabs[tb] ? (size_t)tabs[tb]->n : 0;
  struct dml_ckpt_tensor *t = xcalloc(n ? n : 1, sizeof *t);
  size_t k = 0;
  struct dml_backend *be = backend_of(net);
  for (int tb = 0; tb < 2; tb++)
    for (int i = 0; tabs[tb] && i < tabs[tb]->n; i++) {
      const struct dml_param *p = &tabs[tb]->p[i];
      t[k].name = p->name;
      t[k].ndim = p->ndim;
      memcpy(t[k].shape, p->shape, sizeof t[k].shape);
      t[k].data = xmalloc(p->n * sizeof(float));
      be->fn.to_host(be->ctx, t[k].data, p->t.data, p->n * sizeof(float));
      k++;
    }
  const char *keys[] = {"arch"}, *vals[] = {net->arch};
  dml_status st = dml_checkpoint_write(path, t, n, keys, vals, 1);
  for (size_t i = 0; i < n; i++) free(t[i].data);
  free(t);
  return st;
}
