/* test_zoo_cli — dml-criterion end to end: a hand-computed triplet case (loss 0.2 and every gradient entry by
 * hand), proxies given as param/proxies reproduce the in-process criterion exactly (loss, grad/embeddings,
 * grad/param/proxies), mining without tuples, --list-params, and one-line errors with a non-zero exit for a
 * missing file, a non-HDF5 file, a missing dataset, a wrong parameter shape and a miner the loss forbids; bad
 * batches (tuples outside the batch, (-1,-1,-1) for margin, labels INT32_MAX / 30M / negative / over --n_classes,
 * NaN and Inf embeddings) and (M, 4) quadruplet tuples.
 * argv[1] = the dml-criterion binary. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/testutil.h"
#include "train/train.h"

static void wr(hid_t f, const char *name, hid_t ft, hid_t mt, int rank, const hsize_t *dims, const void *v) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t ds = H5Dcreate2(f, name, ft, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(ds);
  H5Sclose(sp);
  H5Pclose(lcpl);
}

static int rd(const char *path, const char *name, hid_t mt, void *v) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return -1;
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  int rc = ds < 0 ? -1 : H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0 ? -1 : 0;
  if (ds >= 0) H5Dclose(ds);
  H5Fclose(f);
  return rc;
}

static int run(const char *cmd, char *out, size_t cap) {
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  size_t k = fread(out, 1, cap - 1, p);
  out[k] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A 3-row batch (a = (0,0), p = (1,0), n = (0,1)) with the given labels, embeddings, tuples (M×K, NULL = none). */
static void write_batch(const char *path, const float *e, const int32_t *lab, const int32_t *tup, int M, int K) {
  hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  wr(h, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){3, 2}, e);
  wr(h, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){3}, lab);
  if (tup) wr(h, "tuples", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, (hsize_t[]){(hsize_t)M, (hsize_t)K}, tup);
  H5Fclose(h);
}

static int one_line(const char *out) {
  size_t n = strlen(out);
  return n > 0 && strchr(out, '\n') == out + n - 1;
}

/* Bad input to dml-criterion: each one clear line naming what is wrong, and a non-zero exit. */
static int bad_batches(const char *bin, const char *dir) {
  int f = 0;
  char path[512], cmd[2048], out[8192];
  float e[6] = {0, 0, 1, 0, 0, 1};
  int32_t lab[3] = {0, 0, 1};
  snprintf(path, sizeof path, "%s/bad.h5", dir);
  /* (-1, -1, -1): the npair/lifted marker everywhere, which the margin loss used to read out of bounds */
  int32_t t1[3] = {-1, -1, -1};
  write_batch(path, e, lab, t1, 1, 3);
  snprintf(cmd, sizeof cmd, "%s --loss margin --batch %s 2>&1", bin, path);
  int rc = run(cmd, out, sizeof out);
  f += expect_true("margin with (-1,-1,-1): non-zero exit, one line naming the tuple",
                   rc != 0 && one_line(out) && strstr(out, "tuple 0") && strstr(out, "-1"));
  f += expect_true("... and no loss printed", strncmp(out, "loss ", 5) != 0);
  int32_t t2[3] = {0, 1, 7};
  write_batch(path, e, lab, t2, 1, 3);
  snprintf(cmd, sizeof cmd, "%s --loss triplet --batch %s 2>&1", bin, path);
  f += expect_true("tuple entry 7 of a 3-row batch: exit 1, names it",
                   run(cmd, out, sizeof out) == 1 && one_line(out) && strstr(out, "entry 7 is outside the batch"));
  /* labels: INT32_MAX named as such; a range that would allocate gigabytes of class parameters; negative */
  int32_t big[3] = {0, 2147483647, 1};
  write_batch(path, e, big, NULL, 0, 3);
  snprintf(cmd, sizeof cmd, "%s --loss proxynca --batch %s 2>&1", bin, path);
  rc = run(cmd, out, sizeof out);
  f += expect_true("label INT32_MAX: non-zero exit, one line naming 2147483647",
                   rc != 0 && one_line(out) && strstr(out, "label 2147483647"));
  int32_t wide[3] = {0, 30000000, 1};
  write_batch(path, e, wide, NULL, 0, 3);
  snprintf(cmd, sizeof cmd, "%s --loss softmax --batch %s 2>&1", bin, path);
  rc = run(cmd, out, sizeof out);
  f += expect_true("label 30000000 (a 30M-class list): refused before allocating, names the label",
                   rc != 0 && one_line(out) && strstr(out, "label 30000000") && strstr(out, "relabel"));
  snprintf(cmd, sizeof cmd, "%s --loss softmax --n_classes 2000000000 --batch %s 2>&1", bin, path);
  rc = run(cmd, out, sizeof out);
  f += expect_true("--n_classes 2e9: refused", rc != 0 && one_line(out) && strstr(out, "--n_classes 2000000000"));
  int32_t neg[3] = {0, -5, 1};
  write_batch(path, e, neg, NULL, 0, 3);
  snprintf(cmd, sizeof cmd, "%s --loss triplet --batch %s 2>&1", bin, path);
  f += expect_true("negative label: exit 1, names it", run(cmd, out, sizeof out) == 1 && one_line(out) && strstr(out, "label -5"));
  int32_t tup[3] = {0, 1, 2};
  snprintf(cmd, sizeof cmd, "%s --loss arcface --n_classes 1 --batch %s 2>&1", bin, path);
  write_batch(path, e, lab, tup, 1, 3);
  f += expect_true("label 1 with --n_classes 1: names label 1",
                   run(cmd, out, sizeof out) != 0 && one_line(out) && strstr(out, "label 1 (row 2)"));
  /* non-finite embeddings */
  const float specials[2] = {NAN, INFINITY};
  for (int k = 0; k < 2; k++) {
    float en[6] = {0, 0, 1, 0, 0, 1};
    en[3] = specials[k];
    write_batch(path, en, lab, tup, 1, 3);
    snprintf(cmd, sizeof cmd, "%s --loss triplet --batch %s 2>&1", bin, path);
    char tag[96];
    snprintf(tag, sizeof tag, "%s embedding: exit 1, one line naming row 1, column 1", k ? "Inf" : "NaN");
    f += expect_true(tag, run(cmd, out, sizeof out) == 1 && one_line(out) && strstr(out, "row 1, column 1"));
  }
  return f;
}

