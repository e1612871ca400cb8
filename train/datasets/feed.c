/* feed — the batches of an epoch with the next `depth − 1` decoding ahead while the current step runs (image
 * datasets; in-memory datasets are copied on demand). Indices come from the sampler on the calling thread, in
 * step order, so they are what an unprefetched run draws; the storage samplers that read embeddings updated by
 * the previous step are fed one batch at a time. The training transform of sample i of step s uses stream
 * (seed, epoch, s·bs + i). */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "train/train.h"

struct dml_feed_slot {
  int32_t *idx;       /* (bs) */
  float *x;           /* (bs, in_dim) */
  const char **paths; /* (bs) */
  struct dml_batch_req req;
  long step;
  int count, ticket, queued;
};

void dml_feed_init(struct dml_feed *f, const struct dml_dataset *d, struct dml_sampler *s, int bs, int in_dim,
                   int depth) {
  memset(f, 0, sizeof *f);
  f->d = d, f->s = s, f->bs = bs, f->in_dim = in_dim, f->train = s != NULL;
  /* prefetching needs indices that do not depend on the step before */
  if (!d->paths || depth < 1 || (s && s->needs_storage && !s->storage_no_update)) depth = 1;
  f->depth = depth;
  f->slot = xcalloc((size_t)depth, sizeof *f->slot);
  for (int i = 0; i < depth; i++) {
    f->slot[i].idx = xmalloc((size_t)bs * sizeof *f->slot[i].idx);
    f->slot[i].x = xmalloc((size_t)bs * in_dim * sizeof *f->slot[i].x);
    f->slot[i].paths = xmalloc((size_t)bs * sizeof *f->slot[i].paths);
  }
  f->last = -1;
}

static void fill_idx(struct dml_feed *f, struct dml_feed_slot *sl, long step) {
  sl->step = step;
  if (f->s) {
    f->s->batch(f->s, f->epoch, step, sl->idx);
    sl->count = f->bs;
  } else {
    long lo = step * f->bs;
    sl->count = f->d->n - lo < f->bs ? (int)(f->d->n - lo) : f->bs;
    for (int i = 0; i < sl->count; i++) sl->idx[i] = (int32_t)(lo + i);
  }
}

/* Queue step `step` into slot sl (image datasets). */
static void queue(struct dml_feed *f, struct dml_feed_slot *sl, long step) {
  fill_idx(f, sl, step);
  const struct dml_image_source *src = f->d->src;
  for (int i = 0; i < sl->count; i++) sl->paths[i] = f->d->paths[sl->idx[i]];
  sl->req = (struct dml_batch_req){.paths = sl->paths, .count = sl->count, .tf = f->train ? &src->train_tf : &src->eval_tf,
                                   .seed = src->seed, .epoch = f->train ? (uint64_t)f->epoch : 0,
                                   .pos0 = f->train ? (uint64_t)step * f->bs : 0, .out = sl->x, .skip_bad = src->skip_bad};
  sl->ticket = dml_loader_submit(src->loader, &sl->req);
  sl->queued = 1;
}

static void drain(struct dml_feed *f) {
  for (int i = 0; i < f->depth; i++)
    if (f->slot[i].queued) {
      dml_loader_wait(f->d->src->loader, f->slot[i].ticket); /* errors of batches never used are dropped */
      dml_error_clear();
      f->slot[i].queued = 0;
    }
}

void dml_feed_begin(struct dml_feed *f, long epoch, long first, long n_steps) {
  if (f->d->paths) drain(f);
  f->epoch = epoch, f->n_steps = n_steps, f->next_submit = first, f->last = -1;
  if (!f->d->paths || f->depth == 1) return;
  for (int i = 0; i < f->depth && f->next_submit < n_steps; i++) queue(f, &f->slot[i], f->next_submit++);
}

dml_status dml_feed_next(struct dml_feed *f, long step, const int32_t **idx, float **x, int *count) {
  double t0 = dml_now();
  dml_status st = DML_OK;
  struct dml_feed_slot *sl = NULL;
  if (!f->d->paths || f->depth == 1) { /* on demand */
    sl = &f->slot[0];
    fill_idx(f, sl, step);
    st = f->train ? dml_dataset_batch_train(f->d, sl->idx, sl->count, f->epoch, step * f->bs, sl->x)
                  : dml_dataset_batch(f->d, sl->idx, sl->count, sl->x);
  } else {
    if (f->last >= 0 && f->next_submit < f->n_steps) queue(f, &f->slot[f->last], f->next_submit++); /* refill */
    for (int i = 0; i < f->depth; i++)
      if (f->slot[i].queued && f->slot[i].step == step) sl = &f->slot[i];
    if (!sl) DML_ABORT("dml_feed_next: step %ld was not queued (steps must come in order)", step);
    st = dml_loader_wait(f->d->src->loader, sl->ticket);
    sl->queued = 0;
    f->last = (int)(sl - f->slot);
  }
  f->wait_seconds += dml_now() - t0;
  *idx = sl->idx, *x = sl->x, *count = sl->count;
  return st;
}

void dml_feed_free(struct dml_feed *f) {
  if (!f->slot) return;
  if (f->d->paths) drain(f);
  for (int i = 0; i < f->depth; i++) free(f->slot[i].idx), free(f->slot[i].x), free(f->slot[i].paths);
  free(f->slot);
  memset(f, 0, sizeof *f);
}
