/* dryrun — `dml-train --dry_run`: everything a run line can get wrong, checked in a second without training or
 * writing a file, so a preset of hundreds of lines (runs/presets/) can be checked before it is launched.
 *
 * Checked, in this order: the option values (dml_train_check_opts), the dataset (its index loaded and split as
 * the run would, which checks the layout under --source_path), the architecture (declared on the CPU: name and
 * suffixes), the pretrained weights (the file exists and is readable; its contents are checked when a run loads
 * it), the batch miner, the criterion and whether it accepts that miner, the data sampler with --bs /
 * --samples_per_class, and the run folder name. With --dry_run_skip_data nothing under --source_path is read: the
 * methods are built for a stand-in training split of 100 classes, and the dataset name is checked last. Prints one line per check and the
 * run record's path a run started now would write (the first free <savename>[_N]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer.h"

/* A stand-in for the training split when the data is not looked at: 100 classes (CUB's training classes) with
 * max(bs, 200) images, enough for every sampler's constructor. */
static void fake_train(const struct dml_train_opts *o, struct dml_dataset *d) {
  memset(d, 0, sizeof *d);
  d->n_classes = 100;
  d->n = o->bs > 200 ? o->bs : 200;
  d->labels = xmalloc((size_t)d->n * sizeof *d->labels);
  d->classes = xmalloc((size_t)d->n_classes * sizeof *d->classes);
  for (int c = 0; c < d->n_classes; c++) d->classes[c] = c;
  for (int i = 0; i < d->n; i++) d->labels[i] = i % d->n_classes;
}

static dml_status check_dataset(const struct dml_train_opts *o, struct dml_dataset *train) {
  if (o->dry_run_skip_data) {
    for (int i = 0; dml_dataset_name(i); i++)
      if (!strcmp(dml_dataset_name(i), o->dataset)) {
        printf("dry run: dataset %s (not looked at: --dry_run_skip_data)\n", o->dataset);
        return DML_OK;
      }
    return dml_error(DML_ERR_ARG, "unknown --dataset '%s' (not registered in this build)", o->dataset);
  }
  struct dml_dataset test = {0}, val = {0};
  dml_status st = dml_dataset_load(o, train, &test);
  if (!st && o->use_tv_split) st = dml_dataset_split_val(o, train, &val);
  if (!st) {
    printf("dry run: dataset %s under %s: train %d images / %d classes, test %d images / %d classes", o->dataset,
           o->source_path, train->n, train->n_classes, test.n, test.n_classes);
    if (val.n) printf(", val %d images / %d classes", val.n, val.n_classes);
    printf("\n");
  }
  dml_dataset_free(&test);
  dml_dataset_free(&val);
  return st;
}

static dml_status check_network(const struct dml_train_opts *o) {
  struct dml_backend *be = dml_backend_select("cpu", NULL);
  if (!be) return DML_ERR_ARG;
  struct dml_params ps;
  struct dml_network net;
  dml_params_init(&ps, be);
  int in_dim = strncmp(o->arch, "mlp", 3) ? 3 * 224 * 224 : 784; /* only the declaration is checked */
  dml_status st = dml_network_init(&net, &ps, o->arch, in_dim, o->embed_dim);
  if (!st) {
    printf("dry run: network %s, %d parameter tensors, embedding %d\n", o->arch, ps.n, o->embed_dim);
    dml_network_free(&net);
  }
  dml_params_free(&ps);
  dml_backend_free(be);
  return st;
}

static dml_status check_weights(const struct dml_train_opts *o) {
  char *w = NULL;
  dml_status st = dml_pretrained_path(o, &w);
  if (!st) printf("dry run: weights %s\n", w ? w : o->not_pretrained ? "none (--not_pretrained)" : "none (no ImageNet weights for this network)");
  free(w);
  return st;
}

/* the methods as the trainer builds them (trainer.c setup) */
static dml_status check_methods(const struct dml_train_opts *o, const struct dml_opts *opt,
                                const struct dml_dataset *train) {
  struct dml_miner m;
  dml_status st = dml_miner_create(o->batch_mining, opt, &m);
  if (st) return st;
  struct dml_criterion c;
  struct dml_criterion_shape shape = {o->embed_dim, train->n_classes, train->classes};
  if ((st = dml_criterion_create(o->loss, opt, &shape, &c))) {
    dml_miner_free(&m);
    return st;
  }
  if (strcmp(c.allowed_miners, "*") && !strstr(c.allowed_miners, m.internal_name))
    st = dml_error(DML_ERR_ARG, "--loss %s cannot use --batch_mining %s (allowed: %s)", o->loss, o->batch_mining,
                   c.allowed_miners);
  dml_criterion_free(&c);
  dml_miner_free(&m);
  if (st) return st;
  struct dml_sampler s;
  struct dml_sampler_shape batches = {train->n, train->labels, train->n_classes, train->classes, o->bs,
                                      o->samples_per_class, (uint64_t)o->seed};
  if ((st = dml_sampler_create(o->data_sampler, opt, &batches, &s))) return st;
  dml_sampler_free(&s);
  printf("dry run: loss %s, batch mining %s, sampler %s, optimizer %s\n", o->loss, o->batch_mining, o->data_sampler,
         o->optim);
  return DML_OK;
}

dml_status dml_train_dry_run(const struct dml_train_opts *o, const struct dml_opts *opt, char **run_path) {
  if (run_path) *run_path = NULL;
  dml_status st = dml_train_check_opts(o);
  struct dml_dataset train = {0};
  /* with the data, the methods see the real training split; without, the dataset name is checked last, so that an
   * unknown name still lets every other check run first */
  if (!st && !o->dry_run_skip_data) st = check_dataset(o, &train);
  if (!st) st = check_network(o);
  if (!st) st = check_weights(o);
  if (!st && o->dry_run_skip_data) fake_train(o, &train);
  if (!st) st = check_methods(o, opt, &train);
  if (!st && o->dry_run_skip_data) st = check_dataset(o, &train);
  dml_dataset_free(&train);
  char *dir = NULL;
  if (!st) st = dml_train_run_dir(o, 0, &dir);
  if (st) return dml_error_prefix(st, "dry run");
  char *path = dml_strfmt("%s/run.h5", dir);
  free(dir);
  printf("run record: %s (dry run: nothing trained or written)\n", path);
  if (run_path) *run_path = path;
  else free(path);
  return DML_OK;
}
