/* train — the training module: options (the reference's flat flag namespace), datasets, samplers,
 * miners, criteria, optimizers and the training loop behind dml-train.
 *
 * One method, one file: train/datasets/<name>.c, train/datasampler/<name>.c, train/batchminer/<name>.c,
 * train/criteria/<name>.c, train/optim/<name>.c. Criteria, miners and samplers export a definition (train/methods.h: name,
 * own flags, requirements, constructor) registered by one line of their folder's list.h, and see batches, shapes
 * and a view of the flag table (dml_train_cli_opts), not `struct dml_train_opts`, which holds the loop's flags
 * (docs/methods.md). Datasets still read `struct dml_train_opts`, as every reference module reads `opt`.
 */
#ifndef DML_TRAIN_H
#define DML_TRAIN_H
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "train/datasets/images/images.h"
#include "train/methods.h"
#include "train/nn/nn.h"

// ---------------------------------------------------------------------------------------------- options

struct dml_train_opts {
  /* dataset */
  char *dataset, *source_path, *augmentation;
  int max_per_class;                /* ours: keep at most this many images per class (0 = all), for tests */
  int use_tv_split, tv_split_by_samples;
  double tv_split_perc;
  /* (dml) image datasets (train/datasets/images): decoding, pipeline, cache */
  char *cache_dir, *folder_classes;
  int image_exact, skip_bad_images, data_workers, prefetch, image_size;
  /* general training */
  double lr, fc_lr, decay, gamma;
  int n_epochs, kernels, bs, seed;
  char *scheduler, *optim, *loss, *batch_mining;
  struct dml_intlist tau;
  /* network */
  int embed_dim, not_pretrained;
  char *pretrained;
  char *arch, *backend;
  char *precision;                  /* ours: "fp32" or "bf16" activations of the conv layers */
  int conv_bwd_threads;             /* ours: oneDNN's plan for convolution weight gradients (recorded: changes bits) */
  /* evaluation */
  int no_train_metrics, evaluate_on_gpu, eval_init;
  struct dml_strlist evaluation_metrics, storage_metrics, evaltypes;
  /* setup */
  struct dml_intlist gpu;
  char *savename, *save_path;
  /* W&B */
  int log_online;
  char *project, *group, *wandb_entity, *wandb_key; /* wandb_key: accepted, never used */
  double wandb_finish_timeout;   /* seconds a finishing run waits for W&B (then rows stay for dml-sync) */
  int dry_run, dry_run_skip_data;   /* (dml) check a run line and exit (dml_train_dry_run) */
  char *dry_run_lines;              /* (dml) check every command line of this file */
  /* batch creation */
  char *data_sampler;
  int samples_per_class;
  /* training loop */
  int warmup;                       /* NIR: epochs with a frozen backbone (the trainer's job) */
  /* the embedding storage the loop feeds the storage samplers (spec A1.5) */
  int data_storage_no_update;
  double data_mb_mom;
  int data_ssl_set;                 /* NIR: the second half of every batch repeats the first half */
  char *resume;                     /* --resume DIR: continue the interrupted run in DIR ("" = a new run) */
};

/* Write the flag table of dml-train (reference names and defaults; see train/options.c) bound to `o` into
 * out (cap entries, DML_TRAIN_MAX_FLAGS is enough); returns the number of flags. */
#define DML_TRAIN_MAX_FLAGS 192
size_t dml_train_flags(struct dml_train_opts *o, struct dml_flag *out, size_t cap);

/* The whole command line of dml-train (and of dml-criterion, which adds its own flags): the loop's flags
 * (dml_train_flags, bound to o), --resume, every registered method's flags (values kept here; one group per
 * method for --help), then `extra` (n_extra, bound by the caller). The caller sets cli.prog, .summary, .usage
 * and the positional limits, parses with dml_flags_parse(&tc->cli, …), hands dml_train_cli_opts(tc) to the
 * methods, and frees with dml_train_cli_free (parsed values included). The config JSON of a run is
 * dml_flags_to_json(&tc->cli). */
