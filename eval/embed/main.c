/* dml-embed — embed every image of a folder with a network: class = first-level subfolder of --images (sorted by
 * name; label = its index), images = every .jpg/.jpeg/.png below it (sorted paths; names with "._" skipped),
 * the reference's evaluation transform for the architecture (resize 256, centre crop, normalisation), batch
 * norm in inference mode. Writes an HDF5 file with `embeddings` (N×D float32; D = embed_dim, or the pooled
 * backbone features with --features), `labels` (N int32), `paths` (N strings, relative to --images) and the
 * attributes arch, pretrained.
 *
 *   dml-embed --arch resnet18 --pretrained resnet18.safetensors --images DIR --out emb.h5 --features
 */
#include <dirent.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/flags.h"
#include "common/progress.h"
#include "eval/embed/image.h"
#include "train/nn/nn.h"

struct list {
  char **v;
  int n, cap;
};

static void push(struct list *l, char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
  }
  l->v[l->n++] = s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_image(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* every image file below dir (relative paths prefixed with rel) */
static dml_status walk(const char *root, const char *rel, struct list *out) {
  char *dir = dml_strfmt("%s/%s", root, rel);
  DIR *d = opendir(dir);
  if (!d) {
    dml_status st = dml_error(DML_ERR_IO, "cannot read folder %s", dir);
    free(dir);
    return st;
  }
  struct dirent *e;
  struct list sub = {0};
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strstr(e->d_name, "._")) continue;
    char *r = dml_strfmt("%s/%s", rel, e->d_name), *full = dml_strfmt("%s/%s", root, r);
    struct stat sb;
    if (!stat(full, &sb) && S_ISDIR(sb.st_mode)) push(&sub, r);
    else if (is_image(e->d_name)) push(out, r);
    else free(r);
    free(full);
  }
  closedir(d);
  free(dir);
  dml_status st = DML_OK;
  for (int i = 0; i < sub.n; i++) {
    if (!st) st = walk(root, sub.v[i], out);
    free(sub.v[i]);
  }
  free(sub.v);
  return st;
}

static dml_status write_h5(const char *path, const float *emb, const int32_t *labels, char **paths, int n, int D,
                           const char *arch, const char *pretrained) {
  char *tmp = dml_strfmt("%s.tmp", path);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    free(tmp);
    return dml_error(DML_ERR_IO, "cannot create %s", path);
  }
  herr_t bad = 0;
  hsize_t d2[2] = {(hsize_t)n, (hsize_t)D}, d1[1] = {(hsize_t)n};
  hid_t s = H5Screate_simple(2, d2, NULL);
  hid_t ds = H5Dcreate2(f, "embeddings", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  bad |= ds < 0 || H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, emb) < 0;
  H5Dclose(ds);
  H5Sclose(s);
  s = H5Screate_simple(1, d1, NULL);
  ds = H5Dcreate2(f, "labels", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  bad |= ds < 0 || H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) < 0;
  H5Dclose(ds);
  hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, H5T_VARIABLE);
  H5Tset_cset(st, H5T_CSET_UTF8);
  ds = H5Dcreate2(f, "paths", st, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  bad |= ds < 0 || H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, paths) < 0;
  H5Dclose(ds);
  H5Sclose(s);
  const char *keys[2] = {"arch", "pretrained"}, *vals[2] = {arch, pretrained};
  for (int i = 0; i < 2; i++) {
    hid_t as = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, keys[i], st, as, H5P_DEFAULT, H5P_DEFAULT);
    bad |= a < 0 || H5Awrite(a, st, &vals[i]) < 0;
    H5Aclose(a);
    H5Sclose(as);
  }
  H5Tclose(st);
  bad |= H5Fclose(f) < 0;
  dml_status r = DML_OK;
  if (bad) r = dml_error(DML_ERR_IO, "cannot write %s", path);
  else if (rename(tmp, path)) r = dml_error(DML_ERR_IO, "cannot rename %s to %s", tmp, path);
  if (r) remove(tmp);
  free(tmp);
  return r;
}

