/* test_image — JPEG/PNG decoding and the evaluation transform against PIL + torchvision
 * (tests/reference/engine_images.py): for a colour JPEG, a grayscale JPEG, an RGBA PNG and a palette PNG that
 * is upscaled, Resize(256) + CenterCrop(224) must equal PIL's crop exactly (uint8, stored losslessly), and three
 * values of the normalised tensor must equal torchvision's within 1e-6. Then dml-embed end to end on the
 * fixture folder (argv[1] = the program): output shapes, labels, sorted paths, embeddings equal to an
 * in-process forward of the same images; --features width; a missing folder exits non-zero. */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/datasets/images/images.h"
#include "tests/testutil.h"
#include "train/nn/nn.h"

static const char *names[] = {"a_class/color.jpg", "a_class/gray.JPEG", "b_class/rgba.png", "b_class/sub/palette.png"};
enum { NI = 4, CROP = 224 };

static int transform_checks(float *all) {
  int fails = 0;
  struct dml_transform n = dml_transform_for("resnet18", "base", 1);
  for (int i = 0; i < NI; i++) {
    char *p = dml_strfmt("tests/fixtures/engine/images/%s", names[i]);
    char *cp = dml_strfmt("tests/fixtures/engine/%s.crop.png", strrchr(names[i], '/') + 1);
    struct dml_image im, rm;
    if (dml_image_decode(p, 1, 0, &im) || dml_image_decode(cp, 1, 0, &rm)) {
      fprintf(stderr, "%s\n", dml_error_message());
      return 1;
    }
    float *x = all + (size_t)i * 3 * CROP * CROP;
    uint8_t *ref = rm.rgb;
    int w = im.w, h = im.h;
    dml_image_eval_transform(im.rgb, w, h, &n, x);
    /* undo the normalisation to the uint8 level and compare with PIL's crop exactly */
    size_t bad = 0, np = (size_t)CROP * CROP;
    double *got = malloc(3 * np * sizeof *got), *want = malloc(3 * np * sizeof *want);
    for (int c = 0; c < 3; c++)
      for (size_t k = 0; k < np; k++) {
        got[c * np + k] = x[c * np + k];
        want[c * np + k] = (ref[k * 3 + c] / 255.0f - n.mean[c]) / n.std[c];
        bad += fabs(got[c * np + k] - want[c * np + k]) > 1e-5;
      }
    char *what = dml_strfmt("%s: decode + resize + crop equals PIL/torchvision (%d×%d)", names[i], w, h);
    fails += expect_close(what, got, want, 3 * np, 1e-5, 0);
    if (bad) fprintf(stderr, "  %zu of %zu values differ from PIL\n", bad, 3 * np);
    free(what);
    free(got);
    free(want);
    dml_image_free(&im);
    dml_image_free(&rm);
    free(p);
    free(cp);
  }
  FILE *f = fopen("tests/fixtures/engine/transform_values.txt", "r");
  char file[128];
  int c, y, x2, nv = 0;
  double v;
  while (f && fscanf(f, "%127s %d %d %d %lf", file, &c, &y, &x2, &v) == 5) {
    for (int i = 0; i < NI; i++)
      if (!strcmp(file, names[i])) {
        char *what = dml_strfmt("torchvision value %s[%d,%d,%d]", file, c, y, x2);
        fails += expect_scalar(what, all[(size_t)i * 3 * CROP * CROP + ((size_t)c * CROP + y) * CROP + x2], v, 1e-6, 1e-6);
        free(what);
        nv++;
      }
  }
  if (f) fclose(f);
  fails += expect_true("12 torchvision values read", nv == 12);
  fails += expect_true("not-an-image rejected", dml_image_decode("tests/fixtures/engine/transform_values.txt",
                                                                 1, 0, &(struct dml_image){0}) == DML_ERR_FORMAT);
  return fails;
}

