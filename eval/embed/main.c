/* dml-embed — embed every image of a folder with a network: class = first-level subfolder of --images (sorted by
 * name; label = its index), images = every .jpg/.jpeg/.png below it (sorted paths; names with "._" skipped),
 * the reference's evaluation transform for the architecture (resize 256, centre crop, normalisation), batch
 * norm in inference mode. Writes an HDF5 file with `embeddings` (N×D float32; D = embed_dim, or the pooled
 * backbone features with --features), `labels` (N int32), `paths` (N strings, relative to --images) and the
 * attributes arch, pretrained.
 *
 *   dml-embed --arch resnet18 --pretrained resnet18.safetensors --images DIR --out emb.h5 --features
 */
#include <limits.h>
#include <hdf5.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/flags.h"
#include "common/output.h"
#include "common/progress.h"
#include "train/datasets/images/images.h"
#include "train/nn/nn.h"

static int is_image(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static dml_status write_h5(const char *path, const float *emb, const int32_t *labels, char **paths, int n, int D,
                           const char *arch, const char *pretrained, const char *precision, const char *isa) {
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
  const char *keys[4] = {"arch", "pretrained", "precision", "cpu_isa"}, *vals[4] = {arch, pretrained, precision, isa};
  for (int i = 0; i < 4; i++) {
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
  else r = dml_output_commit(tmp, path, "--out"); /* never over a device node or a folder */
  if (r) remove(tmp);
  free(tmp);
  return r;
}

int main(int argc, char **argv) {
  struct {
    char *arch, *pretrained, *images, *out, *backend, *precision;
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
    {"precision", DML_FLAG_STR, &o.precision, "fp32", "activations of the conv layers: fp32 or bf16 (embeddings stay float32)"},
  };
  struct dml_cli cli = {.prog = "dml-embed", .summary = "embed a folder of images with a network",
                        .flags = flags, .n_flags = sizeof flags / sizeof *flags};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  if (!o.images[0]) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--images DIR is required"));
  if (!o.out[0]) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--out FILE.h5 is required"));
  dml_exit_on_error(cli.prog, dml_output_check(o.out, "--out"));
  if (o.batch < 1) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--batch must be >= 1, got %d", o.batch));

  /* classes = sorted first-level subfolders; images = every .jpg/.jpeg/.png below each (sorted paths) */
  char root[PATH_MAX];
  if (!realpath(o.images, root)) dml_exit_on_error(cli.prog, dml_error(DML_ERR_IO, "cannot read --images folder %s", o.images));
  char **classes = NULL;
  int n_classes = 0, n_files = 0;
  dml_exit_on_error(cli.prog, dml_list_dir(root, root, 1, 0, &classes, &n_classes));
  char **files = NULL, **paths = NULL;
  int32_t *labels = NULL;
  for (int c = 0; c < n_classes; c++) {
    char *dir = dml_strfmt("%s/%s", root, classes[c]), **names;
    int n;
    dml_exit_on_error(cli.prog, dml_walk_files(root, dir, &names, &n));
    files = xrealloc(files, (size_t)(n_files + n + 1) * sizeof *files);
    labels = xrealloc(labels, (size_t)(n_files + n + 1) * sizeof *labels);
    for (int i = 0; i < n; i++)
      if (is_image(names[i]) && !strstr(names[i], "._")) {
        labels[n_files] = c;
        files[n_files++] = dml_strfmt("%s/%s", classes[c], names[i]);
      }
    dml_free_names(names, n);
    free(dir);
  }
  if (!n_files)
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "no .jpg/.jpeg/.png images in class subfolders of %s", o.images));
  paths = xmalloc((size_t)n_files * sizeof *paths);
  for (int i = 0; i < n_files; i++) paths[i] = dml_strfmt("%s/%s", root, files[i]);

  struct dml_transform norm = dml_transform_for(o.arch, "base", 1);
  norm.exact = 1; /* dml-embed keeps PIL's pixels */
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
  printf("dml-embed: %d images in %d classes, %s%s, %d×%d crop, D = %d\n", n_files, n_classes, o.arch,
         o.features ? " (pooled features)" : "", norm.crop, norm.crop, D);

  struct dml_tape t;
  int prec = dml_prec_parse(o.precision);
  if (prec < 0 || (prec == DML_BF16 && !dml_backend_supports(be, DML_OP_BF16)))
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, prec < 0 ? "unknown --precision '%s' (known: fp32, bf16)"
                                          : "--precision %s: no bf16 convolution on this backend/CPU", o.precision));
  dml_tape_init(&t, be, dml_network_arena_bytes_for(&net, o.batch, prec, 0));
  t.record = 0;
  t.prec = prec;
  float *x = xmalloc((size_t)o.batch * in_dim * sizeof *x), *emb = xmalloc((size_t)n_files * D * sizeof *emb);
  struct dml_progress pr;
  dml_progress_init(&pr, "embed", (size_t)n_files, "img", stderr);
  /* decode workers fill the next batch while the network runs on this one */
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  dml_loader_t *L = dml_loader_create(ncpu > 1 ? (int)ncpu : 1, NULL);
  float *xb[2] = {x, xmalloc((size_t)o.batch * in_dim * sizeof *x)};
  struct dml_batch_req req[2];
  int ticket[2];
  for (int s = 0, k = 0; s < n_files; s += o.batch, k ^= 1) {
    int c = n_files - s < o.batch ? n_files - s : o.batch;
    if (s == 0) {
      req[k] = (struct dml_batch_req){.paths = (const char *const *)paths + s, .count = c, .tf = &norm, .out = xb[k]};
      ticket[k] = dml_loader_submit(L, &req[k]);
    }
    if (s + o.batch < n_files) {
      int s2 = s + o.batch, c2 = n_files - s2 < o.batch ? n_files - s2 : o.batch;
      req[k ^ 1] = (struct dml_batch_req){.paths = (const char *const *)paths + s2, .count = c2, .tf = &norm, .out = xb[k ^ 1]};
      ticket[k ^ 1] = dml_loader_submit(L, &req[k ^ 1]);
    }
    dml_status st = dml_loader_wait(L, ticket[k]);
    if (st) {
      dml_loader_free(L); /* joins the workers before exiting */
      dml_exit_on_error(cli.prog, st);
    }
    dml_tape_reset(&t);
    struct dml_tensor *xin = dml_tape_input(&t, xb[k], c, in_dim);
    struct dml_tensor *z = dml_network_forward(&net, &t, xin);
    be->fn.to_host(be->ctx, emb + (size_t)s * D, z->data, (size_t)c * D * sizeof *emb);
    dml_progress_update(&pr, (size_t)(s + c), NULL);
  }
  dml_loader_free(L);
  free(xb[1]);
  dml_progress_finish(&pr, NULL);
  /* bf16 embeddings differ between ISAs: say which one ran, as dml-train's cpu_isa */
  const char *isa = dml_backend_conv_isa(be, prec);
  printf("dml-embed: cpu_isa %s (%s convolutions)\n", isa ? isa : "none", dml_prec_name(prec));
  dml_exit_on_error(cli.prog, write_h5(o.out, emb, labels, files, n_files, D, o.arch, o.pretrained,
                                       dml_prec_name(prec), isa ? isa : "none"));
  printf("dml-embed: wrote %s (embeddings %d×%d, labels, paths)\n", o.out, n_files, D);
  dml_tape_free(&t);
  dml_network_free(&net);
  dml_params_free(&ps);
  dml_backend_free(be);
  for (int i = 0; i < n_files; i++) free(files[i]), free(paths[i]);
  dml_free_names(classes, n_classes);
  free(files);
  free(paths);
  free(labels);
  free(x);
  free(emb);
  dml_flags_free(&cli);
  return 0;
}