int main(int argc, char **argv) {
  struct {
    char *arch, *pretrained, *images, *out, *backend;
    int features, embed_dim, batch, seed;
  } o;
  const struct dml_flag flags[] = {
    {"arch", DML_FLAG_STR, &o.arch, "resnet50_frozen_normalize", "network (mlp, resnet18, resnet50 + suffixes)"},
    {"pretrained", DML_FLAG_STR, &o.pretrained, "", "weights (.safetensors, torchvision names); empty: random init"},
    {"images", DML_FLAG_STR, &o.images, "", "folder of class subfolders with .jpg/.jpeg/.png images"},
    {"out", DML_FLAG_STR, &o.out, "", "output HDF5 file (embeddings, labels, paths)"},
    {"features", DML_FLAG_BOOL, &o.features, "0", "store the pooled backbone features instead of the embedding"},
    {"embed_dim", DML_FLAG_INT, &o.embed_dim, "128", "embedding size (the head last_linear)"},
    {"batch", DML_FLAG_INT, &o.batch, "32", "images per forward pass"},
    {"seed", DML_FLAG_INT, &o.seed, "0", "seed of the random initialisation of tensors the weights lack"},
    {"backend", DML_FLAG_STR, &o.backend, "cpu", "compute backend: cpu, cuda, auto"},
  };
  struct dml_cli cli = {.prog = "dml-embed", .summary = "embed a folder of images with a network",
                        .flags = flags, .n_flags = sizeof flags / sizeof *flags};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  if (!o.images[0]) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--images DIR is required"));
  if (!o.out[0]) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--out FILE.h5 is required"));
  if (o.batch < 1) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--batch must be >= 1, got %d", o.batch));

  /* classes = sorted first-level subfolders */
  struct list classes = {0}, files = {0};
  DIR *d = opendir(o.images);
  if (!d) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "cannot read --images folder %s", o.images));
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char *full = dml_strfmt("%s/%s", o.images, e->d_name);
    struct stat sb;
    if (!stat(full, &sb) && S_ISDIR(sb.st_mode)) push(&classes, xstrdup(e->d_name));
    free(full);
  }
  closedir(d);
  qsort(classes.v, (size_t)classes.n, sizeof *classes.v, cmp_str);
  int32_t *labels = NULL;
  for (int c = 0; c < classes.n; c++) {
    int before = files.n;
    dml_exit_on_error(cli.prog, walk(o.images, classes.v[c], &files));
    qsort(files.v + before, (size_t)(files.n - before), sizeof *files.v, cmp_str);
    labels = xrealloc(labels, (size_t)(files.n ? files.n : 1) * sizeof *labels);
    for (int i = before; i < files.n; i++) labels[i] = c;
  }
  if (!files.n)
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "no .jpg/.jpeg/.png images in class subfolders of %s", o.images));

  struct dml_image_norm norm = dml_image_norm_for_arch(o.arch);
  int in_dim = 3 * norm.crop * norm.crop;
  struct dml_backend *be = dml_backend_select(o.backend, stderr);
  if (!be) dml_exit_on_error(cli.prog, DML_ERR_ARG);
  struct dml_params ps;
  dml_params_init(&ps, be);
  struct dml_network net;
  dml_exit_on_error(cli.prog, dml_network_init(&net, &ps, o.arch, in_dim, o.embed_dim));
  dml_exit_on_error(cli.prog, dml_network_set_input(&net, 3, norm.crop, norm.crop));
  dml_params_alloc(&ps);
  dml_network_reset_parameters(&net, (uint64_t)o.seed);
  if (o.pretrained[0]) dml_exit_on_error(cli.prog, dml_network_load(&net, o.pretrained));
  net.features_only = o.features;
  int D = o.features ? net.feat_dim : o.embed_dim;
  printf("dml-embed: %d images in %d classes, %s%s, %d×%d crop, D = %d\n", files.n, classes.n, o.arch,
         o.features ? " (pooled features)" : "", norm.crop, norm.crop, D);

  struct dml_tape t;
  dml_tape_init(&t, be, dml_network_arena_bytes(&net, o.batch) / 2 + (64u << 20));
  t.record = 0;
  float *x = xmalloc((size_t)o.batch * in_dim * sizeof *x), *emb = xmalloc((size_t)files.n * D * sizeof *emb);
  struct dml_progress pr;
  dml_progress_init(&pr, "embed", (size_t)files.n, "img", stderr);
  for (int s = 0; s < files.n; s += o.batch) {
    int c = files.n - s < o.batch ? files.n - s : o.batch;
    for (int i = 0; i < c; i++) {
      char *full = dml_strfmt("%s/%s", o.images, files.v[s + i]);
      uint8_t *rgb;
      int w, h;
      dml_exit_on_error(cli.prog, dml_image_load(full, &rgb, &w, &h));
      dml_image_eval_transform(rgb, w, h, &norm, x + (size_t)i * in_dim);
      free(rgb);
      free(full);
    }
    dml_tape_reset(&t);
    struct dml_tensor *xin = dml_tape_input(&t, x, c, in_dim);
    struct dml_tensor *z = dml_network_forward(&net, &t, xin);
    be->fn.to_host(be->ctx, emb + (size_t)s * D, z->data, (size_t)c * D * sizeof *emb);
    dml_progress_update(&pr, (size_t)(s + c), NULL);
  }
  dml_progress_finish(&pr, NULL);
  dml_exit_on_error(cli.prog, write_h5(o.out, emb, labels, files.v, files.n, D, o.arch, o.pretrained));
  printf("dml-embed: wrote %s (embeddings %d×%d, labels, paths)\n", o.out, files.n, D);
  dml_tape_free(&t);
  dml_network_free(&net);
  dml_params_free(&ps);
  dml_backend_free(be);
  for (int i = 0; i < files.n; i++) free(files.v[i]);
  for (int i = 0; i < classes.n; i++) free(classes.v[i]);
  free(files.v);
  free(classes.v);
  free(labels);
  free(x);
  free(emb);
  dml_flags_free(&cli);
  return 0;
}