static int embed_checks(const char *prog, const float *all) {
  int fails = 0;
  char *dir = test_tmpdir("embed"), *out = dml_strfmt("%s/e.h5", dir);
  char *cmd = dml_strfmt("%s --arch resnet18_w4 --images tests/fixtures/engine/images --out %s --embed_dim 8 --batch 3 "
                         "--seed 3 > %s/log 2>&1", prog, out, dir);
  fails += expect_true("dml-embed runs", system(cmd) == 0);
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  fails += expect_true("output opens", f >= 0);
  if (f < 0) return fails + 1;
  float emb[NI * 8];
  int32_t labels[NI];
  char *paths[NI] = {NULL};
  hid_t ds = H5Dopen2(f, "embeddings", H5P_DEFAULT), sp = H5Dget_space(ds);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(sp, dims, NULL);
  fails += expect_true("embeddings are 4×8", dims[0] == NI && dims[1] == 8);
  H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, emb);
  H5Sclose(sp);
  H5Dclose(ds);
  ds = H5Dopen2(f, "labels", H5P_DEFAULT);
  H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
  H5Dclose(ds);
  ds = H5Dopen2(f, "paths", H5P_DEFAULT);
  hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, H5T_VARIABLE);
  H5Tset_cset(st, H5T_CSET_UTF8);
  H5Dread(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, paths);
  H5Dclose(ds);
  char *prec = NULL, *isa = NULL;
  hid_t a = H5Aopen(f, "precision", H5P_DEFAULT);
  if (a >= 0) H5Aread(a, st, &prec), H5Aclose(a);
  a = H5Aopen(f, "cpu_isa", H5P_DEFAULT);
  if (a >= 0) H5Aread(a, st, &isa), H5Aclose(a);
  H5Tclose(st);
  H5Fclose(f);
  fails += expect_true("precision attribute = fp32", prec && !strcmp(prec, "fp32"));
  fails += expect_true("cpu_isa attribute names an ISA", isa && strlen(isa) > 3 && strcmp(isa, "none"));
  free(prec);
  int ok = 1;
  for (int i = 0; i < NI; i++) ok &= paths[i] && !strcmp(paths[i], names[i]) && labels[i] == (i < 2 ? 0 : 1);
  fails += expect_true("labels by first-level folder, paths sorted", ok);
  for (int i = 0; i < NI; i++) free(paths[i]);
  /* the same images through the network in-process */
  struct dml_backend *be = dml_backend_cpu_new();
  struct dml_params ps;
  dml_params_init(&ps, be);
  struct dml_network net;
  dml_network_init(&net, &ps, "resnet18_w4", 3 * CROP * CROP, 8);
  dml_params_alloc(&ps);
  dml_network_reset_parameters(&net, 3);
  struct dml_tape t;
  dml_tape_init(&t, be, 256u << 20);
  t.record = 0;
  struct dml_tensor *x = dml_tape_input(&t, all, NI, 3 * CROP * CROP);
  struct dml_tensor *z = dml_network_forward(&net, &t, x);
  const char *isa_here = dml_backend_conv_isa(be, DML_FP32);
  fails += expect_true("cpu_isa attribute = the ISA this backend chose", isa && isa_here && !strcmp(isa, isa_here));
  free(isa);
  double g[NI * 8], r[NI * 8];
  for (int i = 0; i < NI * 8; i++) g[i] = emb[i], r[i] = z->data[i];
  fails += expect_close("dml-embed embeddings = in-process forward", g, r, NI * 8, 1e-5, 1e-4);
  dml_tape_free(&t);
  dml_network_free(&net);
  dml_params_free(&ps);
  dml_backend_free(be);
  free(cmd);
  cmd = dml_strfmt("%s --arch resnet18_w4 --images tests/fixtures/engine/images --out %s --features > %s/log 2>&1", prog,
                   out, dir);
  fails += expect_true("dml-embed --features runs", system(cmd) == 0);
  f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  ds = H5Dopen2(f, "embeddings", H5P_DEFAULT);
  sp = H5Dget_space(ds);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  fails += expect_true("--features stores the 32 pooled features (512·4/64)", dims[0] == NI && dims[1] == 32);
  H5Sclose(sp);
  H5Dclose(ds);
  H5Fclose(f);
  free(cmd);
  cmd = dml_strfmt("%s --images /nonexistent --out %s > %s/log 2>&1", prog, out, dir);
  fails += expect_true("missing folder exits non-zero", system(cmd) != 0);
  free(cmd);
  cmd = dml_strfmt("rm -rf %s", dir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
  free(cmd);
  free(out);
  free(dir);
  return fails;
}

int main(int argc, char **argv) {
  int fails = 0;
  float *all = malloc((size_t)NI * 3 * CROP * CROP * sizeof *all);
  fails += transform_checks(all);
  if (argc > 1) fails += embed_checks(argv[1], all);
  else fails += expect_true("dml-embed path given", 0);
  free(all);
  return test_report("engine_image_embed", fails);
}
