/* train — the training module: options (the reference's flat flag namespace), datasets, samplers,
 * miners, criteria, optimizers and the training loop behind dml-train.
 *
 * One method, one file: train/datasets/<name>.c, train/datasampler/<name>.c, train/batchminer/<name>.c,
 * train/criteria/<name>.c, train/optim/<name>.c; each folder has one registry (registry.c: name → constructor).
 * Every component reads what it needs from `struct dml_train_opts`, as every reference module reads `opt`.
 */
#ifndef DML_TRAIN_H
#define DML_TRAIN_H
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "train/nn/nn.h"

// ---------------------------------------------------------------------------------------------- options

struct dml_train_opts {
  /* dataset */
  char *dataset, *source_path, *augmentation;
  int max_per_class;                /* ours: keep at most this many images per class (0 = all), for tests */
  int use_tv_split, tv_split_by_samples;
  double tv_split_perc;
  /* general training */
  double lr, fc_lr, decay, gamma;
  int n_epochs, kernels, bs, seed;
  char *scheduler, *optim, *loss, *batch_mining;
  struct dml_intlist tau;
  /* network */
  int embed_dim, not_pretrained;
  char *pretrained;
  char *arch, *backend;
  /* evaluation */
  int no_train_metrics, evaluate_on_gpu, eval_init;
  struct dml_strlist evaluation_metrics, storage_metrics, evaltypes;
  /* setup */
  struct dml_intlist gpu;
  char *savename, *save_path;
  /* W&B */
  int log_online;
  char *project, *group, *wandb_entity;
  /* batch creation */
  char *data_sampler;
  int samples_per_class;
  /* loss: margin */
  double loss_margin_margin, loss_margin_beta_lr, loss_margin_beta, loss_margin_nu;
  int loss_margin_beta_constant;
  /* miner: distance */
  double miner_distance_lower_cutoff, miner_distance_upper_cutoff;
  /* loss: the zoo (spec A1.3, B2); names are the flag names */
  double loss_contrastive_pos_margin, loss_contrastive_neg_margin, loss_triplet_margin, loss_proxynca_lrmulti;
  double loss_npair_l2, loss_angular_alpha, loss_angular_npair_ang_weight, loss_angular_npair_l2;
  double loss_multisimilarity_pos_weight, loss_multisimilarity_neg_weight, loss_multisimilarity_margin;
  double loss_multisimilarity_thresh, loss_lifted_neg_margin, loss_lifted_l2;
  char *loss_multisimilarity_variant;  /* (dml) revisit (per-anchor, default) or nir (vectorised NIR-repo form) */
  double loss_multisimilarity_pos_thresh, loss_multisimilarity_neg_thresh; /* NIR flags (variant nir) */
  double loss_quadruplet_margin_alpha_1, loss_quadruplet_margin_alpha_2;
  int loss_quadruplet_per_triplet;  /* (dml) paper form: one fourth sample per triplet */
  int loss_softtriplet_n_centroids;
  double loss_softtriplet_margin_delta, loss_softtriplet_gamma, loss_softtriplet_lambda;
  double loss_softtriplet_reg_weight, loss_softtriplet_lrmulti;
  int loss_softtriplet_paper;       /* (dml) paper form: centroid columns normalised, softmax over K with 1/γ */
  double loss_softmax_lr, loss_softmax_temperature;
  int loss_histogram_nbins;
  double loss_snr_margin, loss_snr_reg_lambda;
  double loss_arcface_lr, loss_arcface_angular_margin, loss_arcface_feature_scale;
  int loss_arcface_all_logits;      /* (dml) ICML-era version: margin correction added to every logit */
  char *loss_oproxy_mode;
  double loss_oproxy_lrmulti, loss_oproxy_pos_alpha, loss_oproxy_neg_alpha, loss_oproxy_pos_delta;
  double loss_oproxy_neg_delta;
  /* nir (spec B2, B4) */
  double loss_nir_w_align, loss_nir_proxy_lrmulti, loss_nir_lrmulti, loss_nir_logmatch, loss_nir_pos_alpha;
  double loss_nir_neg_alpha, loss_nir_margin, loss_nir_delta, loss_nir_pair_perc, loss_nir_noise;
  char *loss_nir_nf_cond_mode, *loss_nir_nf_fc_init;
  int loss_nir_nf_fc_depth, loss_nir_nf_fc_width, loss_nir_nf_cblocks;
  double loss_nir_nf_fc_dropout, loss_nir_nf_clamp_alpha;
  int warmup;                       /* NIR: epochs with a frozen backbone (the trainer's job) */
  /* adversarial_separation (DiVA; its flags are missing in the reference, BUG C5; added here) */
  int diva_decorrnet_dim;
  double diva_decorrnet_lr;
  struct dml_strlist diva_decorrelations;  /* "s-t" pairs of embedding chunk indices */
  struct dml_floatlist diva_rho_decorrelation;
  /* miners: the zoo (spec A1.4, B2) */
  double miner_rho_distance_lower_cutoff, miner_rho_distance_upper_cutoff, miner_rho_distance_cp;
  double miner_semihard_margin;     /* NIR flag; < 0 = the loss's own margin (Revisit) */
  char *miner_parametric_mode;      /* (dml, BUG M1) uniform | hards | semihards | veryhards */
  int miner_parametric_n_support;
  double miner_parametric_support_lim_lo, miner_parametric_support_lim_hi;
  /* samplers: batch creation (spec A1.5) */
  int data_batchmatch_bigbs, data_batchmatch_ncomps, data_storage_no_update, data_sampler_lowproj_dim;
  double data_d2_coreset_lambda, data_gc_coreset_lim, data_mb_mom, data_mb_lr;
  char *data_sim_measure;
  int data_gc_softened, data_idx_full_prec;
  /* (dml) the course lab's global hard negatives */
  int data_hardneg_k, miner_global_hardneg_k;
  int data_ssl_set;                 /* NIR: the second half of every batch repeats the first half */
  char *resume;                     /* --resume DIR: continue the interrupted run in DIR ("" = a new run) */
};

