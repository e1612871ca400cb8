/* test_zoo_cli — dml-criterion end to end: a hand-computed triplet case (loss 0.2 and every gradient entry by
 * hand), proxies given as param/proxies reproduce the in-process criterion exactly (loss, grad/embeddings,
 * grad/param/proxies), mining without tuples, --list-params, and one-line errors with a non-zero exit for a
 * missing file, a non-HDF5 file, a missing dataset, a wrong parameter shape and a miner the loss forbids.
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
  free(dir);
  return test_report("test_zoo_cli", f);
}
