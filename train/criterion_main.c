/* dml-criterion — evaluate one criterion of the zoo on a saved batch (issue 5, point 4), for tests and for
 * researchers checking an implementation.
 *
 *   dml-criterion --loss NAME [--batch_mining NAME] [--loss_* / --miner_* flags] --batch FILE.h5 [--seed S]
 *                 [--out FILE.h5] [--list-params] [--n_classes C]
 *
 * Input (plain HDF5, any tool can write it): `embeddings` (B, D) float32 (used as given; normalise beforehand if
 * the method expects it), `labels` (B) int32, optional `tuples` (M, 3) int32 (anchor, positive, negative; the
 * miner is then skipped; −1 marks the implicit sets of the npair / lifted conventions) or (M, 4) (a fourth column:
 * the quadruplet loss's fourth sample per tuple, used instead of its draw), optional datasets
 * `param/<name>` that set the criterion's learnable parameters (shape must match; --list-params prints names and
 * shapes). Classes: 0 … C−1 with C = --n_classes, or max(label)+1 when 0 (labels index classes directly, as
 * the reference). Without tuples, the miner --batch_mining runs on the RNG stream (seed, MINER, 0, 0) when the
 * criterion needs one. Output: the loss on stdout; with --out, datasets `loss` (scalar float64),
 * `grad/embeddings` (B, D) float32, `grad/param/<name>` float32, `tuples` (the ones used).
 * HDF5 is used directly here (this program's own input format, not the run record). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/h5.h"
#include "train/train.h"

struct batch {
  int B, D, M, K;
  float *emb;      /* (B, D) */
  int32_t *labels; /* (B) */
  int32_t *tuples; /* (M, K) or NULL, K = 3 or 4 */
};

/* One dataset through the checked HDF5 layer (common/h5.h): shape caps and what the file stores, before allocating. */
static dml_status read_dataset(hid_t f, const char *path, const char *name, enum dml_h5_mem mem, int want_rank,
                               hsize_t *dims, void **out) {
  struct dml_h5_shape sh;
  dml_status st = dml_h5_read_alloc(f, path, name, mem, want_rank, NULL, &sh, out);
  for (int k = 0; !st && k < want_rank; k++) dims[k] = sh.dims[k];
  return st;
}

static dml_status read_batch(const char *path, struct batch *b, hid_t *file) {
  memset(b, 0, sizeof *b);
  hid_t f;
  dml_status sto = dml_h5_open_read(path, &f);
  if (sto) return dml_error_prefix(sto, "--batch");
  hsize_t d[2];
  dml_status st = read_dataset(f, path, "embeddings", DML_H5_F32, 2, d, (void **)&b->emb);
  if (!st) {
    b->B = (int)d[0];
    b->D = (int)d[1];
    st = read_dataset(f, path, "labels", DML_H5_I32, 1, d, (void **)&b->labels);
    if (!st && (int)d[0] != b->B)
      st = dml_error(DML_ERR_FORMAT, "'labels' has %d entries, 'embeddings' %d rows", (int)d[0], b->B);
  }
  if (!st && H5Lexists(f, "tuples", H5P_DEFAULT) > 0) {
    st = read_dataset(f, path, "tuples", DML_H5_I32, 2, d, (void **)&b->tuples);
    if (!st && d[1] != 3 && d[1] != 4)
      st = dml_error(DML_ERR_FORMAT, "'tuples' must be (M, 3) or (M, 4), has %d columns", (int)d[1]);
    if (!st) b->M = (int)d[0], b->K = (int)d[1];
    for (size_t i = 0; !st && i < (size_t)b->K * (size_t)b->M; i++)
      if (b->tuples[i] < -1 || b->tuples[i] >= b->B)
        st = dml_error(DML_ERR_FORMAT, "'tuples' entry %d is outside the batch (B = %d)", b->tuples[i], b->B);
  }
  if (!st && (b->B < 1 || b->D < 1)) st = dml_error(DML_ERR_FORMAT, "'embeddings' is empty");
  if (st) {
    H5Fclose(f);
    return dml_error_prefix(st, "--batch %s", path);
  }
  *file = f;
  return DML_OK;
}

