/* options — the flag table of dml-train: reference names and defaults (spec A1), in the reference's group
 * order (basic, batch creation, batch mining, loss, W&B), plus a few of ours marked "(dml)". */
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

#define FLAG(n, t, d, h) {#n, DML_FLAG_##t, &o->n, d, h}

size_t dml_train_flags(struct dml_train_opts *o, struct dml_flag *out, size_t cap) {
  const struct dml_flag table[] = {
    /* basic: dataset */
    FLAG(dataset, STR, "cub200", "dataset: cub200, cars196, online_products, in_shop, folder, fashion_mnist"),
    FLAG(source_path, STR, "", "folder holding <dataset>/ (argparse prefix: --source); empty: ../../Datasets as the "
         "reference (fashion_mnist: /usr/share/datasets/fashion-mnist; folder: ROOT/<class>/<images> itself)"),
    FLAG(augmentation, STR, "base", "training augmentation: base, adv, big, red"),
    /* (dml) image datasets: decoding and the data pipeline */
    FLAG(data_workers, INT, "0", "(dml) image decode threads; 0 = --kernels capped at the processors"),
    FLAG(prefetch, INT, "3", "(dml) training batches in flight (the current one and those decoding ahead)"),
    FLAG(cache_dir, STR, "", "(dml) on-disk cache of decoded images (memory-mapped; changes no pixel)"),
    FLAG(image_exact, BOOL, "0", "(dml) never DCT-scale JPEG decoding: PIL's pixels also for images >= 2x the crop"),
    FLAG(skip_bad_images, BOOL, "0", "(dml) skip unreadable images (counted in the run record) instead of stopping"),
    FLAG(image_size, INT, "0", "(dml) crop size override (resize = size·256/224); 0 = the reference's 224/227/256"),
    FLAG(folder_classes, STR, "", "(dml) --dataset folder: file naming the training classes, one per line"),
    FLAG(max_per_class, INT, "0", "(dml) keep at most this many images per class in each split, 0 = all"),
    FLAG(use_tv_split, BOOL, "0", "carve a validation split out of the training data"),
    FLAG(tv_split_by_samples, BOOL, "0", "split per class by samples instead of by classes"),
    FLAG(tv_split_perc, FLOAT, "0.8", "fraction kept for training"),
    /* general training */
    FLAG(lr, FLOAT, "1e-5", "learning rate of the network"),
    FLAG(fc_lr, FLOAT, "-1", "learning rate of last_linear if >= 0"),
    FLAG(decay, FLOAT, "4e-4", "weight decay (Adam L2 style) on network parameters"),
    FLAG(n_epochs, INT, "150", "epochs"),
    FLAG(kernels, INT, "6", "worker threads (data loading, faiss)"),
    FLAG(bs, INT, "112", "batch size (divisible by --samples_per_class)"),
    FLAG(seed, INT, "1", "random seed"),
    FLAG(scheduler, STR, "step", "lr schedule: step (MultiStepLR over --tau) or none"),
    FLAG(gamma, FLOAT, "0.3", "lr multiplier at each milestone"),
    FLAG(tau, INTLIST, "1000", "lr milestones in epochs"),
    FLAG(optim, STR, "adam", "optimizer: adam or sgd (momentum 0.9, as the reference)"),
    FLAG(loss, STR, "margin", "criterion (the --loss groups below)"),
    FLAG(batch_mining, STR, "distance", "batch miner (the --batch_mining groups below)"),
    /* network */
    FLAG(embed_dim, INT, "128", "embedding dimension"),
    FLAG(not_pretrained, BOOL, "0", "do not load pretrained weights"),
    FLAG(pretrained, STR, "", "(dml) ImageNet weights as .safetensors with torchvision/timm names; default: "
                              "$DML_WEIGHTS/<arch>.safetensors (the reference downloads them)"),
    FLAG(arch, STR, "mlp_normalize", "network: mlp, mlp_normalize (this build)"),
    FLAG(backend, STR, "auto", "(dml) compute backend: auto, cpu, cuda"),
    FLAG(precision, STR, "fp32", "(dml) activations of the conv layers: fp32, or bf16 (fp32 master weights, gradients, Adam state, head output and loss)"),
    FLAG(conv_bwd_threads, INT, "2", "(dml) threads oneDNN plans convolution weight gradients with (changes result bits; any OMP thread count then gives the same bits)"),
    /* evaluation */
    FLAG(no_train_metrics, BOOL, "0", "skip metrics on the training split (honoured, unlike the reference)"),
    FLAG(evaluate_on_gpu, BOOL, "0", "exact kNN of the evaluation on the GPU (own CUDA search; k-means stays on the CPU)"),
    FLAG(eval_init, BOOL, "0", "(dml) also evaluate before training, recorded as epoch -1"),
    FLAG(evaluation_metrics, STRLIST, "e_recall@1 e_recall@2 e_recall@4 e_recall@8 nmi", "metrics per split"),
    FLAG(storage_metrics, STRLIST, "e_recall@1", "metrics whose best epoch keeps embeddings/best"),
    FLAG(evaltypes, STRLIST, "discriminative", "embedding names (reference key part)"),
    /* setup */
    FLAG(gpu, INTLIST, "0", "GPU ids (the first is used)"),
    FLAG(savename, STR, "group_plus_seed", "run folder name; group_plus_seed = <group>_s<seed>"),
    FLAG(save_path, STR, "runs", "output root: <save_path>/<dataset>/<savename>/run.h5"),
    /* batch creation */
    FLAG(data_sampler, STR, "class_random", "batch sampler (the --data_sampler groups below)"),
    FLAG(samples_per_class, INT, "2", "samples per class in a batch"),
    FLAG(data_storage_no_update, BOOL, "0", "do not refresh the embedding storage with training batches"),
    FLAG(data_mb_mom, FLOAT, "-1", "memory-bank momentum of the storage update (greedy coreset), < 0 = replace"),
    FLAG(data_ssl_set, BOOL, "0", "NIR: the second half of every batch repeats the first half"),
    /* the loop, for nir */
    FLAG(warmup, INT, "0", "nir: epochs with the backbone frozen (needs trainer support)"),
    /* W&B */
    FLAG(log_online, BOOL, "0", "stream to Weights & Biases (key from WANDB_API_KEY or ~/.netrc)"),
    FLAG(project, STR, "Sample_Project", "W&B project"),
    FLAG(group, STR, "Sample_Group", "run group (also the run folder prefix)"),
    FLAG(wandb_entity, STR, "", "W&B entity (default: the key's own)"),
    FLAG(wandb_finish_timeout, FLOAT, "10", "(dml) seconds a finished run waits at most for W&B to take its last rows; the rest stays in the run folder for dml-sync"),
    FLAG(wandb_key, STR, "", "accepted, never used: the key comes from WANDB_API_KEY or ~/.netrc"),
    /* (dml) checking a run line */
    FLAG(dry_run, BOOL, "0", "(dml) check flags, method names, dataset layout and weights, print the run record's path, exit"),
    FLAG(dry_run_skip_data, BOOL, "0", "(dml) with --dry_run: do not look at --source_path (the dataset name is still checked)"),
    FLAG(dry_run_lines, STR, "", "(dml) dry-run every dml-train command line of this file (- = stdin) in one process"),
  };
  size_t k = sizeof table / sizeof *table;
  DML_ASSERT(k <= cap);
  for (size_t i = 0; i < k; i++) out[i] = table[i];
  return k;
}

