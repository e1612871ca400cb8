/* methods — what a method of dml-train (a criterion in train/criteria/, a miner in train/batchminer/, a sampler in
 * train/datasampler/) sees and exports. Methods include this header, never train/train.h: they see batches,
 * shapes and a read-only view of the flag table, never the trainer's option struct.
 *
 * Adding a criterion (or a miner: struct dml_miner_def, train/batchminer/list.h; a sampler: struct
 * dml_sampler_def, train/datasampler/list.h) is one file and one line (docs/methods.md):
 *
 *   // train/criteria/mine.c
 *   #include "train/criteria/ad.h"           // the float64 tape and the criteria's helpers (or train/methods.h)
 *   static const struct dml_flag flags[] = {
 *     DML_METHOD_FLAG(loss_mine_margin, FLOAT, "0.2", "mine: the margin"),
 *   };
 *   static dml_status mine_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
 *                                 struct dml_criterion *c) {
 *     double *m = xmalloc(sizeof *m);
 *     *m = dml_opts_float(opt, "loss_mine_margin");
 *     c->state = m, c->loss = mine_loss, c->destroy = mine_destroy;
 *     return DML_OK;
 *   }
 *   const struct dml_criterion_def dml_criterion_def_mine = {
 *     .name = "mine", .summary = "my loss", DML_METHOD_FLAGS(flags),
 *     .requires_miner = 1, .allowed_miners = "*", .create = mine_create,
 *   };
 *
 *   // train/criteria/list.h
 *   DML_CRITERION(mine)
 *
 * Flags: each method declares the flags it owns (reference names, flat namespace: the name carries the method,
 * e.g. loss_margin_beta); dml-train's table is its own flags plus every registered method's, so a method flag
 * is given as `--loss_margin_beta 0.6` whatever --loss is, prefixes abbreviate, and the run's config JSON holds
 * them all. Two methods may declare the same flag (same type and default; oproxy and nir share loss_oproxy_*):
 * it is one flag of the table. At construction a method reads its flags, and the loop's `lr`, `seed`, `arch`,
 * `loss` and `batch_mining` where the reference does, through the view (dml_opts_float(opt, "name"), …).
 */
#ifndef DML_TRAIN_METHODS_H
#define DML_TRAIN_METHODS_H
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "train/nn/nn.h"

/* A flag a method declares (no variable: the trainer keeps its value; read it with dml_opts_*). */
#define DML_METHOD_FLAG(n, t, d, h) {#n, DML_FLAG_##t, NULL, d, h}
/* .flags and .n_flags of a definition from a static array. */
#define DML_METHOD_FLAGS(arr) .flags = (arr), .n_flags = sizeof(arr) / sizeof *(arr)

// ---------------------------------------------------------------------------------------------- tuples

struct dml_tuples {
  int n, cap;
  int32_t (*t)[3];        /* (n, 3): anchor, positive, negative batch positions */
  int32_t *fourth;        /* (n) or NULL: quadruplet's fourth sample per tuple, given instead of drawn */
};
void dml_tuples_push(struct dml_tuples *tu, int32_t a, int32_t p, int32_t n);
/* Give the quadruplet loss its fourth samples (n entries, copied; tu->n tuples must be pushed first). */
void dml_tuples_set_fourth(struct dml_tuples *tu, const int32_t *q);
void dml_tuples_free(struct dml_tuples *tu);

// ---------------------------------------------------------------------------------------------- samplers

/* What a sampler draws from and for: the training set's labels and the batch's composition. */
struct dml_sampler_shape {
  int n;                       /* training images */
  const int32_t *labels;       /* (n) */
  int n_classes;
  const int32_t *classes;      /* (n_classes) the distinct labels, ascending */
  int bs, samples_per_class;   /* --bs, --samples_per_class (bs a multiple of it) */
  uint64_t seed;               /* --seed */
};

