/* nn — tensors, the step arena, the parameter table, the autograd tape, and networks.
 *
 *   struct dml_params ps;  dml_params_init(&ps, be);
 *   struct dml_network net; dml_network_init(&net, &ps, "resnet50_frozen_normalize", 3*224*224, 128);  // params
 *   dml_params_alloc(&ps);  dml_network_reset_parameters(&net, seed);  [dml_network_load(&net, "w.safetensors");]
 *   struct dml_tape t; dml_tape_init(&t, be, dml_network_arena_bytes(&net, B));
 *   per step:
 *     dml_tape_reset(&t);  t.seed = seed; t.step = step;                // dropout stream
 *     struct dml_tensor *x = dml_tape_input(&t, host_batch, B, 3*224*224);
 *     struct dml_tensor *emb = dml_network_forward(&net, &t, x);        // (B, 128), on the tape
 *     ... criterion writes emb->grad ...
 *     dml_tape_backward(&t);            // replays backward functions in reverse: parameter grads += ...
 *
 * Memory (STYLE.md §8): parameters, their gradients and optimizer moments are each one contiguous block in
 * the persistent pool, laid out by the parameter table (§9: the one list of names, shapes and offsets that
 * allocation, checkpoints and tests loop over); everything a step creates comes from the step arena, which
 * is reset after the optimizer step.
 */
#ifndef DML_NN_H
#define DML_NN_H
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "kernels/ops.h"

#define DML_MAX_PARAMS 512

struct dml_tensor {
  float *data;      /* device memory of the backend; a DML_BF16 tensor's are bf16 NHWC (read through void *) */
  float *grad;      /* NULL until the tape needs it (same shape and format) */
  int ndim;
  int shape[4];
  size_t n;         /* number of elements */
  int needs_grad;   /* made by a recorded op: backward propagates into it (network inputs: 0) */
  int dtype;        /* DML_FP32 (float32, NCHW when 4-D) or DML_BF16 (4-D only: bfloat16 NHWC), kernels/ops.h */
};

/* ---- parameter table: one contiguous block each for values, gradients, Adam m, Adam v ---- */
struct dml_param {
  char name[96];    /* torchvision-style name, e.g. "last_linear.weight" */
  int ndim, shape[4];
  size_t n, offset; /* elements, offset into the blocks */
  int decay;        /* weight decay applies */
  int group;        /* optimizer group (learning rate), see train/optim */
  struct dml_tensor t; /* view: data = values + offset, grad = grads + offset */
};

struct dml_params {
  struct dml_backend *be;
  struct dml_param p[DML_MAX_PARAMS];
  int n;
  size_t total;           /* elements */
  float *values, *grads;  /* (total) device */
};

void dml_params_init(struct dml_params *ps, struct dml_backend *be);
/* Declare a parameter (before dml_params_alloc); returns its index. */
int dml_params_declare(struct dml_params *ps, const char *name, int ndim, const int *shape, int decay, int group);
void dml_params_alloc(struct dml_params *ps);
void dml_params_zero_grad(struct dml_params *ps);
const struct dml_param *dml_params_find(const struct dml_params *ps, const char *name);
void dml_params_free(struct dml_params *ps);
/* h[k] = (float)(sd * k-th dml_rng_normal of the fresh stream g), k < n, on all threads: bitwise the sequential
 * draws whatever the thread count (a ResNet-50's 25 M initial weights in parallel instead of 4 s on one core). */
struct dml_rng;
void dml_fill_normal(float *h, size_t n, double sd, const struct dml_rng *g);

/* ---- step arena: one block of the backend's memory, handed out by offset ----
 * Allocation takes the smallest free hole that fits (the lowest one among equals), else the top of the used
 * region; a released block is merged with its free neighbours, and with the top when it ends there. The same
 * sequence of allocations and releases gives the same offsets, so a counting arena (no memory, base NULL) that
 * sees the step's sequence has the real arena's high-water mark as its peak. */
struct dml_arena_hole { size_t off, len; };
struct dml_arena {
  struct dml_backend *be;
  char *base;
  size_t cap, used, peak;       /* used: the top of the allocated region; peak: its highest value since init */
  size_t live;                  /* bytes allocated and not released */
  struct dml_arena_hole *holes; /* free blocks below the top, sorted by offset, none adjacent */
  int nholes, capholes;
};
void dml_arena_init(struct dml_arena *a, struct dml_backend *be, size_t bytes);
void *dml_arena_alloc(struct dml_arena *a, size_t bytes);   /* 64-byte aligned; aborts with a size hint when full */
/* Give back a block of `bytes` (the size it was allocated with) for reuse within the step. */
void dml_arena_release(struct dml_arena *a, void *p, size_t bytes);
/* Whether p lies in the arena's address range (for a counting arena: its pointer range). */
int dml_arena_owns(const struct dml_arena *a, const void *p);
void dml_arena_reset(struct dml_arena *a);
void dml_arena_free(struct dml_arena *a);