/* Append a method's flags (a flag already in the table — the loop's or another method's — must have the same
 * type and default: it is one flag) and its --help group. */
static void add_method(struct dml_train_cli *tc, size_t *n, const char *title, const struct dml_flag *fl, size_t nf) {
  for (size_t i = 0; i < nf; i++) {
    const struct dml_flag *same = NULL;
    for (size_t k = 0; k < *n && !same; k++)
      if (!strcmp(tc->flags[k].name, fl[i].name)) same = &tc->flags[k];
    if (same) {
      if (same->type != fl[i].type || strcmp(same->def ? same->def : "", fl[i].def ? fl[i].def : ""))
        DML_ABORT("flag --%s is declared twice with different types or defaults (%s)", fl[i].name, title);
      continue;
    }
    tc->flags[*n] = fl[i];
    tc->flags[*n].dst = dml_flag_slot(&tc->values[*n], fl[i].type);
    (*n)++;
  }
  size_t g = tc->cli.n_groups++;
  tc->titles[g] = xstrdup(title);
  tc->groups[g] = (struct dml_flag_group){tc->titles[g], fl, nf};
}

void dml_train_cli_init(struct dml_train_cli *tc, struct dml_train_opts *o, const struct dml_flag *extra,
                        size_t n_extra) {
  memset(tc, 0, sizeof *tc);
  size_t n_methods = 0, n_method_flags = 0;
  for (int i = 0; dml_sampler_defs[i]; i++) n_methods++, n_method_flags += dml_sampler_defs[i]->n_flags;
  for (int i = 0; dml_miner_defs[i]; i++) n_methods++, n_method_flags += dml_miner_defs[i]->n_flags;
  for (int i = 0; dml_criterion_defs[i]; i++) n_methods++, n_method_flags += dml_criterion_defs[i]->n_flags;
  size_t cap = DML_TRAIN_MAX_FLAGS + 1 + n_method_flags + n_extra;
  tc->flags = xcalloc(cap, sizeof *tc->flags);
  tc->values = xcalloc(cap, sizeof *tc->values);
  tc->groups = xcalloc(n_methods + 1, sizeof *tc->groups);
  tc->titles = xcalloc(n_methods + 1, sizeof *tc->titles);
  size_t n = dml_train_flags(o, tc->flags, DML_TRAIN_MAX_FLAGS);
  tc->flags[n++] = (struct dml_flag){"resume", DML_FLAG_STR, &o->resume, "",
                                     "continue the run in this folder with its stored configuration (only --n_epochs and operational flags may differ; see docs/run-format.md)"};
  tc->cli.groups = tc->groups;
  for (int i = 0; dml_sampler_defs[i]; i++) {
    const struct dml_sampler_def *d = dml_sampler_defs[i];
    char *title = dml_strfmt("--data_sampler %s%s%s%s: %s", d->name, d->alias ? " (or " : "", d->alias ? d->alias : "",
                             d->alias ? ")" : "", d->summary ? d->summary : "");
    add_method(tc, &n, title, d->flags, d->n_flags);
    free(title);
  }
  for (int i = 0; dml_miner_defs[i]; i++) {
    const struct dml_miner_def *d = dml_miner_defs[i];
    char *title = dml_strfmt("--batch_mining %s: %s", d->name, d->summary ? d->summary : "");
    add_method(tc, &n, title, d->flags, d->n_flags);
    free(title);
  }
  for (int i = 0; dml_criterion_defs[i]; i++) {
    const struct dml_criterion_def *d = dml_criterion_defs[i];
    const char *miners = !d->requires_miner ? "" : strcmp(d->allowed_miners, "*") ? d->allowed_miners : "any";
    char *title = dml_strfmt("--loss %s: %s%s%s%s", d->name, d->summary ? d->summary : "",
                             d->requires_miner ? " (miner: " : "", miners, d->requires_miner ? ")" : "");
    add_method(tc, &n, title, d->flags, d->n_flags);
    free(title);
  }
  for (size_t i = 0; i < n_extra; i++) tc->flags[n++] = extra[i];
  tc->cli.flags = tc->flags;
  tc->cli.n_flags = n;
}