/* quadruplet with a 4th tuple column: the given fourth samples are used, equal to the in-process criterion
 * given the same ones (dml_tuples_set_fourth) — the reference fixtures' path */
static int quadruplet_fourth(const char *bin, const char *dir) {
  enum { B = 6, D = 3 };
  float e[B * D];
  struct dml_rng r = dml_rng_init(5, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < B * D; i++) e[i] = (float)dml_rng_normal(&r);
  int32_t y[B] = {0, 0, 1, 1, 2, 2}, t4[2 * 4] = {0, 1, 2, 5, 2, 3, 4, 0};
  char path[512], outp[512], cmd[2048], out[8192];
  snprintf(path, sizeof path, "%s/quad.h5", dir);
  snprintf(outp, sizeof outp, "%s/quad_out.h5", dir);
  hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  wr(h, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){B, D}, e);
  wr(h, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){B}, y);
  wr(h, "tuples", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, (hsize_t[]){2, 4}, t4);
  H5Fclose(h);
  snprintf(cmd, sizeof cmd, "%s --loss quadruplet --batch %s --out %s 2>&1", bin, path, outp);
  int f = expect_true("quadruplet with (M, 4) tuples: exit 0", run(cmd, out, sizeof out) == 0);
  double L = NAN, Lref = NAN;
  float g[B * D], gref[B * D];
  f += expect_true("quadruplet: --out readable", !rd(outp, "loss", H5T_NATIVE_DOUBLE, &L) &&
                                                     !rd(outp, "grad/embeddings", H5T_NATIVE_FLOAT, g));
  struct dml_train_opts o;
  struct dml_train_cli tc;
  dml_train_cli_parse_string(&tc, &o, "--loss quadruplet");
  struct dml_opts opt = dml_train_cli_opts(&tc);
  int32_t classes[3] = {0, 1, 2};
  struct dml_criterion_shape shape = {D, 3, classes};
  struct dml_criterion cr;
  f += expect_true("quadruplet in process", dml_criterion_create("quadruplet", &opt, &shape, &cr) == DML_OK);
  dml_train_cli_free(&tc);
  struct dml_tuples tu = {0};
  dml_tuples_push(&tu, 0, 1, 2);
  dml_tuples_push(&tu, 2, 3, 4);
  int32_t q[2] = {5, 0};
  dml_tuples_set_fourth(&tu, q);
  cr.loss(&cr, e, y, B, D, &tu, &Lref, gref);
  f += expect_scalar("quadruplet: loss with the given fourth samples = in-process", L, Lref, 0, 0);
  f += expect_close_f32("quadruplet: grad/embeddings = in-process", g, gref, B * D, 0, 0);
  dml_tuples_free(&tu);
  dml_criterion_free(&cr);
  int32_t bad[4] = {0, 1, 2, 9};
  h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  wr(h, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){B, D}, e);
  wr(h, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){B}, y);
  wr(h, "tuples", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, (hsize_t[]){1, 4}, bad);
  H5Fclose(h);
  snprintf(cmd, sizeof cmd, "%s --loss quadruplet --batch %s 2>&1", bin, path);
  f += expect_true("fourth sample 9 of a 6-row batch: exit 1, one line",
                   run(cmd, out, sizeof out) == 1 && one_line(out) && strstr(out, "entry 9"));
  return f;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_zoo_cli PATH/TO/dml-criterion\n");
    return 1;
  }
  const char *bin = argv[1];
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int f = 0;
  char *dir = test_tmpdir("zoo_cli"), path[512], outp[512], cmd[2048], out[8192];
  /* 1. hand case: a = (0,0), p = (1,0), n = (0,1), margin 0.2: L = relu(1 − 1 + 0.2) = 0.2;
   * dL/da = 2(a−p) − 2(a−n) = (−2, 2), dL/dp = −2(a−p) = (2, 0), dL/dn = 2(a−n) = (0, −2) */
  snprintf(path, sizeof path, "%s/hand.h5", dir);
  snprintf(outp, sizeof outp, "%s/hand_out.h5", dir);
  hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  float e[6] = {0, 0, 1, 0, 0, 1};
  int32_t lab[3] = {0, 0, 1}, tup[3] = {0, 1, 2};
  wr(h, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){3, 2}, e);
  wr(h, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){3}, lab);
  wr(h, "tuples", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, (hsize_t[]){1, 3}, tup);
  H5Fclose(h);
  snprintf(cmd, sizeof cmd, "%s --loss triplet --batch %s --out %s 2>&1", bin, path, outp);
  f += expect_true("hand triplet: exit 0", run(cmd, out, sizeof out) == 0);
  f += expect_true("hand triplet: prints the loss", strstr(out, "loss 0.2") != NULL);
  double L = NAN;
  float g[6] = {0};
  f += expect_true("hand triplet: --out has loss and grad/embeddings",
                   !rd(outp, "loss", H5T_NATIVE_DOUBLE, &L) && !rd(outp, "grad/embeddings", H5T_NATIVE_FLOAT, g));
  f += expect_scalar("hand triplet: loss", L, 0.2, 1e-7, 1e-6);
  const float want[6] = {-2, 2, 2, 0, 0, -2};
  f += expect_close_f32("hand triplet: grad/embeddings", g, want, 6, 1e-6, 1e-6);

  /* 2. proxynca with param/proxies = the in-process criterion */
  enum { B = 8, D = 5, C = 4 };
  float emb[B * D], prox[C * D];
  int32_t y[B] = {0, 0, 1, 1, 2, 2, 3, 1};
  struct dml_rng r = dml_rng_init(11, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < B * D; i++) emb[i] = (float)dml_rng_normal(&r);
  for (int i = 0; i < C * D; i++) prox[i] = (float)(dml_rng_normal(&r) / 8);
  snprintf(path, sizeof path, "%s/prox.h5", dir);
  snprintf(outp, sizeof outp, "%s/prox_out.h5", dir);
  h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  wr(h, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){B, D}, emb);
  wr(h, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){B}, y);
  wr(h, "param/proxies", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){C, D}, prox);
  H5Fclose(h);
  snprintf(cmd, sizeof cmd, "%s --loss proxynca --batch %s --out %s 2>&1", bin, path, outp);
  f += expect_true("proxynca: exit 0", run(cmd, out, sizeof out) == 0);
  struct dml_train_opts o;
  struct dml_train_cli tc;
  dml_train_cli_parse_string(&tc, &o, "--lr 1e-5 --loss_proxynca_lrmulti 50");
  struct dml_opts opt = dml_train_cli_opts(&tc);
  int32_t classes[C] = {0, 1, 2, 3};
  struct dml_criterion_shape shape = {D, C, classes};
  struct dml_criterion cr;
  dml_criterion_create("proxynca", &opt, &shape, &cr);
  dml_train_cli_free(&tc);
  memcpy(cr.params.p[0].t.data, prox, sizeof prox);
  dml_params_zero_grad(&cr.params);
  struct dml_tuples tu = {0};
  float gref[B * D], gcli[B * D], gp[C * D];
  double Lref = NAN;
  cr.loss(&cr, emb, y, B, D, &tu, &Lref, gref);
  f += expect_true("proxynca: --out readable", !rd(outp, "loss", H5T_NATIVE_DOUBLE, &L) &&
                                                   !rd(outp, "grad/embeddings", H5T_NATIVE_FLOAT, gcli) &&
                                                   !rd(outp, "grad/param/proxies", H5T_NATIVE_FLOAT, gp));
  f += expect_scalar("proxynca: loss = in-process", L, Lref, 0, 0);
  f += expect_close_f32("proxynca: grad/embeddings = in-process", gcli, gref, B * D, 0, 0);
  f += expect_close_f32("proxynca: grad/param/proxies = in-process", gp, cr.params.p[0].t.grad, C * D, 0, 0);
  dml_criterion_free(&cr);
  snprintf(cmd, sizeof cmd, "%s --loss proxynca --list-params --batch %s 2>&1", bin, path);
  f += expect_true("--list-params: exit 0", run(cmd, out, sizeof out) == 0);
  f += expect_true("--list-params names proxies 4x5", strstr(out, "proxies 4x5") != NULL);
  /* 3. mining without tuples, every miner with a triplet loss; npair loss with a forbidden miner */
  const char *miners[] = {"random", "semihard", "softhard", "distance", "rho_distance", "parametric",
                          "random_distance", "intra_random"};
  for (int k = 0; k < 8; k++) {
    snprintf(cmd, sizeof cmd, "%s --loss contrastive --batch_mining %s --miner_semihard_margin 0.2 --batch %s 2>&1",
             bin, miners[k], path);
    char tag[96];
    snprintf(tag, sizeof tag, "contrastive + %s miner runs", miners[k]);
    f += expect_true(tag, run(cmd, out, sizeof out) == 0 && strstr(out, "loss ") != NULL);
  }
  snprintf(cmd, sizeof cmd, "%s --loss npair --batch_mining distance --batch %s 2>&1", bin, path);
  f += expect_true("npair + distance: exit 2", run(cmd, out, sizeof out) == 2);
  f += expect_true("... says which miners are allowed", strstr(out, "allowed: npair") != NULL);
  /* 4. errors */
  snprintf(cmd, sizeof cmd, "%s --loss triplet --batch %s/missing.h5 2>&1", bin, dir);
  f += expect_true("missing file: exit 1", run(cmd, out, sizeof out) == 1);
  f += expect_true("missing file: one line naming it", strstr(out, "missing.h5") && strchr(out, '\n') == out + strlen(out) - 1);
  snprintf(path, sizeof path, "%s/text.h5", dir);
  FILE *t = fopen(path, "w");
  fputs("not hdf5\n", t);
  fclose(t);
  snprintf(cmd, sizeof cmd, "%s --loss triplet --batch %s 2>&1", bin, path);
  f += expect_true("not HDF5: exit 1", run(cmd, out, sizeof out) == 1 && strstr(out, "not an HDF5 file"));
  snprintf(path, sizeof path, "%s/nolabels.h5", dir);
  h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  wr(h, "embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){B, D}, emb);
  wr(h, "param/proxies", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){D, C}, prox);
  H5Fclose(h);
  snprintf(cmd, sizeof cmd, "%s --loss triplet --batch %s 2>&1", bin, path);
  f += expect_true("no labels: exit 1, names the dataset", run(cmd, out, sizeof out) == 1 && strstr(out, "'labels'"));
  h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  wr(h, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){B}, y);
  H5Fclose(h);
  snprintf(cmd, sizeof cmd, "%s --loss proxynca --batch %s 2>&1", bin, path);
  f += expect_true("wrong parameter shape: exit 1", run(cmd, out, sizeof out) == 1 && strstr(out, "param/proxies"));
  snprintf(cmd, sizeof cmd, "%s --loss nosuch --batch %s 2>&1", bin, path);
  f += expect_true("unknown loss: exit 2", run(cmd, out, sizeof out) == 2);
  f += bad_batches(bin, dir);
  f += quadruplet_fourth(bin, dir);
  free(dir);
  return test_report("test_zoo_cli", f);
}