struct dml_train_cli {
  struct dml_cli cli;
  struct dml_flag *flags;           /* (cli.n_flags) owned */
  union dml_flag_value *values;     /* storage of the method flags */
  struct dml_flag_group *groups;    /* (cli.n_groups) one per registered method */
  char **titles;                    /* (cli.n_groups) the groups' headings */
};
void dml_train_cli_init(struct dml_train_cli *tc, struct dml_train_opts *o, const struct dml_flag *extra,
                        size_t n_extra);
/* dml_train_cli_init (no extra flags), then parse `args`: flags separated by blanks, no quoting (for tests,
 * benchmarks and programs that build methods without a command line). Free with dml_train_cli_free. */
dml_status dml_train_cli_parse_string(struct dml_train_cli *tc, struct dml_train_opts *o, const char *args);
/* The view of every flag (loop and methods) that methods read. */
struct dml_opts dml_train_cli_opts(const struct dml_train_cli *tc);
void dml_train_cli_free(struct dml_train_cli *tc);

// ---------------------------------------------------------------------------------------------- datasets

struct dml_dataset {
  char *name;
  int n, channels, height, width;
  uint8_t *pixels;        /* (n, channels, height, width) */
  int32_t *labels;        /* (n) */
  int n_classes;          /* distinct labels */
  int32_t *classes;       /* (n_classes) the distinct labels, ascending */
  float mean[3], std[3];  /* normalisation constants */
  int expand_rgb;         /* a gray dataset fed to an RGB network: the channel is repeated 3 times, as the
                           * reference converts every image to RGB */
  int pad;                /* border of black pixels added on every side (28×28 digits → 32×32 for conv nets) */
  char **paths;           /* image datasets: (n) file paths (pixels NULL; channels 3, height = width = crop) */
  struct dml_image_source *src;
  int n_query;            /* > 0: items [0, n_query) are queries, the rest the gallery (In-Shop's test split) */
  struct dml_dataset *val_split; /* image datasets with --use_tv_split: their validation split, built by the
                                  * dataset's own rule and handed over by dml_dataset_split_val */
};

/* Image datasets (cub200, cars196, online_products, in_shop, folder) keep file paths instead of pixels; the
 * splits share one source: decode workers, the training and evaluation transforms, the cache. */
struct dml_image_source {
  dml_loader_t *loader;
  dml_image_cache_t *cache;
  struct dml_transform train_tf, eval_tf;
  uint64_t seed;
  int skip_bad, refs;
  long bad_at_load;       /* --skip_bad_images: files dropped when the dataset was read */
};

/* The i-th registered dataset name (NULL past the end). */
const char *dml_dataset_name(int i);
/* Load the train and test splits of a dataset by name (registry in train/datasets/registry.c). */
dml_status dml_dataset_load(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test);
/* --use_tv_split: carve a validation split out of the training data (spec A5): by classes (the first
 * ⌊C·perc⌋ classes stay train, the rest become val) or, with --tv_split_by_samples, per class the samples at
 * unique(round(linspace(0, n−1, ⌊n·perc⌋))) stay train (deterministic), the rest become val. Labels keep their
 * values (the reference re-indexes by-class splits from 0; label values do not change any method here). */
dml_status dml_dataset_split_val(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *val);
void dml_dataset_free(struct dml_dataset *d);
/* Normalised float images of the given indices into out (count, C, height + 2·pad, width + 2·pad), C = channels,
 * or 3 with expand_rgb. */
dml_status dml_dataset_batch(const struct dml_dataset *d, const int32_t *idx, int count, float *out);
/* The same with the training transform (random crops, flips: the stream of sample `pos0 + i` of `epoch`); for
 * in-memory datasets identical to dml_dataset_batch. */
dml_status dml_dataset_batch_train(const struct dml_dataset *d, const int32_t *idx, int count, long epoch, long pos0,
                                   float *out);
dml_status dml_dataset_fashion_mnist(const struct dml_train_opts *o, struct dml_dataset *train,
                                     struct dml_dataset *test);
dml_status dml_dataset_cub200(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test);
dml_status dml_dataset_cars196(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test);
dml_status dml_dataset_online_products(const struct dml_train_opts *o, struct dml_dataset *train,
                                       struct dml_dataset *test);
dml_status dml_dataset_in_shop(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test);
dml_status dml_dataset_folder(const struct dml_train_opts *o, struct dml_dataset *train, struct dml_dataset *test);