/* Write the flag table of dml-train (reference names and defaults; see train/options.c) bound to `o` into
 * out (cap entries, DML_TRAIN_MAX_FLAGS is enough); returns the number of flags. */
#define DML_TRAIN_MAX_FLAGS 192
size_t dml_train_flags(struct dml_train_opts *o, struct dml_flag *out, size_t cap);

/* The whole command line of dml-train (and of dml-criterion, which adds its own flags): every flag of
 * dml_train_flags plus --resume, then `extra` (n_extra, bound by the caller). The caller sets cli.prog, .summary,
 * .usage and the positional limits, parses with dml_flags_parse(&tc->cli, …), and frees with dml_train_cli_free
 * (which also frees the parsed values). The config JSON of a run is dml_flags_to_json(&tc->cli). */
struct dml_train_cli {
  struct dml_cli cli;
  struct dml_flag *flags;           /* (cli.n_flags) owned */
};
void dml_train_cli_init(struct dml_train_cli *tc, struct dml_train_opts *o, const struct dml_flag *extra,
                        size_t n_extra);
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
};

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
void dml_dataset_batch(const struct dml_dataset *d, const int32_t *idx, int count, float *out);
dml_status dml_dataset_fashion_mnist(const struct dml_train_opts *o, struct dml_dataset *train,
                                     struct dml_dataset *test);

// ---------------------------------------------------------------------------------------------- samplers

struct dml_sampler {
  const char *name;
  const struct dml_dataset *data;
  int bs, samples_per_class;
  uint64_t seed;
  int32_t **by_class;     /* indices per class position */
  int *class_count;
  int n_batches;          /* per epoch: floor(N / bs) */
  /* Fill idx (bs) with the dataset indices of batch `step` of `epoch`; a pure function of (seed, epoch, step)
   * and, for the storage samplers below, of the storage contents. */
  void (*batch)(const struct dml_sampler *s, long epoch, long step, int32_t *idx);
  /* Storage samplers (greedy_coreset, d2_coreset, disthist_batchmatch) select from embeddings of the training
   * set: needs_storage = 1. The trainer feeds them through dml_sampler_update: once at the start of training
   * with every training image (eval transforms, network in eval mode; idx = 0 … N−1), and, unless
   * --data_storage_no_update, after every step with the batch's embeddings. Until the storage is complete
   * (storage_filled < N) these samplers fall back to class_random batches. */
  int needs_storage, storage_no_update;
  int storage_dim;        /* D once fed */
  long storage_filled;    /* rows written at least once */
  float *storage;         /* (N, D) */
  unsigned char *storage_seen; /* (N) */
  double mb_mom;          /* --data_mb_mom: storage ← mom·old + (1−mom)·new when in (0, 1), else replaced */
  int bigbs, ncomps, lowproj_dim, gc_softened, hardneg_k;
  /* --data_ssl_set: batch() calls inner_batch, then copies the first half of the batch over the second */
  void (*inner_batch)(const struct dml_sampler *s, long epoch, long step, int32_t *idx);
  double d2_lambda;
};

