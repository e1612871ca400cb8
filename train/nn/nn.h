/* nn — tensors, the step arena, the parameter table, the autograd tape, and networks.
 *
 *   struct dml_params ps;  dml_params_init(&ps, be);
 *   struct dml_network net; dml_network_init(&net, &ps, "mlp_normalize", 784, 128, seed);  // declares params
 *   dml_params_alloc(&ps);  dml_network_reset_parameters(&net, seed);
 *   struct dml_tape t; dml_tape_init(&t, be, arena_bytes);
 *   per step:
 *     dml_tape_reset(&t);
 *     struct dml_tensor *x = dml_tape_input(&t, host_batch, B, 784);
 *     struct dml_tensor *emb = dml_network_forward(&net, &t, x, 1);     // (B, 128), on the tape
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
  float *data;      /* device memory of the backend */
  float *grad;      /* NULL until the tape needs it (same shape) */
  int ndim;
  int shape[4];
  size_t n;         /* number of elements */
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

/* ---- step arena: bump allocation on the backend's memory ---- */
struct dml_arena {
  struct dml_backend *be;
  char *base;
  size_t cap, used, peak;
};
void dml_arena_init(struct dml_arena *a, struct dml_backend *be, size_t bytes);
void *dml_arena_alloc(struct dml_arena *a, size_t bytes);   /* 64-byte aligned; aborts with a size hint when full */
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
  float *saved;     /* op-specific saved tensor (e.g. row norms) */
  int iarg[4];
};

struct dml_tape {
  struct dml_backend *be;
  struct dml_arena arena;
  struct dml_tape_entry *e;
  int n, cap;
  int record;       /* 0: inference, nothing is recorded */
};

void dml_tape_init(struct dml_tape *t, struct dml_backend *be, size_t arena_bytes);
void dml_tape_reset(struct dml_tape *t);
void dml_tape_free(struct dml_tape *t);
/* A new arena tensor (uninitialised). */
struct dml_tensor *dml_tape_tensor(struct dml_tape *t, int ndim, const int *shape);
/* Copy host data (B, D) to a new arena tensor. */
struct dml_tensor *dml_tape_input(struct dml_tape *t, const float *host, int B, int D);
/* Make sure x->grad exists (zeroed). */
void dml_tape_need_grad(struct dml_tape *t, struct dml_tensor *x);
/* Replay every recorded backward function in reverse order. The caller has set the output's grad. */
void dml_tape_backward(struct dml_tape *t);

/* Differentiable ops (record on the tape when t->record). Shapes: x (B, C). */
struct dml_tensor *dml_linear(struct dml_tape *t, struct dml_tensor *x, struct dml_tensor *w, struct dml_tensor *b);
struct dml_tensor *dml_relu(struct dml_tape *t, struct dml_tensor *x);
struct dml_tensor *dml_l2norm(struct dml_tape *t, struct dml_tensor *x);

/* ---- networks ---- */
struct dml_network {
  char arch[64];
  int in_dim, hidden, embed_dim, normalize;
  int layers;               /* number of linear layers */
  int p_w[4], p_b[4];       /* parameter indices */
  struct dml_params *ps;
};

/* Known architectures of this slice: "mlp" (in → 512 → ReLU → embed), suffix "_normalize" for L2-normalised
 * embeddings. Returns DML_ERR_ARG naming the known ones for anything else. Declares parameters. */
dml_status dml_network_init(struct dml_network *net, struct dml_params *ps, const char *arch, int in_dim, int embed_dim);
/* torch.nn.Linear's default init: U(−1/√fan_in, 1/√fan_in) for weight and bias, from the counter RNG. */
void dml_network_reset_parameters(struct dml_network *net, uint64_t seed);
struct dml_tensor *dml_network_forward(struct dml_network *net, struct dml_tape *t, struct dml_tensor *x);
#endif