static dml_status load_params(hid_t f, struct dml_criterion *c, const char *path) {
  for (int i = 0; i < c->params.n; i++) {
    struct dml_param *p = &c->params.p[i];
    char name[160];
    snprintf(name, sizeof name, "param/%s", p->name);
    if (H5Lexists(f, "param", H5P_DEFAULT) <= 0 || H5Lexists(f, name, H5P_DEFAULT) <= 0) continue;
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[4] = {0};
    if (rank >= 1 && rank <= 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    int same = rank == p->ndim && n == (hssize_t)p->n;
    for (int k = 0; same && k < rank; k++) same = (int)dims[k] == p->shape[k];
    dml_status st = DML_OK;
    if (!same) st = dml_error(DML_ERR_FORMAT, "%s: dataset '%s' does not have the parameter's shape (see --list-params)", path, name);
    else st = dml_h5_read_into(f, path, name, DML_H5_F32, p->t.data, p->n);
    H5Sclose(sp);
    H5Dclose(ds);
    if (st) return st;
  }
  return DML_OK;
}

static void write_f32(hid_t g, const char *name, const float *v, int rank, const hsize_t *dims) {
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t ds = H5Dcreate2(g, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  H5Dclose(ds);
  H5Sclose(sp);
}

static dml_status write_out(const char *path, double loss, const float *grad, const struct batch *b,
                            const struct dml_criterion *c, const struct dml_tuples *tu) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return dml_error(DML_ERR_IO, "cannot create --out %s", path);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t ds = H5Dcreate2(f, "loss", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &loss);
  H5Dclose(ds);
  H5Sclose(sp);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t g = H5Gcreate2(f, "grad/param", lcpl, H5P_DEFAULT, H5P_DEFAULT);
  H5Pclose(lcpl);
  hid_t gr = H5Gopen2(f, "grad", H5P_DEFAULT);
  write_f32(gr, "embeddings", grad, 2, (hsize_t[]){(hsize_t)b->B, (hsize_t)b->D});
  for (int i = 0; i < c->params.n; i++) {
    const struct dml_param *p = &c->params.p[i];
    hsize_t dims[4];
    for (int k = 0; k < p->ndim; k++) dims[k] = (hsize_t)p->shape[k];
    write_f32(g, p->name, p->t.grad, p->ndim, dims);
  }
  if (tu->n) {
    sp = H5Screate_simple(2, (hsize_t[]){(hsize_t)tu->n, 3}, NULL);
    ds = H5Dcreate2(f, "tuples", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, tu->t);
    H5Dclose(ds);
    H5Sclose(sp);
  }
  H5Gclose(gr);
  H5Gclose(g);
  return H5Fclose(f) < 0 ? dml_error(DML_ERR_IO, "cannot write --out %s", path) : DML_OK;
}

int main(int argc, char **argv) {
  const char *prog = "dml-criterion";
  struct dml_train_opts o = {0};
  char *batch_path = NULL, *out_path = NULL;
  int list_params = 0, n_classes = 0;
  const struct dml_flag own[] = {
    {"batch", DML_FLAG_STR, &batch_path, "", "HDF5 file with embeddings, labels [, tuples, param/<name>]"},
    {"out", DML_FLAG_STR, &out_path, "", "write loss, grad/embeddings, grad/param/<name> here"},
    {"list-params", DML_FLAG_BOOL, &list_params, "0", "print the criterion's parameters (name and shape) and exit"},
    {"n_classes", DML_FLAG_INT, &n_classes, "0", "number of training classes (0 = max label + 1)"},
  };
  struct dml_train_cli tc;
  dml_train_cli_init(&tc, &o, own, sizeof own / sizeof *own);
  struct dml_cli *cli = &tc.cli;
  cli->prog = prog;
  cli->summary = "evaluate one criterion (loss and gradients) on a saved batch";
  cli->usage = "--loss NAME [--batch_mining NAME] [--loss_* / --miner_* flags] --batch FILE.h5 [--seed S] [--out FILE.h5]";
  cli->max_positional = 0;
  dml_exit_on_error(prog, dml_flags_parse(cli, argc, argv));
  struct dml_opts opt = dml_train_cli_opts(&tc);
  struct batch b = {0};
  hid_t f = -1;
  dml_status st = DML_OK;
  if (!*batch_path && !list_params) st = dml_error(DML_ERR_ARG, "--batch FILE.h5 is required");
  if (!st && *batch_path) st = read_batch(batch_path, &b, &f);
  dml_exit_on_error(prog, st);
  /* semantic checks of the batch: finite embeddings, labels that index a class list of a sane size */
  for (long i = 0; !st && i < (long)b.B * b.D; i++)
    if (!isfinite(b.emb[i]))
      st = dml_error(DML_ERR_FORMAT, "--batch %s: 'embeddings' row %ld, column %ld is %g (not finite)", batch_path,
                     i / b.D, i % b.D, (double)b.emb[i]);
  if (n_classes < 0) st = dml_error(DML_ERR_ARG, "--n_classes must be >= 0, got %d", n_classes);
  int64_t C = n_classes;
  int worst = 0;
  for (int i = 0; !st && i < b.B; i++) {
    if (b.labels[i] < 0) st = dml_error(DML_ERR_FORMAT, "--batch %s: label %d (row %d) is negative", batch_path,
                                        b.labels[i], i);
    else if (n_classes && b.labels[i] >= n_classes)
      st = dml_error(DML_ERR_ARG, "label %d (row %d) is not below --n_classes %d", b.labels[i], i, n_classes);
    else if (!n_classes && (int64_t)b.labels[i] + 1 > C) C = (int64_t)b.labels[i] + 1, worst = i;
  }
  /* labels index classes directly: a class list of C classes costs C·D floats per class parameter (proxies,
   * class maps; three copies with gradients and moments in training) — refuse what would need gigabytes */
  const int64_t max_classes = 1 << 22, max_entries = (int64_t)1 << 26; /* 4.2M classes, 256 MiB per tensor */
  double gib = (double)C * (b.D > 0 ? b.D : 1) * 4 / (1 << 30);
  if (!st && (C > max_classes || C * (b.D > 0 ? b.D : 1) > max_entries)) {
    if (n_classes)
      st = dml_error(DML_ERR_ARG, "--n_classes %d is too many (%.1f GiB per %d-dim class parameter; at most %lld "
                     "classes and %lld entries)", n_classes, gib, b.D, (long long)max_classes, (long long)max_entries);
    else
      st = dml_error(DML_ERR_ARG, "label %d (row %d) makes a class list of %lld classes (%.1f GiB per %d-dim class "
                     "parameter); relabel the batch to 0 … C-1 (labels index classes directly)",
                     b.labels[worst], worst, (long long)C, gib, b.D);
  }
  if (C < 1) C = 1;
  if (st) C = 1;
  int32_t *classes = xmalloc((size_t)C * sizeof *classes);
  for (int k = 0; k < C; k++) classes[k] = k;
  struct dml_criterion crit = {0};
  struct dml_criterion_shape shape = {b.B ? b.D : o.embed_dim, (int)C, classes};
  if (!st) st = dml_criterion_create(o.loss, &opt, &shape, &crit);
  if (!st && list_params) {
    for (int i = 0; i < crit.params.n; i++) {
      printf("%s", crit.params.p[i].name);
      for (int k = 0; k < crit.params.p[i].ndim; k++) printf("%s%d", k ? "x" : " ", crit.params.p[i].shape[k]);
      printf("  (lr %g)\n", crit.param_lr ? crit.param_lr[i] : crit.params_lr);
    }
    if (!crit.params.n) printf("(no parameters)\n");
    goto done;
  }
  if (!st) st = load_params(f, &crit, batch_path);
  struct dml_tuples tu = {0};
  if (!st && b.tuples) {
    int32_t *q = b.K == 4 ? xmalloc((size_t)b.M * sizeof *q) : NULL;
    for (int i = 0; i < b.M; i++) {
      const int32_t *r = b.tuples + (size_t)b.K * i;
      dml_tuples_push(&tu, r[0], r[1], r[2]);
      if (q) q[i] = r[3];
    }
    if (q) dml_tuples_set_fourth(&tu, q);
    free(q);
  } else if (!st && crit.requires_miner) {
    struct dml_miner m;
    st = dml_miner_create(o.batch_mining, &opt, &m);
    if (!st) st = dml_criterion_check_miner(&crit, &m);
    struct dml_rng r = dml_rng_init((uint64_t)o.seed, DML_RNG_MINER, 0, 0);
    if (!st) st = m.mine(&m, b.emb, b.labels, b.B, b.D, &r, &tu);
    dml_miner_free(&m);
  }
  float *grad = xmalloc((size_t)b.B * b.D * sizeof *grad);
  double loss = 0;
  if (!st) {
    if (crit.params.n) dml_params_zero_grad(&crit.params);
    st = dml_criterion_loss(&crit, b.emb, b.labels, b.B, b.D, &tu, &loss, grad);
  }
  if (!st) {
    printf("loss %.17g\n", loss);
    if (*out_path) st = write_out(out_path, loss, grad, &b, &crit, &tu);
  }
  free(grad);
  dml_tuples_free(&tu);
done:
  if (crit.loss) dml_criterion_free(&crit);
  if (f >= 0) H5Fclose(f);
  free(classes);
  free(b.emb);
  free(b.labels);
  free(b.tuples);
  dml_train_cli_free(&tc);
  dml_exit_on_error(prog, st);
  return 0;
}