/* ---- autograd tape ---- */
struct dml_tape;
struct dml_tape_entry;
typedef void (*dml_backward_fn)(struct dml_tape *t, struct dml_tape_entry *e);
struct dml_tape_entry {
  dml_backward_fn backward;
  struct dml_tensor *out;
  struct dml_tensor *in[3];
  float *saved;     /* op-specific saved tensor (e.g. row norms, batch-norm mean) */
  float *saved2;    /* a second one (batch-norm invstd) */
  int32_t *isaved;  /* saved indices (max pooling) */
  int iarg[4];
  struct dml_conv_shape cs; /* convolution / pooling geometry */
  struct dml_tensor **list; /* concat's inputs (host array, freed with the entry) */
  int nlist;
  void *mem;        /* the arena block made with the header for out->data (out->data may since point elsewhere: a view) */
  size_t mem_bytes;
  unsigned unread;  /* data the backward never reads (DML_UNREAD_*; 0: it may read all) — lets dml_tape_done free */
};
#define DML_UNREAD_OUT 1u               /* out->data */
#define DML_UNREAD_IN(k) (2u << (k))    /* in[k]->data, k < 3 */
#define DML_UNREAD_LIST 16u             /* the data of every list[] tensor */

struct dml_tape {
  struct dml_backend *be;
  struct dml_arena arena;
  struct dml_tape_entry *e;
  int n, cap;
  int record;       /* 0: inference, nothing is recorded */
  uint64_t seed, step; /* dropout masks: counter RNG stream (seed, DML_RNG_DROPOUT, step, call) — set per step */
  uint64_t calls;   /* dropout calls since the last reset */
  int prec;         /* activation precision of the conv-family layers (DML_FP32 default, DML_BF16): a 4-D input in
                       another format is converted on entry (the reshape of the flat input); 2-D tensors stay
                       float32, and dml_linear rounds its input and weights to bf16 under DML_BF16 */
  int count_only;   /* counting dry run (dml_network_arena_bytes): ops allocate but compute nothing */
  int keep;         /* 1: dml_tape_backward releases nothing (set from $DML_TAPE_KEEP by init; for tests) */
};

void dml_tape_init(struct dml_tape *t, struct dml_backend *be, size_t arena_bytes);
/* A counting tape (count_only, precision prec, an arena without memory whose peak is the bytes a run needs). */
void dml_tape_init_counting(struct dml_tape *t, struct dml_backend *be, int prec);
void dml_tape_reset(struct dml_tape *t);
void dml_tape_free(struct dml_tape *t);
/* A new arena tensor (uninitialised), float32; _prec: of precision prec (DML_BF16 only for 4-D). */
struct dml_tensor *dml_tape_tensor(struct dml_tape *t, int ndim, const int *shape);
struct dml_tensor *dml_tape_tensor_prec(struct dml_tape *t, int ndim, const int *shape, int prec);
/* Bytes of one element of x (and of its gradient). */
size_t dml_tensor_elem_size(const struct dml_tensor *x);
/* Copy host data (B, D) to a new arena tensor. */
struct dml_tensor *dml_tape_input(struct dml_tape *t, const float *host, int B, int D);
/* Make sure x->grad exists (zeroed). */
void dml_tape_need_grad(struct dml_tape *t, struct dml_tensor *x);
/* Replay every recorded backward function in reverse order. The caller has set the output's grad.
 * Memory: once entry e's backward has run, every consumer of e->out has run its own (the tape is in topological
 * order), so e->out's gradient and its data are dead and go back to the arena for the gradients still to come —
 * PyTorch frees at the same points. Kept: the roots (tensors whose gradient the caller set before the call), the
 * leaves (tensors without a backward: inputs, network-owned constants), views' borrowed data, and anything
 * outside the arena (parameters' gradients live in the parameter table). After the call only the roots', the
 * leaves' and the parameters' data and gradients may be read; every other tensor's data and grad are NULL.
 * With t->keep nothing is released. Numbers are the same either way (tests/train/test_tape_release.c). */
void dml_tape_backward(struct dml_tape *t);

/* The caller passes x to no further op: if no recorded backward reads x's data (its producer's and its consumers'
 * unread bits say so; a view counts as a reader), or nothing is recorded (inference), the data goes back to the
 * arena now, in the forward. x->data then dangles: kernels may still take the pointer but never read it.
 * Otherwise (and with t->keep) nothing happens. Used where a network knows a tensor's last use (the input of a
 * residual add that only the add consumed). */
