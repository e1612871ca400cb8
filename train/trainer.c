/* trainer — the training loop (spec A2): per epoch, class_random batches → network → miner → criterion →
 * backward → Adam or SGD (--optim); then evaluation of the test split (and the training split unless --no_train_metrics)
 * with eval/ metrics, one run-record commit per epoch (a kill keeps every completed epoch), and
 * embeddings of the latest and the best epoch. SIGINT/SIGTERM stop after the current step and leave the
 * record `interrupted`; a NaN loss leaves it `failed` with the epochs before it intact. The run folder is locked
 * (flock on run.lock) while this process writes it; --resume is exact from a kill at any moment (docs/run-format.md,
 * "One writer, and resuming from any kill"). */
#include "train/trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/wandb/wandb.h"
#include "eval/eval.h"
#include "train/checkpoint.h"

/* The one process-wide mutable: set by the signal handler (a handler cannot reach a context). */
static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

struct trainer {
  const struct dml_train_opts *o;
  struct dml_backend *be;
  int prec;                      /* --precision: DML_FP32 or DML_BF16 (kernels/ops.h) */
  int isa_noted;                 /* cpu_isa printed and recorded */
  struct dml_dataset train, test, val;   /* val is empty without --use_tv_split */
  struct dml_params ps;
  struct dml_network net;
  struct dml_tape tape;
  struct dml_sampler sampler;
  struct dml_miner miner;
  struct dml_criterion crit;
  struct dml_adam adam;
  struct dml_sgd sgd;            /* --optim sgd: m / cm hold the momentum buffers, v / cv stay unused */
  int use_sgd;
  double *lr_net, *lr_crit;      /* this epoch's learning rate per parameter */
  unsigned char *frozen_net;     /* (ps.n) 1: not stepped this epoch (--warmup backbone); never a NaN marker */
  long *steps_net, *steps_crit;  /* Adam step count per parameter (torch keeps one per parameter) */
  float *m, *v, *cm, *cv;        /* Adam moments: network (ps.total), criterion (crit.params.total) */
  float *host_values, *host_grads; /* host mirrors of the parameter blocks for a device backend */
  dml_runrecord_t *rr;
  double best_storage;
  dml_wandb_logger_t *wl;        /* --log_online: the background W&B logger */
  json_t *row;                   /* this epoch's W&B history row (reference key names) */
  int lock_fd;                   /* the run folder's run.lock, held (flock) while this process writes the record */
  char *run_id;                  /* the record's run_id, also in the checkpoint's metadata */
  struct dml_feed feed;          /* training batches, decoded ahead (image datasets) */
  double t_eval;                 /* this epoch's evaluation seconds */
  long repaired_epoch;           /* >= 0: --resume recorded this epoch from the checkpoint (commit-window kill) */
  struct dml_train_row repaired_row; /* and its train row, for the W&B row of that epoch */
  char *weights;                 /* the pretrained weights file loaded (NULL: none) */
};

// ---------------------------------------------------------------------------------------------- run folder

static dml_status check_name(const char *what, const char *s) {
  if (!*s) return dml_error(DML_ERR_ARG, "%s is empty", what);
  if (strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..") || s[0] == '.')
    return dml_error(DML_ERR_ARG, "%s '%s' cannot be a folder name (no '/', no leading '.')", what, s);
  for (const char *c = s; *c; c++)
    if ((unsigned char)*c < 32) return dml_error(DML_ERR_ARG, "%s contains a control character", what);
  return DML_OK;
}

static dml_status mkdir_p(const char *path) {
  char *p = xstrdup(path);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/') continue;
    *c = 0;
    if (mkdir(p, 0777) && errno != EEXIST) {
      dml_status st = dml_error(DML_ERR_IO, "cannot create folder %s: %s", p, strerror(errno));
      free(p);
      return st;
    }
    *c = '/';
  }
  dml_status st = DML_OK;
  if (mkdir(p, 0777) && errno != EEXIST) st = dml_error(DML_ERR_IO, "cannot create folder %s: %s", p, strerror(errno));
  free(p);
  return st;
}

/* <save_path>/<dataset>/<savename>[_N]; creates it (create != 0) or only finds the first free name; returns the
 * folder (heap). */
dml_status dml_train_run_dir(const struct dml_train_opts *o, int create, char **out) {
  dml_status st;
  *out = NULL;
  char *name = strcmp(o->savename, "group_plus_seed") ? xstrdup(o->savename) : dml_strfmt("%s_s%d", o->group, o->seed);
  if ((st = check_name("run name (--group/--savename)", name))) {
    free(name);
    return st;
  }
  char *parent = dml_strfmt("%s/%s", o->save_path, o->dataset);
  if (create && (st = mkdir_p(parent))) {
    free(name);
    free(parent);
    return st;
  }
  char *dir = dml_strfmt("%s/%s", parent, name);
  struct stat sb;
  for (int k = 1; create ? mkdir(dir, 0777) != 0 : stat(dir, &sb) == 0; k++) {
    if (create && errno != EEXIST) {
      st = dml_error(DML_ERR_IO, "cannot create run folder %s: %s", dir, strerror(errno));
      free(dir);
      dir = NULL;
      break;
    }
    free(dir);
    dir = dml_strfmt("%s/%s_%d", parent, name, k);
  }
  free(name);
  free(parent);
  *out = dir;
  return st;
}

/* One writer per run folder: an exclusive flock on <dir>/run.lock, held until the process ends (released by the
 * kernel on any exit, SIGKILL included). The holder's pid is written into the file for the second writer's message. */
static dml_status lock_run_dir(const char *dir, int *fd_out) {
  char *p = dml_strfmt("%s/run.lock", dir);
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  dml_status st = DML_OK;
  if (fd < 0) {
    st = dml_error(DML_ERR_IO, "cannot open the run folder's lock %s: %s", p, strerror(errno));
  } else if (flock(fd, LOCK_EX | LOCK_NB)) {
    int err = errno;
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = 0;
    pid[strcspn(pid, "\n")] = 0;
    close(fd);
    fd = -1;
    if (err == EWOULDBLOCK)
      st = dml_error(DML_ERR_STATE, "run folder %s is in use by another dml-train%s%s%s (one writer per run; wait for it "
                     "or stop it first)", dir, *pid ? " (pid " : "", pid, *pid ? ")" : "");
    else
      st = dml_error(DML_ERR_IO, "cannot lock %s: %s", p, strerror(err));
  } else {
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) {} /* the pid is for messages only */
  }
  free(p);
  *fd_out = fd;
  return st;
}

/* A random run id (16 hex digits) that ties the checkpoint to its record. */
static char *new_run_id(void) {
  unsigned char b[8] = {0};
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, b, sizeof b) != (ssize_t)sizeof b) {
    uint64_t x = (uint64_t)dml_now() * 1000003ULL ^ ((uint64_t)getpid() << 32);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(x >> (8 * i));
  }
  if (fd >= 0) close(fd);
  char *s = xmalloc(17);
  for (int i = 0; i < 8; i++) snprintf(s + 2 * i, 3, "%02x", b[i]);
  return s;
}

// ---------------------------------------------------------------------------------------------- evaluation

/* After the first forward: the instruction set oneDNN chose for this precision's convolutions, printed once and
 * stored as the record attribute cpu_isa (bf16 results differ between ISAs); "none" without a convolution. */