dml_status dml_train_cli_parse_string(struct dml_train_cli *tc, struct dml_train_opts *o, const char *args) {
  memset(o, 0, sizeof *o);
  dml_train_cli_init(tc, o, NULL, 0);
  tc->cli.prog = "dml-train";
  tc->cli.max_positional = 0;
  char *copy = xstrdup(args ? args : "");
  size_t cap = strlen(copy) / 2 + 2;
  char **argv = xcalloc(cap + 1, sizeof *argv);
  int argc = 0;
  argv[argc++] = "dml-train";
  for (char *t = strtok(copy, " \t\n"); t; t = strtok(NULL, " \t\n")) argv[argc++] = t;
  dml_status st = dml_flags_parse(&tc->cli, argc, argv);
  free(argv);
  free(copy);
  return st;
}

struct dml_opts dml_train_cli_opts(const struct dml_train_cli *tc) {
  return (struct dml_opts){tc->cli.flags, tc->cli.n_flags};
}

void dml_train_cli_free(struct dml_train_cli *tc) {
  dml_flags_free(&tc->cli);
  for (size_t g = 0; g < tc->cli.n_groups; g++) free(tc->titles[g]);
  free(tc->titles);
  free(tc->groups);
  free(tc->values);
  free(tc->flags);
  memset(tc, 0, sizeof *tc);
}