void dml_tape_done(struct dml_tape *t, struct dml_tensor *x);

/* Differentiable ops (record on the tape when t->record). Shapes: x (B, C). */
struct dml_tensor *dml_linear(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *w, struct dml_tensor *b);
struct dml_tensor *dml_relu(struct dml_tape *t, struct dml_tensor *x);
struct dml_tensor *dml_l2norm(struct dml_tape *t, struct dml_tensor *x);

/* Convolutional layers (train/nn/layers.c); activations are (B, C, H, W). */
/* A view of x with another shape (same data, same element count); gradients flow back by copy. On a tape of
 * precision DML_BF16, a float32 tensor reshaped to 4-D is converted (a copy in bf16 NHWC): the network input. */
struct dml_tensor *dml_reshape(struct dml_tape *t, struct dml_tensor *x, int ndim, const int *shape);
/* nn.Conv2d(stride, padding), square kernel from w (OC, C, K, K); b may be NULL. */
struct dml_tensor *dml_conv2d(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *w, struct dml_tensor *b,
                              int stride, int pad);
/* nn.BatchNorm2d (eps, momentum — torch's convention: running = (1−momentum)·running + momentum·batch): training → batch statistics, running_mean/var (device, may be NULL)
 * updated; otherwise the running statistics are used. gamma and beta get gradients in both modes.
 * relu != 0 fuses the following ReLU. */
struct dml_tensor *dml_batchnorm(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *gamma,
                                 struct dml_tensor *beta, float *running_mean, float *running_var, float eps,
                                 float momentum, int training, int relu);
/* conv2d (bias may be NULL) → batch norm on running statistics (frozen: γ, β trainable, statistics not updated) →
 * ReLU if relu: one convolution with the batch norm folded into its weights and bias and the ReLU as its post-op
 * (backend conv2d_bn_forward), recorded with the backend's conv2d_bn_backward (only x and y are kept); on a backend
 * without the fused form (or its backward, when recording), the three ops above. */
struct dml_tensor *dml_conv2d_bn(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *w, struct dml_tensor *bias,
                                  int stride, int pad, struct dml_tensor *gamma, struct dml_tensor *beta,
                                  float *running_mean, float *running_var, float eps, int relu);
/* nn.MaxPool2d / nn.AvgPool2d(k, stride, pad, ceil_mode) (kind DML_POOL_MAX / DML_POOL_AVG). */
struct dml_tensor *dml_pool2d(struct dml_tape *t, struct dml_tensor *x, int kind, int k, int stride, int pad,
                              int ceil_mode);
/* torch.cat(xs, dim=1) of n (B, Ci, H, W) tensors. */
struct dml_tensor *dml_concat(struct dml_tape *t, struct dml_tensor *const *xs, int n);
/* nn.Dropout(p) in training (t->record): x ⊙ mask, mask ∈ {0, 1/(1−p)} from the counter RNG stream
 * (t->seed, DML_RNG_DROPOUT, t->step, call); identity in inference. */
struct dml_tensor *dml_dropout(struct dml_tape *t, struct dml_tensor *x, float p);
/* adaptive pooling to 1×1, flattened: (B, C, H, W) → (B, C). kind DML_POOL_MAX, DML_POOL_AVG. */
struct dml_tensor *dml_global_pool(struct dml_tape *t, struct dml_tensor *x, int kind);
/* a + b (same shape); relu != 0 gives max(a + b, 0). */
struct dml_tensor *dml_add(struct dml_tape *t, struct dml_tensor *a, struct dml_tensor *b, int relu);
/* x's gradient for a writer that overwrites it: allocated uninitialised when x has none yet (*overwrite = 1),
 * else the existing one (*overwrite = 0, accumulate). */
float *dml_tape_grad_for_write(struct dml_tape *t, struct dml_tensor *x, int *overwrite);

/* ---- networks ---- */
struct dml_network {
  char arch[64];
  int in_dim, hidden, embed_dim, normalize;
  int layers;               /* mlp: number of linear layers */
  int p_w[4], p_b[4];       /* mlp: parameter indices */
  /* convolutional architectures: the trainer's flattened input (B, in_dim) is read as (B, channels, height,
   * width); dml_network_init infers 3 × s × s from in_dim, dml_network_set_input overrides it */
  int channels, height, width;
  int frozen;               /* "_frozen": batch norm always uses its running statistics (affine still trained) */
  int pool;                 /* DML_POOL_AVG (default, SPoC), DML_POOL_MAX ("_max"/"_mac"), both summed ("_double") */
  int base_width;           /* ResNet stem width ("_wN", default 64: torchvision) */
  int feat_dim;             /* pooled backbone features, the head's input */
  int features_only;        /* forward returns the pooled features without the head (dml-embed --features) */
  float dropout;            /* dropout before the head in training (googlenet 0.2; 0 disables) */
  struct dml_params *ps;
  struct dml_params *buffers; /* non-trained state (batch-norm running_mean / running_var), allocated by init */
  const struct dml_arch *impl;
  void *state;              /* the architecture's layer table */
};