struct dml_sampler_def;
struct dml_sampler {
  const char *name;
  const struct dml_sampler_def *def;
  struct dml_sampler_shape data; /* labels/classes point at the caller's arrays, which must outlive the sampler */
  int bs, samples_per_class;   /* = data.bs, data.samples_per_class */
  int batch_len;               /* entries batch() fills: bs, or with --data_ssl_set 2·spc·⌊bs/spc/2⌋ (NIR: 88 of 90) */
  uint64_t seed;               /* = data.seed */
  int32_t **by_class;          /* indices per class position */
  int *class_count;
  int n_batches;               /* per epoch: floor(N / bs) */
  void *state;                 /* the sampler's own (opaque), free()d by dml_sampler_free */
  /* Fill idx (bs) with the dataset indices of batch `step` of `epoch`; a pure function of (seed, epoch, step)
   * and, for the storage samplers below, of the storage contents. */
  void (*batch)(const struct dml_sampler *s, long epoch, long step, int32_t *idx);
  /* Storage samplers (greedy_coreset, d2_coreset, disthist_batchmatch, global_hardneg) select from embeddings of
   * the training set: needs_storage = 1. The trainer feeds them through dml_sampler_update: once at the start of
   * training with every training image (eval transforms, network in eval mode; idx = 0 … N−1), and, unless
   * --data_storage_no_update, after every step with the batch's embeddings. Until the storage is complete
   * (storage_filled < N) these samplers fall back to class_random batches. */
  int needs_storage, storage_no_update;
  int storage_dim;             /* D once fed */
  long storage_filled;         /* rows written at least once */
  float *storage;              /* (N, D) */
  unsigned char *storage_seen; /* (N) */
  double mb_mom;               /* --data_mb_mom: storage ← mom·old + (1−mom)·new when in (0, 1), else replaced */
  /* --data_ssl_set: batch() calls inner_batch, keeps its first ⌊bs/spc/2⌋ class groups and repeats them (the NIR
   * reference draws train_draws // 2 classes and doubles the list: bs 90, spc 2 gives 88 entries) */
  void (*inner_batch)(const struct dml_sampler *s, long epoch, long step, int32_t *idx);
};

struct dml_sampler_def {
  const char *name;            /* --data_sampler NAME */
  const char *alias;           /* another accepted name, or NULL */
  const char *summary;         /* one line for --help */
  const struct dml_flag *flags;/* (n_flags) the flags it owns */
  size_t n_flags;
  int needs_storage;           /* selects from the embedding storage (see struct dml_sampler) */
  /* NULL for a sampler without flags; else validate and set s->state (s is filled but for state) */
  dml_status (*create)(const struct dml_opts *opt, struct dml_sampler *s);
  void (*batch)(const struct dml_sampler *s, long epoch, long step, int32_t *idx);
};

/* Build sampler `name` (a registered one or its alias, see train/datasampler/list.h) for shape; reads the loop's
 * --data_ssl_set, --data_storage_no_update and --data_mb_mom from opt. */
dml_status dml_sampler_create(const char *name, const struct dml_opts *opt, const struct dml_sampler_shape *shape,
                              struct dml_sampler *out);
void dml_sampler_free(struct dml_sampler *s);
/* Write embeddings emb (count, D) of dataset indices idx into a storage sampler's storage (no-op for others). */
void dml_sampler_update(struct dml_sampler *s, const int32_t *idx, const float *emb, int count, int D);
/* The i-th registered sampler (NULL past the end). */
const struct dml_sampler_def *dml_sampler_def(int i);
const char *dml_sampler_name(int i);
/* Shared by the samplers: the class_random batch (the storage samplers' fallback), and `count` distinct
 * dataset indices drawn uniformly (partial Fisher–Yates) into out. */
void dml_sampler_class_random_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx);
void dml_sampler_subset(const struct dml_sampler *s, struct dml_rng *r, int count, int32_t *out);
/* Class position (index into data.classes / by_class) of dataset index idx. */
int dml_sampler_class_of(const struct dml_sampler *s, int32_t idx);
/* Fill the spc − 1 slots after each chosen centre idx[g·spc] with uniform (with replacement) members of its class. */
void dml_sampler_fill_classes(const struct dml_sampler *s, struct dml_rng *r, int32_t *idx);

// ---------------------------------------------------------------------------------------------- miners

/* Tuple conventions: triplet miners emit (a, p, n); npair emits (a, p, −1) (negatives = every other label);
 * lifted emits (a, −1, −1) (positives / negatives = every other same / different label position). */
struct dml_miner_def;
struct dml_miner {
  const char *name;            /* registry key, e.g. "distance" */
  const char *internal_name;   /* what a criterion's allowed list is checked against */
  const struct dml_miner_def *def;
  void *state;                 /* the miner's own (opaque), freed by dml_miner_free */
  /* Mine tuples from a batch: emb (B, D) host, labels (B). `r` is the step's miner stream. */
  dml_status (*mine)(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                     struct dml_rng *r, struct dml_tuples *out);
};

struct dml_miner_def {
  const char *name;            /* --batch_mining NAME */
  const char *internal_name;   /* the name criteria's allowed lists use (random_distance mines as "distance") */
  const char *summary;         /* one line for --help */
  const struct dml_flag *flags;/* (n_flags) the flags it owns */
  size_t n_flags;
  /* NULL for a miner without state; else set m->state (free()d by dml_miner_free) */
  dml_status (*create)(const struct dml_opts *opt, struct dml_miner *m);
  dml_status (*mine)(const struct dml_miner *m, const float *emb, const int32_t *labels, int B, int D,
                     struct dml_rng *r, struct dml_tuples *out);
};