dml_status dml_sampler_create(const struct dml_train_opts *o, const struct dml_dataset *d, struct dml_sampler *out);
void dml_sampler_free(struct dml_sampler *s);
/* Write embeddings emb (count, D) of dataset indices idx into a storage sampler's storage (no-op for others). */
void dml_sampler_update(struct dml_sampler *s, const int32_t *idx, const float *emb, int count, int D);
/* The i-th registered sampler name (NULL past the end). */
const char *dml_sampler_name(int i);
dml_status dml_sampler_class_random(const struct dml_train_opts *o, struct dml_sampler *s);
dml_status dml_sampler_full_random(const struct dml_train_opts *o, struct dml_sampler *s);
dml_status dml_sampler_greedy_coreset(const struct dml_train_opts *o, struct dml_sampler *s);
dml_status dml_sampler_d2_coreset(const struct dml_train_opts *o, struct dml_sampler *s);
dml_status dml_sampler_disthist_batchmatch(const struct dml_train_opts *o, struct dml_sampler *s);
dml_status dml_sampler_global_hardneg(const struct dml_train_opts *o, struct dml_sampler *s);
/* Shared by the samplers: the class_random batch (the storage samplers' fallback), and `count` distinct
 * dataset indices drawn uniformly (partial Fisher–Yates) into out. */
void dml_sampler_class_random_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx);
void dml_sampler_subset(const struct dml_sampler *s, struct dml_rng *r, int count, int32_t *out);
/* Class position (index into data->classes / by_class) of dataset index idx. */
int dml_sampler_class_of(const struct dml_sampler *s, int32_t idx);
/* Fill the spc − 1 slots after each chosen centre idx[g·spc] with uniform (with replacement) members of its class. */
void dml_sampler_fill_classes(const struct dml_sampler *s, struct dml_rng *r, int32_t *idx);

// ---------------------------------------------------------------------------------------------- miners

struct dml_tuples {
  int n, cap;
  int32_t (*t)[3];        /* (n, 3): anchor, positive, negative batch positions */
};
void dml_tuples_push(struct dml_tuples *tu, int32_t a, int32_t p, int32_t n);
void dml_tuples_free(struct dml_tuples *tu);

struct dml_miner {
  const char *name;            /* registry key, e.g. "distance" */
  const char *internal_name;   /* what a criterion's allowed list is checked against */
  double lower_cutoff, upper_cutoff;
  double margin;               /* semihard */
  double cp;                   /* rho_distance: probability of a flipped triplet */
  int k;                       /* global_hardneg: nearest negatives to draw from */
  int mode, n_support;         /* parametric: 0 uniform, 1 hards, 2 semihards, 3 veryhards; bins */
  double support_lo, support_hi;
  /* Mine tuples from a batch: emb (B, D) host, labels (B). `r` is the step's miner stream. */
  dml_status (*mine)(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                     struct dml_rng *r, struct dml_tuples *out);
};