/* An architecture family of the registry (train/nn/network.c). */
struct dml_arch {
  const char *prefix;       /* "mlp", "resnet18", ... */
  dml_status (*init)(struct dml_network *net);   /* declares parameters and buffers */
  void (*reset)(struct dml_network *net, uint64_t seed);
  struct dml_tensor *(*forward)(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x);
  void (*free)(struct dml_network *net);   /* NULL: net->state is one heap block, freed by dml_network_free */
};

/* Architectures: "mlp" (in → 512 → ReLU → embed), "resnet18", "resnet50", "googlenet", "densenet169" (torchvision
 * layouts and names), "bninception" (pretrainedmodels' layout and names), each with the head `last_linear`; suffixes
 * "_normalize" (L2-normalised embeddings), "_frozen" (BN on running statistics, affine trained), "_max" / "_double"
 * (global max / average+max pooling), "_he" (bninception head init), "_wN" (every width × N/64, for small tests). Returns DML_ERR_ARG naming
 * the known ones for anything else, and DML_ERR_STATE when the backend lacks an op the network needs.
 * Declares parameters (the caller then calls dml_params_alloc); allocates the buffers. */
dml_status dml_network_init(struct dml_network *net, struct dml_params *ps, const char *arch, int in_dim, int embed_dim);
/* Set the image geometry for a flattened input (channels · height · width must equal in_dim). */
dml_status dml_network_set_input(struct dml_network *net, int channels, int height, int width);
/* Initialise parameters and buffers from the counter RNG: nn.Linear default (U(±1/√fan_in)), torchvision's
 * ResNet init (conv: kaiming normal fan_out; BN: γ 1, β 0, running mean 0, var 1). */
void dml_network_reset_parameters(struct dml_network *net, uint64_t seed);
/* Forward; batch norm uses batch statistics when t->record (training) unless frozen, running ones otherwise. */
struct dml_tensor *dml_network_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x);
void dml_network_free(struct dml_network *net);
/* Declare a batch norm's parameters "<bn>.weight", "<bn>.bias" (trained) and buffers "<bn>.running_mean",
 * "<bn>.running_var" (in net->buffers), each of `channels`; the indices go to *gamma, *beta, *rmean, *rvar.
 * The architectures call it for every torchvision / pretrainedmodels batch-norm name. */
void dml_network_declare_bn(struct dml_network *net, const char *bn, int channels, int *gamma, int *beta, int *rmean,
                            int *rvar);
/* Declare the embedding head "last_linear.weight" (embed_dim, feat_dim) and "last_linear.bias" (embed_dim), both
 * with weight decay, and set net->feat_dim; the indices go to *w, *b. Every convolutional architecture ends so. */
void dml_network_declare_head(struct dml_network *net, int feat_dim, int *w, int *b);
/* Reset every buffer to torch's initial batch-norm statistics: running_mean 0, running_var 1. */
void dml_network_reset_buffers(struct dml_network *net);
/* Bytes of step arena one step of batch B needs at precision prec (DML_FP32 / DML_BF16): a training step (forward
 * recorded + backward) or, with training = 0, an inference forward (dml-embed). Counted exactly by a dry run of
 * the network that allocates from an empty arena and computes nothing (the tape's count_only), plus a page of
 * slack; no per-architecture constants. dml_network_arena_bytes(net, B) = _for(net, B, DML_FP32, 1). */
size_t dml_network_arena_bytes(const struct dml_network *net, int B);
size_t dml_network_arena_bytes_for(const struct dml_network *net, int B, int prec, int training);

/* Weights (train/nn/safetensors.c): load a .safetensors file of torchvision names into parameters and buffers.
 * Every backbone tensor must be present with its shape (F32); the head (last_linear.*) is loaded when present
 * and of the right shape, else kept; a file tensor not in the network is an error naming it, except the
 * torchvision classifier "fc.*" (DenseNet: "classifier.*") and "num_batches_tracked". */
dml_status dml_network_load(struct dml_network *net, const char *path);
/* Save parameters and buffers (torchvision names) as .safetensors. */
dml_status dml_network_save(const struct dml_network *net, const char *path);
#endif