static void note_isa(struct trainer *T) {
  if (T->isa_noted) return;
  T->isa_noted = 1;
  const char *isa = dml_backend_conv_isa(T->be, T->prec);
  printf("cpu_isa: %s (%s convolutions)\n", isa ? isa : "none", dml_prec_name(T->prec));
  if (T->rr) dml_runrecord_set_attr(T->rr, "cpu_isa", isa ? isa : "none");
}

/* Embed a whole split in eval mode: out (n, embed_dim) host; image batches decode ahead of the forward passes. */
static dml_status embed_split(struct trainer *T, const struct dml_dataset *d, float *out) {
  int chunk = T->o->bs, D = T->net.embed_dim, in = T->net.in_dim;  /* the reference evaluates in batches of bs */
  struct dml_feed f;
  dml_feed_init(&f, d, NULL, chunk, in, 2);
  dml_feed_begin(&f, 0, 0, (d->n + chunk - 1) / chunk);
  dml_status st = DML_OK;
  T->tape.record = 0;
  for (int s = 0; s < d->n && !st; s += chunk) {
    const int32_t *idx;
    float *x;
    int c;
    if ((st = dml_feed_next(&f, s / chunk, &idx, &x, &c))) break;
    dml_tape_reset(&T->tape);
    struct dml_tensor *xin = dml_tape_input(&T->tape, x, c, in);
    struct dml_tensor *e = dml_network_forward(&T->net, &T->tape, xin);
    T->be->fn.to_host(T->be->ctx, out + (size_t)s * D, e->data, (size_t)c * D * sizeof *out);
    note_isa(T);
  }
  dml_tape_reset(&T->tape);
  T->tape.record = 1;
  dml_feed_free(&f);
  return st;
}

static const char *split_title(const char *split) {
  return !strcmp(split, "test") ? "Test" : !strcmp(split, "val") ? "Val" : "Train";
}

/* Evaluate one split at `epoch`, append to the record, keep embeddings; *r1 gets the first storage metric. */
static dml_status evaluate(struct trainer *T, const char *split, const struct dml_dataset *d, long epoch,
                           double *storage_value) {
  const struct dml_train_opts *o = T->o;
  int D = T->net.embed_dim;
  float *emb = xmalloc((size_t)d->n * D * sizeof *emb);
  double t0 = dml_now();
  dml_status st = embed_split(T, d, emb);
  if (st) {
    free(emb);
    return dml_error_prefix(st, "embedding the %s split at epoch %ld", split, epoch);
  }
  size_t nk = (size_t)o->evaluation_metrics.n;
  struct dml_metric_result *res = xcalloc(nk + 1, sizeof *res);
  struct dml_eval_opts eo = {.kmeans_k = T->train.n_classes, .n_threads = 0,
                             .on_gpu = T->o->evaluate_on_gpu && dml_cuda_device_count() > 0};
  const char **keys = xmalloc((nk + 1) * sizeof *keys);
  size_t nq = 0;
  for (size_t i = 0; i < nk; i++) /* query/gallery (In-Shop): the retrieval metrics only */
    if (!d->n_query || strstr(o->evaluation_metrics.v[i], "recall@") || strstr(o->evaluation_metrics.v[i], "mAP"))
      keys[nq++] = o->evaluation_metrics.v[i];
  if (d->n_query) {
    nk = nq;
    st = dml_eval_metrics_qg(emb, d->labels, (size_t)d->n_query, emb + (size_t)d->n_query * D, d->labels + d->n_query,
                             (size_t)(d->n - d->n_query), (size_t)D, keys, nk, &eo, res);
  } else {
    st = dml_eval_metrics(emb, d->labels, (size_t)d->n, (size_t)D, keys, nk, &eo, res);
  }
  free(keys);
  T->t_eval += dml_now() - t0;
  if (st) {
    free(emb);
    free(res);
    return dml_error_prefix(st, "evaluating the %s split at epoch %ld", split, epoch);
  }
  struct dml_metric_value *vals = xcalloc(nk, sizeof *vals);
  size_t nv = 0;
  printf("%s epoch %ld | Embed-Type: %s:", split_title(split), epoch, o->evaltypes.n ? o->evaltypes.v[0] : "discriminative");
  for (size_t i = 0; i < nk; i++) {
    if (res[i].array) {
      dml_runrecord_put_metric_array(T->rr, split, res[i].key, epoch, res[i].array, res[i].array_len, res[i].definition);
      continue;
    }
    vals[nv++] = (struct dml_metric_value){res[i].key, res[i].value, res[i].definition};
    if (T->row && epoch >= 0 && isfinite(res[i].value)) { /* W&B steps start at 0: the epoch -1 baseline stays local */
      char *k = dml_wandb_reference_key(split, res[i].key);
      json_object_set_new(T->row, k, json_real(res[i].value));
      free(k);
    }
    printf("%s %s: %.4f", i ? " |" : "", res[i].key, res[i].value);
    if (o->storage_metrics.n && !strcmp(res[i].key, o->storage_metrics.v[0])) *storage_value = res[i].value;
  }
  printf("\n");
  fflush(stdout);
  st = dml_runrecord_append_metrics(T->rr, split, epoch, vals, nv);
  if (!st) st = dml_runrecord_put_embeddings(T->rr, split, 0, emb, (size_t)d->n, (size_t)D, d->labels, NULL);
  if (!st && !strcmp(split, "test") && epoch >= 0 && *storage_value > T->best_storage) {
    T->best_storage = *storage_value;
    st = dml_runrecord_put_embeddings(T->rr, split, 1, emb, (size_t)d->n, (size_t)D, d->labels, NULL);
  }
  dml_eval_results_free(res, nk);
  free(res);
  free(vals);
  free(emb);
  return st;
}

static dml_status evaluate_all(struct trainer *T, long epoch, double *test_storage) {
  double dummy = NAN;
  /* the reference's order: Test, then Val, then Train */
  dml_status st = evaluate(T, "test", &T->test, epoch, test_storage);
  if (!st && T->val.n) st = evaluate(T, "val", &T->val, epoch, &dummy);
  if (!st && !T->o->no_train_metrics) st = evaluate(T, "train", &T->train, epoch, &dummy);
  return st;
}

// ---------------------------------------------------------------------------------------------- one step

static double lr_at(const struct dml_train_opts *o, double base, long epoch) {
  if (!strcmp(o->scheduler, "none")) return base;
  double lr = base;
  for (int i = 0; i < o->tau.n; i++)
    if (epoch >= o->tau.v[i]) lr *= o->gamma;
  return lr;
}

/* Learning rate of every parameter at `epoch`: --lr (last_linear: --fc_lr when >= 0), the criterion's own rates
 * (per parameter when it has them), all scaled by the MultiStep schedule. During --warmup epochs the backbone is
 * frozen as in the NIR reference (no gradient: not stepped); last_linear and the criterion still learn. */
static void set_learning_rates(struct trainer *T, long epoch) {
  const struct dml_train_opts *o = T->o;
  double f = lr_at(o, 1.0, epoch);
  int warm = epoch < o->warmup;
  for (int i = 0; i < T->ps.n; i++) {
    int head = strstr(T->ps.p[i].name, "last_linear") != NULL;
    double base = head && o->fc_lr >= 0 ? o->fc_lr : o->lr;
    T->frozen_net[i] = warm && !head;
    T->lr_net[i] = base * f;
  }
  for (int i = 0; i < T->crit.params.n; i++)
    T->lr_crit[i] = (T->crit.param_lr ? T->crit.param_lr[i] : T->crit.params_lr) * f;
}