/* Build miner `name` (a registered one, see train/batchminer/list.h). */
dml_status dml_miner_create(const char *name, const struct dml_opts *opt, struct dml_miner *out);
void dml_miner_free(struct dml_miner *m);
/* The i-th registered miner (NULL past the end). */
const struct dml_miner_def *dml_miner_def(int i);
const char *dml_miner_name(int i);
/* Shared by the miners. Distance-weighted negative for anchor i (Wu et al., spec A8) from its distance row dist
 * (B); −1 if none. */
int dml_miner_distance_negative(const double *dist, const int32_t *labels, int i, int B, int D, double lower_cutoff,
                                struct dml_rng *r);
/* parametric (train/batchminer/parametric.c): the probability of each batch position j as anchor i's negative,
 * from its distance row dist (B); m must be a parametric miner. */
void dml_miner_parametric_probs(const struct dml_miner *m, const double *dist, const int32_t *labels, int i, int B,
                                double *p);
/* A uniformly drawn other position with labels[j] == labels[i]; i itself when there is none (no draw then). */
int dml_miner_random_positive(const int32_t *labels, int i, int B, struct dml_rng *r);
/* Detached pairwise Euclidean distances the reference way: sqrt(max(‖a‖²+‖b‖²−2a·b, 0)); out (B, B) double. */
void dml_pairwise_distances(const float *emb, int B, int D, double *out);

// ---------------------------------------------------------------------------------------------- criteria

/* What a criterion is built for: every batch it is given must have D = embed_dim and labels in classes. */
struct dml_criterion_shape {
  int embed_dim;
  int n_classes;
  const int32_t *classes;      /* (n_classes) the training labels, ascending (any ints) */
};

struct dml_criterion_def;
struct dml_criterion {
  const char *name;
  const struct dml_criterion_def *def;
  int embed_dim, n_classes;    /* the shape it was built for (the registry sets them) */
  int requires_miner;          /* copied from the definition */
  const char *allowed_miners;  /* space-separated internal miner names, "*" = all, "" = none used */
  struct dml_params params;    /* learnable criterion parameters (host), optimizer group 1 */
  double params_lr;            /* their learning rate */
  const double *param_lr;      /* NULL, or (params.n) a learning rate per parameter that overrides params_lr
                                * (nir: proxies lr·4000, flow lr·50); the trainer must honour it */
  void *state;
  void *scratch;               /* float64 tape kept between calls (no page faults per step); freed by _free */
  /* loss of a batch; grad_emb (B, D) is overwritten (=) with dL/demb; parameter grads are accumulated (+=).
   * Call it through dml_criterion_loss, which checks the batch against the shape. */
  dml_status (*loss)(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                     const struct dml_tuples *tuples, double *loss, float *grad_emb);
  void (*destroy)(struct dml_criterion *c);
};

struct dml_criterion_def {
  const char *name;            /* --loss NAME */
  const char *summary;         /* one line for --help */
  const struct dml_flag *flags;/* (n_flags) the flags it owns, DML_METHOD_FLAG */
  size_t n_flags;
  int requires_miner;          /* needs mined tuples */
  const char *allowed_miners;  /* as in struct dml_criterion */
  /* Fill c (zeroed; name, def and shape already set): state, loss, destroy, parameters. */
  dml_status (*create)(const struct dml_opts *opt, const struct dml_criterion_shape *shape, struct dml_criterion *c);
};

/* Build criterion `name` (a registered one, see train/criteria/list.h) for shape. */
dml_status dml_criterion_create(const char *name, const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                struct dml_criterion *out);
/* c->loss after checking the batch against c's shape (D = embed_dim, B ≥ 1): a mismatch is a DML_ERR_ARG. */
dml_status dml_criterion_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                              const struct dml_tuples *tuples, double *loss, float *grad_emb);
/* Does c take tuples from miner m (its allowed_miners names m's internal name, or is "*")? DML_ERR_ARG naming both
 * and the allowed list if not. */
dml_status dml_criterion_check_miner(const struct dml_criterion *c, const struct dml_miner *m);
void dml_criterion_free(struct dml_criterion *c);
/* The i-th registered criterion (NULL past the end), for listings, --help and tests. */
const struct dml_criterion_def *dml_criterion_def(int i);
const char *dml_criterion_name(int i);
#endif
