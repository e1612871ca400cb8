/* safetensors — network weights in and out of .safetensors files with torchvision tensor names
 * (e.g. timm/resnet50.tv_in1k, or torchvision's state_dict written by safetensors.torch.save_file).
 * Load contract (nn.h): every backbone parameter and buffer must be in the file, F32, with its shape; the
 * head last_linear.* is taken when present with the right shape and kept (freshly initialised) otherwise;
 * any other file tensor is an error naming it, except the ImageNet classifier fc.*, GoogLeNet's aux1/aux2.* and
 * BN's num_batches_tracked.
 * Files are read with bounds checks on the header (never trusts offsets): a bad file is DML_ERR_FORMAT. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
  FILE *f = fopen(path, "rb");
  if (!f) return dml_error(DML_ERR_IO, "cannot open weights %s: %s", path, strerror(errno));
  dml_status st = DML_OK;
  unsigned char le[8];
  uint64_t hl = 0;
  if (fread(le, 1, 8, f) != 8) st = dml_error(DML_ERR_FORMAT, "%s: not a safetensors file (too short)", path);
  for (int k = 0; k < 8; k++) hl |= (uint64_t)le[k] << (8 * k);
  if (!st && (hl < 2 || hl > (100u << 20)))
    st = dml_error(DML_ERR_FORMAT, "%s: not a safetensors file (header size %llu)", path, (unsigned long long)hl);
  fseek(f, 0, SEEK_END);
  long fsize = ftell(f);
  char *js = NULL;
  json_t *h = NULL;
  if (!st) {
    js = xmalloc(hl + 1);
    if (fseek(f, 8, SEEK_SET) || fread(js, 1, hl, f) != hl) st = dml_error(DML_ERR_FORMAT, "%s: truncated header", path);
    js[hl] = 0;
  }
  json_error_t je;
  if (!st && !(h = json_loadb(js, hl, 0, &je)))
    st = dml_error(DML_ERR_FORMAT, "%s: bad safetensors header: %s", path, je.text);
  if (!st && !json_is_object(h)) st = dml_error(DML_ERR_FORMAT, "%s: safetensors header is not an object", path);
  long data0 = 8 + (long)hl;
  /* every file tensor: known, ignorable, or an error */
  const char *key;
  json_t *v;
  int nloaded = 0;
  float *host = NULL;
  if (!st) json_object_foreach(h, key, v) {
    if (!strcmp(key, "__metadata__")) continue;
    struct dml_param *p = lookup(net, key);
    if (!p) {
      if (!strncmp(key, "fc.", 3) || ends_with(key, "num_batches_tracked") || !strncmp(key, "aux1.", 5) ||
          !strncmp(key, "aux2.", 5))
        continue; /* the ImageNet classifier and GoogLeNet's auxiliary classifiers are not used */
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' is not a tensor of --arch %s", path, key, net->arch);
      break;
    }
    const char *dtype = json_string_value(json_object_get(v, "dtype"));
    json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
    int same = json_array_size(shape) == (size_t)p->ndim;
    for (int k = 0; same && k < p->ndim; k++) same = json_integer_value(json_array_get(shape, k)) == p->shape[k];
    int head = !strncmp(key, "last_linear.", 12);
    if (!same && head) continue; /* a head of another size: keep ours */
    if (!dtype || strcmp(dtype, "F32")) {
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32", path, key, dtype ? dtype : "?");
      break;
    }
    if (!same) {
      char want[64] = "", got[64] = "";
      for (int k = 0; k < p->ndim; k++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", k ? "," : "", p->shape[k]);
      for (size_t k = 0; k < json_array_size(shape); k++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? "," : "",
                 (long long)json_integer_value(json_array_get(shape, k)));
      st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' has shape (%s), expected (%s)", path, key, got, want);
      break;
    }
    json_int_t b = json_integer_value(json_array_get(offs, 0)), e = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || e - b != (json_int_t)(p->n * 4) || data0 + e > fsize) {
      st = dml_error(DML_ERR_FORMAT, "%s: data of tensor '%s' is out of bounds or of the wrong size", path, key);
      break;
    }
    host = xrealloc(host, p->n * sizeof *host);
    if (fseek(f, data0 + (long)b, SEEK_SET) || fread(host, 4, p->n, f) != p->n) {
      st = dml_error(DML_ERR_FORMAT, "%s: data of tensor '%s' is truncated", path, key);
      break;
    }
    backend_of(net)->fn.to_device(backend_of(net)->ctx, p->t.data, host, p->n * sizeof *host);
    nloaded++;
  }
  /* every backbone tensor must have come */
  struct dml_params *tabs[2] = {net->ps, net->buffers};
  for (int tb = 0; !st && tb < 2; tb++)
    for (int i = 0; tabs[tb] && i < tabs[tb]->n && !st; i++) {
      const char *name = tabs[tb]->p[i].name;
      if (!strncmp(name, "last_linear.", 12)) continue;
      if (!json_object_get(h, name)) st = dml_error(DML_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
    }
  free(host);
  json_decref(h);
  free(js);
  fclose(f);
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