/* One optimisation step on the batch idx with its images x; *loss receives the loss. */
static dml_status train_step(struct trainer *T, long epoch, long step, const int32_t *idx, float *x, int32_t *labels,
                             float *emb_host, float *grad_host, double *loss) {
  int B = T->sampler.batch_len, D = T->net.embed_dim, in = T->net.in_dim;
  struct dml_backend *be = T->be;
  for (int i = 0; i < B; i++) labels[i] = T->train.labels[idx[i]];
  dml_tape_reset(&T->tape);
  T->tape.seed = (uint64_t)T->o->seed; /* dropout masks: a pure function of (seed, global step) */
  T->tape.step = (uint64_t)(epoch * T->sampler.n_batches + step);
  struct dml_tensor *xin = dml_tape_input(&T->tape, x, B, in);
  struct dml_tensor *emb = dml_network_forward(&T->net, &T->tape, xin);
  be->fn.to_host(be->ctx, emb_host, emb->data, (size_t)B * D * sizeof *emb_host);
  note_isa(T);

  for (long i = 0; i < (long)B * D; i++) /* miners would turn NaN distances into meaningless tuples */
    if (!isfinite(emb_host[i]))
      return dml_error(DML_ERR_NUMERIC, "embedding %ld (dimension %ld) is %g at epoch %ld step %ld (lower --lr?)",
                       i / D, i % D, (double)emb_host[i], epoch, step);
  struct dml_tuples tu = {0};
  struct dml_rng r = dml_rng_init((uint64_t)T->o->seed, DML_RNG_MINER, (uint64_t)epoch, (uint64_t)step);
  dml_status st = T->miner.mine(&T->miner, emb_host, labels, B, D, &r, &tu);
  if (!st) st = dml_criterion_loss(&T->crit, emb_host, labels, B, D, &tu, loss, grad_host);
  dml_tuples_free(&tu);
  if (st) return st;
  if (!isfinite(*loss))
    return dml_error(DML_ERR_NUMERIC, "loss is %g at epoch %ld step %ld (lower --lr?)", *loss, epoch, step);

  dml_tape_need_grad(&T->tape, emb);
  be->fn.to_device(be->ctx, emb->grad, grad_host, (size_t)B * D * sizeof *grad_host);
  dml_tape_backward(&T->tape);

  /* optimizer on host blocks; a device backend round-trips through the mirrors */
  size_t bytes = T->ps.total * sizeof(float);
  float *dev_values = T->ps.values, *dev_grads = T->ps.grads;
  if (T->host_values) {
    be->fn.to_host(be->ctx, T->host_values, dev_values, bytes);
    be->fn.to_host(be->ctx, T->host_grads, dev_grads, bytes);
    for (int i = 0; i < T->ps.n; i++) {
      T->ps.p[i].t.data = T->host_values + T->ps.p[i].offset;
      T->ps.p[i].t.grad = T->host_grads + T->ps.p[i].offset;
    }
  }
  /* one optimizer over every group, as the reference; the criterion groups carry no weight decay */
  if (T->use_sgd) dml_sgd_step(&T->sgd, &T->ps, T->m, T->o->decay, T->lr_net, T->frozen_net, T->steps_net);
  else dml_adam_step(&T->adam, &T->ps, T->m, T->v, T->o->decay, T->lr_net, T->frozen_net, T->steps_net);
  if (T->crit.params.n) {
    if (T->use_sgd) dml_sgd_step(&T->sgd, &T->crit.params, T->cm, 0, T->lr_crit, NULL, T->steps_crit);
    else dml_adam_step(&T->adam, &T->crit.params, T->cm, T->cv, 0, T->lr_crit, NULL, T->steps_crit);
    dml_params_zero_grad(&T->crit.params);
  }
  if (T->host_values) {
    be->fn.to_device(be->ctx, dev_values, T->host_values, bytes);
    for (int i = 0; i < T->ps.n; i++) {
      T->ps.p[i].t.data = dev_values + T->ps.p[i].offset;
      T->ps.p[i].t.grad = dev_grads + T->ps.p[i].offset;
    }
  }
  dml_params_zero_grad(&T->ps);
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- checkpoints

/* The checkpoint's tensor table: network parameters, their Adam moments, criterion parameters and moments.
 * Names come from the parameter tables (STYLE.md §9); for a device backend the values go through the mirrors. */
static size_t ckpt_table(struct trainer *T, struct dml_ckpt_tensor *t, char (*names)[128], float *values,
                         float *buf_host) {
  size_t k = 0;
  if (T->sampler.needs_storage && T->sampler.storage) { /* the storage samplers' embedding storage (N, D) */
    snprintf(names[k], 128, "sampler.storage");
    t[k] = (struct dml_ckpt_tensor){names[k], T->sampler.storage, 2, {T->train.n, T->net.embed_dim, 0, 0}};
    k++;
  }
  const struct dml_params *bufs = T->net.buffers; /* batch-norm running statistics: resume must restore them */
  for (int i = 0; bufs && i < bufs->n; i++) {
    const struct dml_param *p = &bufs->p[i];
    snprintf(names[k], 128, "buffer.%s", p->name);
    t[k] = (struct dml_ckpt_tensor){names[k], buf_host ? buf_host + p->offset : p->t.data, p->ndim,
                                    {p->shape[0], p->shape[1], p->shape[2], p->shape[3]}};
    k++;
  }
  struct dml_params *tabs[2] = {&T->ps, &T->crit.params};
  float *mom[2][2] = {{T->m, T->v}, {T->cm, T->cv}};
  for (int w = 0; w < 2; w++)
    for (int i = 0; i < tabs[w]->n; i++) {
      const struct dml_param *p = &tabs[w]->p[i];
      const char *pre = w ? "criterion." : "";
      float *data = w == 0 && values ? values + p->offset : p->t.data;
      const char *adam[3] = {"", ".adam_m", ".adam_v"}, *sgd[2] = {"", ".sgd_momentum"};
      const char *const *suffix = T->use_sgd ? sgd : adam;
      float *ptr[3] = {data, mom[w][0] + p->offset, mom[w][1] + p->offset};
      for (int j = 0; j < (T->use_sgd ? 2 : 3); j++) {
        snprintf(names[k], 128, "%s%s%s", pre, p->name, suffix[j]);
        t[k] = (struct dml_ckpt_tensor){names[k], ptr[j], p->ndim, {p->shape[0], p->shape[1], p->shape[2], p->shape[3]}};
        k++;
      }
    }
  return k;
}

/* A host copy of the network's buffers for a device backend (NULL on the CPU, where they are host memory). */
static float *buffers_to_host(struct trainer *T) {
  const struct dml_params *b = T->net.buffers;
  if (!b || !b->n || !T->host_values) return NULL;
  float *h = xmalloc(b->total * sizeof *h + 1);
  T->be->fn.to_host(T->be->ctx, h, b->values, b->total * sizeof *h);
  return h;
}

static const char *const ckpt_keys[] = {"epoch", "adam_steps", "best_storage", "loss", "lr", "seconds",
                                        "images_per_second", "seed", "format", "run_id"};
enum { CKPT_NKEYS = sizeof ckpt_keys / sizeof *ckpt_keys };

static dml_status save_checkpoint(struct trainer *T, const char *dir, long epoch, const struct dml_train_row *row) {
  size_t cap = 3 * (size_t)(T->ps.n + T->crit.params.n) + 1 + (T->net.buffers ? (size_t)T->net.buffers->n : 0);
  struct dml_ckpt_tensor *t = xcalloc(cap + 1, sizeof *t);
  char (*names)[128] = xcalloc(cap + 1, sizeof *names);
  float *buf_host = buffers_to_host(T);
  if (T->host_values) T->be->fn.to_host(T->be->ctx, T->host_values, T->ps.values, T->ps.total * sizeof(float));
  size_t n = ckpt_table(T, t, names, T->host_values, buf_host);
  char v[CKPT_NKEYS][64];
  char *steps = xstrdup("");
  for (int i = 0; i < T->ps.n + T->crit.params.n; i++) {
    char *nx = dml_strfmt("%s%s%ld", steps, i ? "," : "", i < T->ps.n ? T->steps_net[i] : T->steps_crit[i - T->ps.n]);
    free(steps);
    steps = nx;
  }
  snprintf(v[0], 64, "%ld", epoch);
  snprintf(v[1], 64, "see adam_steps");
  snprintf(v[2], 64, "%.17g", T->best_storage);
  snprintf(v[3], 64, "%.17g", row->loss);
  snprintf(v[4], 64, "%.17g", row->lr);
  snprintf(v[5], 64, "%.17g", row->seconds);
  snprintf(v[6], 64, "%.17g", row->images_per_second);
  snprintf(v[7], 64, "%d", T->o->seed);
  snprintf(v[8], 64, "dml-checkpoint-1");
  snprintf(v[9], 64, "%s", T->run_id ? T->run_id : "");
  const char *vals[CKPT_NKEYS];
  for (int i = 0; i < CKPT_NKEYS; i++) vals[i] = v[i];
  vals[1] = steps;
  char *path = dml_strfmt("%s/checkpoint.safetensors", dir);
  dml_status st = dml_checkpoint_write(path, t, n, ckpt_keys, vals, CKPT_NKEYS);
  free(steps);
  free(buf_host);
  free(path);
  free(t);
  free(names);
  return st;
}

/* Restore the state of the last checkpoint; *epoch = its epoch, *row = that epoch's train row. */
static dml_status load_checkpoint(struct trainer *T, const char *dir, long *epoch, struct dml_train_row *row) {
  size_t cap = 3 * (size_t)(T->ps.n + T->crit.params.n) + 1 + (T->net.buffers ? (size_t)T->net.buffers->n : 0);
  struct dml_ckpt_tensor *t = xcalloc(cap + 1, sizeof *t);
  char (*names)[128] = xcalloc(cap + 1, sizeof *names);
  float *buf_host = buffers_to_host(T);
  if (T->sampler.needs_storage && !T->sampler.storage) { /* resume: allocate the storage the checkpoint fills */
    float *zero = xcalloc((size_t)T->train.n * T->net.embed_dim + 1, sizeof *zero);
    int32_t *ids = xmalloc(((size_t)T->train.n + 1) * sizeof *ids);
    for (int i = 0; i < T->train.n; i++) ids[i] = i;
    dml_sampler_update(&T->sampler, ids, zero, T->train.n, T->net.embed_dim);
    free(zero);
    free(ids);
  }
  size_t n = ckpt_table(T, t, names, T->host_values, buf_host);
  char *meta[CKPT_NKEYS] = {0};
  char *path = dml_strfmt("%s/checkpoint.safetensors", dir);
  /* first the metadata alone: a checkpoint of another run is named as such, not as a shape mismatch */
  dml_status st = dml_checkpoint_read(path, NULL, 0, 1, ckpt_keys, meta, CKPT_NKEYS);
  if (!st && T->run_id && *T->run_id && (!meta[9] || strcmp(meta[9], T->run_id)))
    st = dml_error(DML_ERR_STATE, "%s belongs to another run (run id %s; the record's is %s): refusing to resume from it",
                   path, meta[9] && *meta[9] ? meta[9] : "none", T->run_id);
  if (!st && meta[7] && strtol(meta[7], NULL, 10) != T->o->seed)
    st = dml_error(DML_ERR_STATE, "%s was written with --seed %s, the record's run has --seed %d: refusing to resume from it",
                   path, meta[7], T->o->seed);
  for (int i = 0; i < CKPT_NKEYS; i++) {
    free(meta[i]);
    meta[i] = NULL;
  }
  if (!st) st = dml_checkpoint_read(path, t, n, 0, ckpt_keys, meta, CKPT_NKEYS);
  if (!st && (!meta[0] || !meta[1] || !meta[2]))
    st = dml_error(DML_ERR_FORMAT, "%s: checkpoint metadata incomplete", path);
  if (!st) {
    *epoch = strtol(meta[0], NULL, 10);
    char *c = meta[1];
    for (int i = 0; i < T->ps.n + T->crit.params.n; i++) {
      long v = strtol(c, &c, 10);
      if (i < T->ps.n) T->steps_net[i] = v;
      else T->steps_crit[i - T->ps.n] = v;
      if (*c == ',') c++;
    }
    T->best_storage = strtod(meta[2], NULL);
    row->loss = meta[3] ? strtod(meta[3], NULL) : NAN;
    row->lr = meta[4] ? strtod(meta[4], NULL) : NAN;
    row->seconds = meta[5] ? strtod(meta[5], NULL) : NAN;
    row->images_per_second = meta[6] ? strtod(meta[6], NULL) : NAN;
    if (T->host_values) T->be->fn.to_device(T->be->ctx, T->ps.values, T->host_values, T->ps.total * sizeof(float));
    if (buf_host) T->be->fn.to_device(T->be->ctx, T->net.buffers->values, buf_host, T->net.buffers->total * sizeof(float));
  }
  free(buf_host);
  for (int i = 0; i < CKPT_NKEYS; i++) free(meta[i]);
  free(path);
  free(t);
  free(names);
  return st;
}

// ---------------------------------------------------------------------------------------------- the run

dml_status dml_train_check_opts(const struct dml_train_opts *o) {
  if (o->n_epochs < 0) return dml_error(DML_ERR_ARG, "--n_epochs must be >= 0");
  /* a non-finite rate would train nothing (or NaN) and still report `finished`; the flag parser refuses them too */
  if (!isfinite(o->lr) || !isfinite(o->fc_lr) || !isfinite(o->decay) || !isfinite(o->gamma))
    return dml_error(DML_ERR_ARG, "--lr, --fc_lr, --decay and --gamma must be finite numbers (got %g, %g, %g, %g)", o->lr,
                     o->fc_lr, o->decay, o->gamma);
  if (strcmp(o->optim, "adam") && strcmp(o->optim, "sgd"))
    return dml_error(DML_ERR_ARG, "unknown --optim '%s' (known: adam, sgd)", o->optim);
  for (int i = 0; i < o->evaluation_metrics.n; i++)
    if (!dml_eval_known_metric(o->evaluation_metrics.v[i]))
      return dml_error(DML_ERR_ARG, "unknown metric '%s' in --evaluation_metrics", o->evaluation_metrics.v[i]);
  return DML_OK;
}

static dml_status setup(struct trainer *T, const struct dml_train_opts *o, const struct dml_opts *opt) {
  dml_status st;
  T->o = o;
  T->best_storage = -INFINITY;
  if ((st = dml_train_check_opts(o))) return st;
  /* also on --resume: a run killed before its first checkpoint starts over from these weights */
  if ((st = dml_pretrained_path(o, &T->weights))) return st; /* before the (slow) dataset */
  /* --kernels: the reference's worker count (data loading and faiss threads) sets our OpenMP team size, capped at
   * the processors present; results do not depend on it (see kernels/cpu/linear.c). */
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int threads = o->kernels < 1 ? 1 : (ncpu > 0 && o->kernels > ncpu ? (int)ncpu : o->kernels);
  omp_set_num_threads(threads);
  if (!(T->be = dml_backend_select(o->backend, stdout))) return DML_ERR_ARG;
  if ((T->prec = dml_prec_parse(o->precision)) < 0)
    return dml_error(DML_ERR_ARG, "unknown --precision '%s' (known: fp32, bf16)", o->precision);
  if (T->prec == DML_BF16 && !dml_backend_supports(T->be, DML_OP_BF16))
    return dml_error(DML_ERR_ARG, "--precision bf16: backend %s cannot run bf16 activations here (oneDNN has no bf16 "
                     "convolution on this CPU); use --precision fp32", T->be->name);
  if (o->conv_bwd_threads < 1 || o->conv_bwd_threads > 1024)
    return dml_error(DML_ERR_ARG, "--conv_bwd_threads must be in 1..1024, got %d", o->conv_bwd_threads);
  dml_backend_configure(T->be, &(struct dml_backend_config){.conv_bwd_threads = o->conv_bwd_threads});
  if ((st = dml_dataset_load(o, &T->train, &T->test))) return st;
  if (o->use_tv_split && (st = dml_dataset_split_val(o, &T->train, &T->val))) return st;
  printf("dataset %s: train %d images / %d classes, test %d images / %d classes", o->dataset, T->train.n,
         T->train.n_classes, T->test.n, T->test.n_classes);
  if (T->val.n) printf(", val %d images / %d classes", T->val.n, T->val.n_classes);
  printf("\n");
  /* convolutional networks take RGB: a gray dataset is repeated over 3 channels (the reference converts to RGB),
   * and small images get a black border up to 32×32, the smallest input of the ResNets */
  int conv = strncmp(o->arch, "mlp", 3) != 0;
  int rgb = conv && T->train.channels == 1;
  int pad = conv && T->train.height < 32 ? (32 - T->train.height + 1) / 2 : 0;
  struct dml_dataset *sets[3] = {&T->train, &T->test, &T->val};
  for (int i = 0; i < 3; i++) {
    sets[i]->expand_rgb = rgb;
    sets[i]->pad = pad;
  }
  int channels = rgb ? 3 : T->train.channels, height = T->train.height + 2 * pad, width = T->train.width + 2 * pad;
  int in_dim = channels * height * width;
  /* the reference's googlenet (architectures/googlenet.py) has no frozen batch-norm handling: its BN layers
   * train whatever the arch name says; rather than silently train them or silently freeze them, refuse */
  if (!strncmp(o->arch, "googlenet", 9) && strstr(o->arch, "_frozen"))
    return dml_error(DML_ERR_ARG, "--arch %s: the reference's googlenet has no _frozen handling (its batch norm "
                     "trains; only resnet and bninception freeze it); drop _frozen for the reference's behaviour",
                     o->arch);
  dml_params_init(&T->ps, T->be);
  if ((st = dml_network_init(&T->net, &T->ps, o->arch, in_dim, o->embed_dim))) return st;
  if ((st = dml_network_set_input(&T->net, channels, height, width))) return st;
  dml_params_alloc(&T->ps);
  dml_network_reset_parameters(&T->net, (uint64_t)o->seed);
  if (T->weights) {
    if ((st = dml_network_load(&T->net, T->weights))) return dml_error_prefix(st, "pretrained weights");
    printf("weights: %s\n", T->weights);
  }
  struct dml_sampler_shape batches = {T->train.n, T->train.labels, T->train.n_classes, T->train.classes, o->bs,
                                      o->samples_per_class, (uint64_t)o->seed};
  if ((st = dml_sampler_create(o->data_sampler, opt, &batches, &T->sampler))) return st;
  dml_feed_init(&T->feed, &T->train, &T->sampler, o->bs, in_dim, o->prefetch);
  if (T->train.src)
    printf("images: %d×%d crops (--augmentation %s), %s decoding, %d batch%s in flight%s%s\n", T->train.src->train_tf.crop,
           T->train.src->train_tf.crop, o->augmentation, o->image_exact ? "PIL-exact" : "DCT-scaled (>= 2x) JPEG",
           T->feed.depth, T->feed.depth == 1 ? "" : "es", *o->cache_dir ? ", cache " : "", o->cache_dir);
  if ((st = dml_miner_create(o->batch_mining, opt, &T->miner))) return st;
  struct dml_criterion_shape shape = {o->embed_dim, T->train.n_classes, T->train.classes};
  if ((st = dml_criterion_create(o->loss, opt, &shape, &T->crit))) return st;
  if ((st = dml_criterion_check_miner(&T->crit, &T->miner))) return st;
  for (int i = 0; i < T->crit.params.n; i++)
    if (!isfinite(T->crit.param_lr ? T->crit.param_lr[i] : T->crit.params_lr))
      return dml_error(DML_ERR_ARG, "--loss %s: the learning rate of its parameter %s is not finite", o->loss,
                       T->crit.params.p[i].name);
  T->m = xcalloc(T->ps.total + 1, sizeof(float));
  T->v = xcalloc(T->ps.total + 1, sizeof(float));
  T->cm = xcalloc(T->crit.params.total + 1, sizeof(float));
  T->cv = xcalloc(T->crit.params.total + 1, sizeof(float));
  if (strcmp(T->be->name, "cpu")) {
    T->host_values = xmalloc((T->ps.total + 1) * sizeof(float));
    T->host_grads = xmalloc((T->ps.total + 1) * sizeof(float));
  }
  T->adam = (struct dml_adam){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  T->sgd = (struct dml_sgd){.momentum = 0.9, .dampening = 0}; /* torch.optim.SGD(groups, momentum=0.9) */
  T->use_sgd = !strcmp(o->optim, "sgd");
  T->lr_net = xcalloc((size_t)T->ps.n + 1, sizeof *T->lr_net);
  T->frozen_net = xcalloc((size_t)T->ps.n + 1, sizeof *T->frozen_net);
  T->lr_crit = xcalloc((size_t)T->crit.params.n + 1, sizeof *T->lr_crit);
  T->steps_net = xcalloc((size_t)T->ps.n + 1, sizeof *T->steps_net);
  T->steps_crit = xcalloc((size_t)T->crit.params.n + 1, sizeof *T->steps_crit);
  /* one step's activations and gradients, for the training batch and the evaluation chunks (also bs) */
  size_t arena = dml_network_arena_bytes_for(&T->net, o->bs, T->prec, 1);
  dml_tape_init(&T->tape, T->be, arena);
  T->tape.prec = T->prec;
  printf("memory: parameters %.2f MiB (x4 with grads and Adam moments), step arena %.1f MiB (%s activations)\n",
         T->ps.total * 4.0 / (1 << 20), arena / (double)(1 << 20), dml_prec_name(T->prec));
  return DML_OK;
}

static void teardown(struct trainer *T) {
  dml_feed_free(&T->feed);
  dml_tape_free(&T->tape);
  dml_criterion_free(&T->crit);
  dml_miner_free(&T->miner);
  dml_sampler_free(&T->sampler);
  dml_network_free(&T->net);
  dml_params_free(&T->ps);
  dml_dataset_free(&T->train);
  dml_dataset_free(&T->test);
  dml_dataset_free(&T->val);
  free(T->m); free(T->v); free(T->cm); free(T->cv);
  free(T->host_values); free(T->host_grads);
  free(T->lr_net); free(T->lr_crit); free(T->frozen_net); free(T->run_id); free(T->steps_net); free(T->steps_crit);
  free(T->weights);
  dml_backend_free(T->be);
  json_decref(T->row);
  T->row = NULL;
  if (T->lock_fd >= 0) close(T->lock_fd); /* last: the record is closed */
  T->lock_fd = -1;
}

static dml_status finish(struct trainer *T, dml_status st) {
  if (!T->rr) return st;
  enum dml_run_status rs = st == DML_OK ? DML_RUN_FINISHED : st == DML_ERR_INTERRUPTED ? DML_RUN_INTERRUPTED : DML_RUN_FAILED;
  if (st) dml_runrecord_set_attr(T->rr, "error", dml_error_message());
  if (T->train.src && T->o->skip_bad_images) { /* files skipped at load + images blacked out while training */
    char bad[32];
    snprintf(bad, sizeof bad, "%ld", T->train.src->bad_at_load + dml_loader_bad(T->train.src->loader));
    dml_runrecord_set_attr(T->rr, "bad_images", bad);
  }
  char *saved = xstrdup(dml_error_message()); /* whole: a long name must not cut the cause off (issue 15) */
  dml_runrecord_set_status(T->rr, rs);
  dml_status cst = dml_runrecord_commit(T->rr);
  char *lost = NULL, *unsaved = NULL; /* why the last rows were not written; why not even the failure was */
  if (cst) { /* e.g. a full disk: drop the rows that do not fit, the record must at least say the run failed */
    lost = xstrdup(dml_error_message());
    if (!st) {
      dml_runrecord_set_attr(T->rr, "error", lost);
      dml_runrecord_set_status(T->rr, DML_RUN_FAILED);
    }
    dml_runrecord_drop_data(T->rr);
    if (dml_runrecord_commit(T->rr)) {
      unsaved = xstrdup(dml_error_message());
      dml_runrecord_drop_data(T->rr);
    }
  }
  dml_runrecord_close(T->rr); /* nothing left after a commit; one more try when even the failure was not saved */
  T->rr = NULL;
  const char *cause = st ? saved : lost;
  if (unsaved && !strcmp(unsaved, cause))
    dml_error(st ? st : cst, "%s; the run record could not be updated either, so it keeps its last committed epoch", cause);
  else if (unsaved)
    dml_error(st ? st : cst, "%s; the run record could not be updated either (%s), so it keeps its last committed epoch",
              cause, unsaved);
  else if (cause) dml_error(st ? st : cst, "%s", cause);
  free(lost);
  free(unsaved);
  free(saved);
  return st ? st : cst;
}

/* Queue this epoch's W&B history row (metrics were added by evaluate) with the train row, then start a new one. */
static void log_online_row(struct trainer *T, long epoch, const struct dml_train_row *row) {
  const char *fields[] = {"loss", "lr", "seconds", "images_per_second"};
  double vals[] = {row->loss, row->lr, row->seconds, row->images_per_second};
  for (int i = 0; i < 4; i++) {
    if (!isfinite(vals[i])) continue;
    char *k = dml_wandb_reference_key("train", fields[i]);
    json_object_set_new(T->row, k, json_real(vals[i]));
    free(k);
  }
  json_object_set_new(T->row, "Train: epochs", json_integer(epoch));
  char *js = json_dumps(T->row, JSON_COMPACT);
  dml_wandb_logger_log(T->wl, epoch, js);
  free(js);
  json_object_clear(T->row);
}

// ---------------------------------------------------------------------------------------------- resume

/* Flags a resume may change (recorded in config_history): the epoch budget and flags that do not change what is
 * computed, or change it only as a deliberate move (--backend). Every other difference is refused. */
static const char *const resume_changeable[] = {"n_epochs", "kernels", "log_online", "wandb_entity", "backend", "gpu",
                                                "evaluate_on_gpu", "wandb_finish_timeout",
                                                /* the data pipeline: never changes a pixel */
                                                "data_workers", "prefetch", "cache_dir"};

static int changeable(const char *k) {
  for (size_t i = 0; i < sizeof resume_changeable / sizeof *resume_changeable; i++)
    if (!strcmp(k, resume_changeable[i])) return 1;
  return 0;
}

static char *utc_now(void) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return xstrdup(buf);
}

/* Compare the configuration of this resume with the record's: refuse a change of anything but the changeable flags,
 * and return the changes as {"flag": {"from": old, "to": new}} (new reference; empty object when none). A key the
 * stored configuration lacks (a flag newer than the record) is not a change. */
static dml_status config_changes(const char *stored_json, const char *config_json, long epochs_done, json_t **out) {
  *out = NULL;
  json_t *old = json_loads(stored_json && *stored_json ? stored_json : "{}", 0, NULL);
  json_t *cur = json_loads(config_json ? config_json : "{}", 0, NULL);
  dml_status st = DML_OK;
  if (!json_is_object(old) || !json_is_object(cur)) st = dml_error(DML_ERR_FORMAT, "the stored configuration is not a JSON object");
  json_t *ch = json_object();
  const char *k;
  json_t *v;
  if (!st) json_object_foreach(cur, k, v) {
    json_t *o = json_object_get(old, k);
    if (!o || json_equal(o, v) || !strcmp(k, "resume")) continue; /* --resume itself is no change */
    char *a = json_dumps(o, JSON_ENCODE_ANY | JSON_COMPACT), *b = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!changeable(k))
      st = dml_error(DML_ERR_ARG, "--%s %s differs from the resumed run's %s: a resumed run keeps its configuration "
                     "(only --n_epochs and operational flags such as --kernels may change); start a new run instead", k,
                     b, a);
    else if (!strcmp(k, "n_epochs") && json_integer_value(v) < epochs_done)
      st = dml_error(DML_ERR_ARG, "--n_epochs %s is fewer than the %ld epoch%s the run has already trained", b,
                     epochs_done, epochs_done == 1 ? "" : "s");
    free(a);
    free(b);
    if (st) break;
    json_object_set_new(ch, k, json_pack("{sOsO}", "from", o, "to", v));
  }
  json_decref(old);
  json_decref(cur);
  if (st) json_decref(ch);
  else *out = ch;
  return st;
}