dml_status dml_miner_create(const struct dml_train_opts *o, struct dml_miner *out);
dml_status dml_miner_distance(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_random(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_semihard(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_softhard(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_rho_distance(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_npair(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_lifted(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_random_distance(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_intra_random(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_parametric(const struct dml_train_opts *o, struct dml_miner *m);
dml_status dml_miner_global_hardneg(const struct dml_train_opts *o, struct dml_miner *m);
/* The i-th registered miner name (NULL past the end). */
const char *dml_miner_name(int i);
/* Tuple conventions: triplet miners emit (a, p, n); npair emits (a, p, −1) (negatives = every other label);
 * lifted emits (a, −1, −1) (positives / negatives = every other same / different label position). */
/* Distance-weighted negative for anchor i (Wu et al., spec A8) from its distance row dist (B); −1 if none. */
int dml_miner_distance_negative(const double *dist, const int32_t *labels, int i, int B, int D, double lower_cutoff,
                                struct dml_rng *r);
/* A uniformly drawn other position with labels[j] == labels[i]; i itself when there is none (no draw then). */
int dml_miner_random_positive(const int32_t *labels, int i, int B, struct dml_rng *r);
/* Detached pairwise Euclidean distances the reference way: sqrt(max(‖a‖²+‖b‖²−2a·b, 0)); out (B, B) double. */
void dml_pairwise_distances(const float *emb, int B, int D, double *out);

// ---------------------------------------------------------------------------------------------- criteria

struct dml_criterion {
  const char *name;
  int requires_miner;
  const char *allowed_miners;  /* space-separated internal miner names, "*" = all, "" = none used */
  struct dml_params params;    /* learnable criterion parameters (host), optimizer group 1 */
  double params_lr;            /* their learning rate */
  const double *param_lr;      /* NULL, or (params.n) a learning rate per parameter that overrides params_lr
                                * (nir: proxies lr·4000, flow lr·50); the trainer must honour it */
  void *state;
  void *scratch;               /* float64 tape kept between calls (no page faults per step); freed by _free */
  /* loss of a batch; grad_emb (B, D) is overwritten (=) with dL/demb; parameter grads are accumulated (+=). */
  dml_status (*loss)(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                     const struct dml_tuples *tuples, double *loss, float *grad_emb);
  void (*destroy)(struct dml_criterion *c);
};

/* n_classes: number of training classes; class_of: label → class position (labels may be any ints). */
dml_status dml_criterion_create(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                struct dml_criterion *out);
dml_status dml_criterion_margin(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                struct dml_criterion *c);
void dml_criterion_free(struct dml_criterion *c);
/* The i-th registered criterion name (NULL past the end), for listings and tests. */
const char *dml_criterion_name(int i);
/* The zoo (one file each in train/criteria/; formulas and reference-vs-paper choices in each file's header). */
dml_status dml_criterion_triplet(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                 struct dml_criterion *c);
dml_status dml_criterion_contrastive(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                     struct dml_criterion *c);
dml_status dml_criterion_lifted(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                struct dml_criterion *c);
dml_status dml_criterion_npair(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                               struct dml_criterion *c);
dml_status dml_criterion_angular(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                 struct dml_criterion *c);
dml_status dml_criterion_snr(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                             struct dml_criterion *c);
dml_status dml_criterion_quadruplet(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                    struct dml_criterion *c);
dml_status dml_criterion_proxynca(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                  struct dml_criterion *c);
dml_status dml_criterion_softmax(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                 struct dml_criterion *c);
dml_status dml_criterion_arcface(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                 struct dml_criterion *c);
dml_status dml_criterion_softtriplet(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                     struct dml_criterion *c);
dml_status dml_criterion_histogram(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                   struct dml_criterion *c);
dml_status dml_criterion_multisimilarity(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                         struct dml_criterion *c);
dml_status dml_criterion_adversarial_separation(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                                struct dml_criterion *c);
dml_status dml_criterion_oproxy(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                struct dml_criterion *c);
dml_status dml_criterion_nir(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                             struct dml_criterion *c);

// ---------------------------------------------------------------------------------------------- optim

struct dml_adam {
  double beta1, beta2, eps;
};
/* Adam as torch.optim.Adam (L2 weight decay added to the gradient for params with decay=1) over a parameter
 * table: m, v are (ps->total) host buffers laid out like ps->values; lr (ps->n) is each parameter's learning
 * rate, NAN = not stepped (no gradient); steps (ps->n) are the per-parameter step counts. */
void dml_adam_step(const struct dml_adam *a, struct dml_params *ps, float *m, float *v, double weight_decay,
                   const double *lr, long *steps);
#endif