/* Batches of an epoch with the next ones decoded ahead (--prefetch) while the step runs: the training batches of
 * a sampler (train = 1: the training transform) or, with no sampler, the dataset in order (evaluation). */
struct dml_feed {
  const struct dml_dataset *d;
  struct dml_sampler *s;
  int bs, in_dim, depth, train;
  long epoch, n_steps, next_submit;
  struct dml_feed_slot *slot;   /* (depth) */
  int last;                     /* slot handed out by the previous dml_feed_next, -1 none */
  double wait_seconds;          /* time spent blocked on data */
};
void dml_feed_init(struct dml_feed *f, const struct dml_dataset *d, struct dml_sampler *s, int bs, int in_dim,
                   int depth);
/* Start an epoch at step `first` (of n_steps; evaluation: n_steps = ceil(n / bs)). */
void dml_feed_begin(struct dml_feed *f, long epoch, long first, long n_steps);
/* Batch `step` (steps in order): *idx (count) and *x (count, in_dim), valid until the next call; *count < bs only
 * for the last evaluation batch. */
dml_status dml_feed_next(struct dml_feed *f, long step, const int32_t **idx, float **x, int *count);
void dml_feed_free(struct dml_feed *f);

// ---------------------------------------------------------------------------------------------- samplers

/* The samplers (train/methods.h), tabled from train/datasampler/list.h by train/registry.c; NULL-terminated. */
extern const struct dml_sampler_def *const dml_sampler_defs[];

// ---------------------------------------------------------------------------------------------- miners

/* The miners (train/methods.h), tabled from train/batchminer/list.h by train/registry.c; NULL-terminated. */
extern const struct dml_miner_def *const dml_miner_defs[];

// ---------------------------------------------------------------------------------------------- criteria

/* The criteria (train/methods.h declares struct dml_criterion, its definition and dml_criterion_create), tabled
 * from train/criteria/list.h by train/registry.c; NULL-terminated. */
extern const struct dml_criterion_def *const dml_criterion_defs[];

// ---------------------------------------------------------------------------------------------- pretrained weights

/* train/pretrained.c. The weights file of a run (heap path in *path), or *path = NULL when nothing is to be loaded
 * (--not_pretrained, or an architecture without ImageNet weights: mlp): --pretrained FILE, else
 * $DML_WEIGHTS/<family>.safetensors (default folder ~/.cache/dml/weights). A missing file is DML_ERR_IO with one
 * line naming the file, the folder, a public release and --not_pretrained. */
dml_status dml_pretrained_path(const struct dml_train_opts *o, char **path);
/* "resnet50", "resnet18", "bninception", "googlenet", "densenet169" for an --arch of that family, else NULL. */
const char *dml_pretrained_family(const char *arch);
/* $DML_WEIGHTS, or ~/.cache/dml/weights (heap). */
char *dml_pretrained_dir(void);

// ---------------------------------------------------------------------------------------------- optim

struct dml_adam {
  double beta1, beta2, eps;
};
/* Adam as torch.optim.Adam (L2 weight decay added to the gradient for params with decay=1) over a parameter
 * table: m, v are (ps->total) host buffers laid out like ps->values; lr (ps->n) is each parameter's learning
 * rate; frozen (ps->n, or NULL = none) marks parameters not stepped (no gradient: their count does not advance);
 * steps (ps->n) are the per-parameter step counts. A NaN rate is not a marker: it is refused before training. */
void dml_adam_step(const struct dml_adam *a, struct dml_params *ps, float *m, float *v, double weight_decay,
                   const double *lr, const unsigned char *frozen, long *steps);
struct dml_sgd {
  double momentum, dampening;   /* the reference: 0.9, 0 */
};
/* SGD as torch.optim.SGD (momentum, dampening, L2 weight decay for params with decay=1) over a parameter table:
 * buf (ps->total) is the momentum buffer laid out like ps->values; lr, frozen, steps as for dml_adam_step
 * (steps[i] == 0: the buffer is created from this step's gradient, as torch does). */
void dml_sgd_step(const struct dml_sgd *s, struct dml_params *ps, float *buf, double weight_decay, const double *lr,
                  const unsigned char *frozen, long *steps);
#endif