/* Append one entry to the record's config_history (JSON array): when this resume starts, at which epoch, and what
 * it changed. A change also updates those flags in `config` (the rest of it stays as stored). */
static dml_status record_resume(struct trainer *T, const char *path, const char *stored_json, json_t *changes,
                                long start_epoch) {
  char *hist = NULL;
  dml_status st = dml_runrecord_read_attr(path, "config_history", &hist);
  if (st) return st;
  json_t *h = hist ? json_loads(hist, 0, NULL) : NULL;
  free(hist);
  if (!json_is_array(h)) {
    json_decref(h);
    h = json_array();
  }
  char *now = utc_now();
  json_array_append_new(h, json_pack("{sIsssO}", "resumed_at_epoch", (json_int_t)start_epoch, "time", now,
                                     "changes", changes));
  free(now);
  char *js = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(h);
  st = dml_runrecord_set_attr(T->rr, "config_history", js);
  free(js);
  if (!st && json_object_size(changes)) {
    json_t *cfg = json_loads(stored_json, 0, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(changes, k, v) json_object_set(cfg, k, json_object_get(v, "to"));
    char *c = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(cfg);
    st = dml_runrecord_set_config(T->rr, c);
    free(c);
  }
  return st;
}

/* The best value of the first storage metric on test over the committed epochs (>= 0): the record, not the
 * checkpoint, says which embeddings are in embeddings/best. */
static double record_best(const struct trainer *T, const struct dml_run *r) {
  double best = -INFINITY;
  if (!T->o->storage_metrics.n) return best;
  const struct dml_series *s = dml_run_series(r, "test", T->o->storage_metrics.v[0]);
  for (size_t i = 0; s && i < s->n; i++)
    if (s->epoch[i] >= 0 && s->value[i] > best) best = s->value[i];
  return best;
}

/* Test hook (documented in docs/run-format.md): DML_TRAIN_TEST_COMMIT_PAUSE_MS=N makes dml-train say on stderr
 * that an epoch's checkpoint is written and wait N ms before committing the record, so a test can kill it inside
 * that window. */
static void commit_window_hook(long epoch) {
  const char *e = getenv("DML_TRAIN_TEST_COMMIT_PAUSE_MS");
  if (!e || !*e) return;
  fprintf(stderr, "dml-train: test hook: checkpoint of epoch %ld written, record not committed yet\n", epoch);
  fflush(stderr);
  long ms = strtol(e, NULL, 10);
  if (ms > 0) nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* The resume half of open_run: lock, check the configuration, restore the checkpoint (none yet: start over in this
 * record), and repair the record when the kill came between the checkpoint and the record commit. */
static dml_status resume_run(struct trainer *T, const char *config_json, const char *dir, const char *path,
                             long *start_epoch, int *fresh, int *has_init) {
  dml_status st;
  if ((st = lock_run_dir(dir, &T->lock_fd))) return st;
  struct dml_run prev = {0};
  if ((st = dml_runrecord_read(path, &prev))) return dml_error_prefix(st, "resuming %s", dir);
  long last = prev.n_train ? (long)prev.train_epoch[prev.n_train - 1] : -1, ck_epoch = -1;
  T->best_storage = record_best(T, &prev);
  for (size_t i = 0; i < prev.n_series && !*has_init; i++)
    *has_init = !strcmp(prev.series[i].split, "test") && prev.series[i].n && prev.series[i].epoch[0] == -1;
  json_t *changes = NULL;
  char *stored = xstrdup(prev.meta.config_json && *prev.meta.config_json ? prev.meta.config_json : "{}");
  dml_run_free(&prev);
  st = config_changes(stored, config_json, last + 1, &changes);
  if (!st) st = dml_runrecord_read_attr(path, "run_id", &T->run_id);
  char *ck = dml_strfmt("%s/checkpoint.safetensors", dir);
  int have_ck = access(ck, F_OK) == 0;
  free(ck);
  struct dml_train_row row = {0};
  if (!st && have_ck) {
    double best = T->best_storage;
    st = load_checkpoint(T, dir, &ck_epoch, &row);
    T->best_storage = best; /* the record's, see record_best */
    *fresh = 0;
  } else if (!st && last >= 0) {
    st = dml_error(DML_ERR_STATE, "the record has %ld trained epoch%s but checkpoint.safetensors is missing", last + 1,
                   last ? "s" : "");
  } /* else: killed before its first checkpoint: train from the initial state, in this folder and record */
  if (!st && last > ck_epoch)
    st = dml_error(DML_ERR_STATE, "the record has epoch %ld but the checkpoint only epoch %ld", last, ck_epoch);
  if (st) {
    st = dml_error_prefix(st, "resuming %s", dir);
    goto out;
  }
  if ((st = dml_runrecord_open(path, &T->rr))) goto out;
  if (!T->run_id || !*T->run_id) { /* a record of an older dml, or killed before the id was committed */
    free(T->run_id);
    T->run_id = new_run_id();
    dml_runrecord_set_attr(T->rr, "run_id", T->run_id);
  }
  dml_runrecord_set_status(T->rr, DML_RUN_RUNNING);
  char at[32];
  snprintf(at, sizeof at, "%ld", ck_epoch + 1);
  dml_runrecord_set_attr(T->rr, "resumed_at_epoch", at);
  if ((st = record_resume(T, path, stored, changes, ck_epoch + 1))) goto out;
  if (last < ck_epoch) { /* killed between the checkpoint and the record commit: record that epoch now */
    double storage = NAN;
    st = dml_runrecord_append_train(T->rr, ck_epoch, &row);
    if (!st) st = evaluate_all(T, ck_epoch, &storage); /* fills T->row too: logged online once the logger runs */
    T->repaired_epoch = ck_epoch;
    T->repaired_row = row;
  }
  if (!st) st = dml_runrecord_commit(T->rr);
  if (st) goto out;
  *start_epoch = ck_epoch + 1;
  printf("resuming %s at epoch %ld%s\n", path, *start_epoch, *fresh ? " (no checkpoint yet: from the start)" : "");
out:
  json_decref(changes);
  free(stored);
  return st;
}

/* Create the run folder and record (fresh run), or reopen them and restore the checkpoint (resume). *fresh = 1 when
 * training starts from the initial state (a new run, or a resumed run killed before its first checkpoint);
 * *has_init = the record already holds the --eval_init evaluation (epoch -1). */
static dml_status open_run(struct trainer *T, const struct dml_train_opts *o, const char *config_json,
                           const char *resume_dir, char **dir, char **path, long *start_epoch, int *fresh,
                           int *has_init) {
  dml_status st;
  *start_epoch = 0;
  *fresh = 1;
  *has_init = 0;
  if (resume_dir) {
    *dir = xstrdup(resume_dir);
    *path = dml_strfmt("%s/run.h5", resume_dir);
    return resume_run(T, config_json, resume_dir, *path, start_epoch, fresh, has_init);
  }
  if ((st = dml_train_run_dir(o, 1, dir))) return st;
  if ((st = lock_run_dir(*dir, &T->lock_fd))) return st;
  *path = dml_strfmt("%s/run.h5", *dir);
  char *name = strrchr(*dir, '/') ? xstrdup(strrchr(*dir, '/') + 1) : xstrdup(*dir);
  struct dml_run_meta meta = {  /* `created` is stamped by the run record */
    .seed = o->seed, .name = name, .group = o->group, .project = o->project, .dataset = o->dataset,
    .arch = o->arch, .loss = o->loss, .batch_mining = o->batch_mining, .source = "local",
    .config_json = (char *)config_json,
  };
  st = dml_runrecord_create(*path, &meta, &T->rr);
  free(name);
  if (!st) {
    T->run_id = new_run_id();
    st = dml_runrecord_set_attr(T->rr, "run_id", T->run_id);
    if (!st) st = dml_runrecord_commit(T->rr);
  }
  if (!st && T->weights) dml_runrecord_set_attr(T->rr, "weights", T->weights);
  if (!st) printf("run record: %s\n", *path);
  return st;
}

dml_status dml_train_run(const struct dml_train_opts *o, const struct dml_opts *opt, const char *config_json,
                         const char *resume_dir, char **run_path) {
  struct trainer T;
  memset(&T, 0, sizeof T);
  T.lock_fd = -1;
  T.repaired_epoch = -1;
  if (o->log_online) T.row = json_object(); /* before open_run: a repaired epoch's metrics go into it */
  char *dir = NULL, *path = NULL;
  long start_epoch = 0;
  int fresh = 1, has_init = 0;
  dml_status st = setup(&T, o, opt);
  if (!st) st = open_run(&T, o, config_json, resume_dir, &dir, &path, &start_epoch, &fresh, &has_init);
  if (st) {
    st = finish(&T, st);
    teardown(&T);
    free(dir);
    free(path);
    return st;
  }

  if (o->log_online) {
    char *name = strrchr(dir, '/') ? xstrdup(strrchr(dir, '/') + 1) : xstrdup(dir);
    struct dml_wandb_run_opts wo = {.entity = *o->wandb_entity ? o->wandb_entity : NULL, .project = o->project,
                                    .group = o->group, .name = name, .config_json = config_json, .run_dir = dir};
    st = dml_wandb_logger_start(&wo, &T.wl);
    free(name);
    if (st == DML_ERR_AUTH) { /* the reference's lines pass --log_online: without a key they still train */
      printf("W&B: --log_online has no effect: %s (export WANDB_API_KEY or run `wandb login` to log online; the run "
             "record keeps every value)\n", dml_error_message());
      st = DML_OK;
    } else if (st) {
      st = finish(&T, dml_error_prefix(st, "--log_online"));
      teardown(&T);
      free(dir);
      free(path);
      return st;
    }
    if (T.wl) {
      if (T.repaired_epoch >= 0) log_online_row(&T, T.repaired_epoch, &T.repaired_row);
      printf("W&B: logging %s/%s online in the background\n", o->project, o->group);
    } else { /* no key: nothing is sent */
      json_decref(T.row);
      T.row = NULL;
    }
  }

  stop_requested = 0;
  struct sigaction sa = {0}, old_int, old_term;
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  int B = o->bs, D = T.net.embed_dim;
  float *emb = xmalloc((size_t)B * D * sizeof *emb);
  float *grad = xmalloc((size_t)B * D * sizeof *grad);
  int32_t *labels = xmalloc((size_t)B * sizeof *labels);
  if (T.sampler.needs_storage && fresh) { /* embed the training set once (eval mode), as the reference */
    float *all = xmalloc((size_t)T.train.n * D * sizeof *all);
    int32_t *ids = xmalloc((size_t)T.train.n * sizeof *ids);
    st = embed_split(&T, &T.train, all);
    for (int i = 0; i < T.train.n; i++) ids[i] = i;
    if (!st) dml_sampler_update(&T.sampler, ids, all, T.train.n, D);
    free(all);
    free(ids);
  }
  double storage = NAN, storage_init = NAN;
  if (!st && o->eval_init && fresh && !has_init) {
    st = evaluate_all(&T, -1, &storage);
    storage_init = storage;
    if (!st) st = dml_runrecord_commit(T.rr);
  }
  long epochs_done = start_epoch;
  for (long epoch = start_epoch; !st && epoch < o->n_epochs; epoch++) {
    double lr = lr_at(o, o->lr, epoch);
    set_learning_rates(&T, epoch);
    double t0 = dml_now(), loss_sum = 0;
    char label[64], suffix[64] = "";
    snprintf(label, sizeof label, "epoch %ld/%d", epoch, o->n_epochs);
    struct dml_progress pb;
    dml_progress_init(&pb, label, (size_t)T.sampler.n_batches, "it", stderr);
    long step = 0;
    dml_feed_begin(&T.feed, epoch, 0, T.sampler.n_batches);
    double wait0 = T.feed.wait_seconds;
    T.t_eval = 0;
    for (; step < T.sampler.n_batches && !st; step++) {
      if (stop_requested) {
        st = dml_error(DML_ERR_INTERRUPTED, "interrupted by signal %d during epoch %ld; completed epochs are kept in %s",
                       (int)stop_requested, epoch, path);
        break;
      }
      double loss = 0;
      const int32_t *idx;
      float *x;
      int count;
      if ((st = dml_feed_next(&T.feed, step, &idx, &x, &count))) {
        st = dml_error_prefix(st, "epoch %ld step %ld", epoch, step);
        break;
      }
      st = train_step(&T, epoch, step, idx, x, labels, emb, grad, &loss);
      /* storage samplers: the batch's training-mode embeddings overwrite its storage rows (the reference) */
      if (!st && T.sampler.needs_storage && !T.sampler.storage_no_update)
        dml_sampler_update(&T.sampler, idx, emb, T.sampler.batch_len, D);
      loss_sum += loss;
      snprintf(suffix, sizeof suffix, "loss %.4f", loss_sum / (step + 1));
      dml_progress_update(&pb, (size_t)step + 1, suffix);
    }
    if (st) break;
    dml_progress_finish(&pb, suffix);
    double secs = dml_now() - t0;
    struct dml_train_row row = {.loss = step ? loss_sum / step : NAN, .lr = lr, .seconds = secs,
                                .images_per_second = secs > 0 ? step * (double)T.sampler.batch_len / secs : 0};
    st = dml_runrecord_append_train(T.rr, epoch, &row);
    if (!st) st = evaluate_all(&T, epoch, &storage);
    if (!st && T.train.src) {
      double wait = T.feed.wait_seconds - wait0;
      printf("time epoch %ld: data wait %.2f s, forward+backward+update %.2f s, evaluation %.2f s\n", epoch, wait,
             secs - wait, T.t_eval);
    }
    /* checkpoint first, then the record: a kill in between is repaired by --resume (see open_run) */
    if (!st) st = save_checkpoint(&T, dir, epoch, &row);
    if (!st) commit_window_hook(epoch);
    if (!st) st = dml_runrecord_commit(T.rr);
    if (!st) epochs_done = epoch + 1;
    if (!st && T.wl) log_online_row(&T, epoch, &row);
  }
  if (!st && o->storage_metrics.n) {
    char before[64] = "";
    if (!isnan(storage_init)) snprintf(before, sizeof before, " before training %.4f,", storage_init);
    printf("summary: %s test %s%s after %ld epoch%s %.4f, best %.4f\n", path, o->storage_metrics.v[0], before,
           epochs_done, epochs_done == 1 ? "" : "s", storage, T.best_storage);
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  free(emb); free(grad); free(labels);
  if (T.wl) {
    size_t unsent = 0;
    char *saved = xstrdup(dml_error_message());
    dml_status wst = dml_wandb_logger_finish(T.wl, st ? 1 : 0, o->wandb_finish_timeout, &unsent);
    T.wl = NULL;
    if (wst || unsent) {
      printf("W&B: %zu row(s) not delivered; they are kept in %s/wandb-pending.jsonl: upload them with dml-sync %s\n",
             unsent, dir, dir);
      dml_runrecord_set_attr(T.rr, "wandb_unsent", "1");
    }
    if (st) dml_error(st, "%s", saved);
    free(saved);
  }
  st = finish(&T, st);
  teardown(&T);
  if (run_path && !st) *run_path = path;
  else free(path);
  free(dir);
  return st;
}
