/* loader — a pool of decode workers: batches are queued (dml_loader_submit) and their samples decoded and
 * transformed by whichever worker is free, oldest batch first, while the caller computes; dml_loader_wait blocks
 * for one batch. Every sample's pixels are a pure function of (file, transform, seed, epoch, position), so the
 * worker count never changes a value. Memory: one decoded image per worker at a time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/datasets/images/images.h"

struct job {
  struct dml_batch_req req;
  int ticket, next, done;
  int err_item;              /* lowest failing sample, -1 none */
  dml_status err_st;
  char err_msg[1024];
};

struct dml_loader {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  pthread_t *th;
  int n_threads, stop, next_ticket;
  struct job **jobs;         /* queued, in submission order */
  int n_jobs, cap_jobs;
  dml_image_cache_t *cache;
  long bad;
};

/* Sample i of job j (no lock held); a failure is kept in the job unless skipped. */
static void run_sample(dml_loader_t *L, struct job *j, int i) {
  const struct dml_batch_req *q = &j->req;
  size_t sz = (size_t)3 * q->tf->crop * q->tf->crop;
  float *out = q->out + (size_t)i * sz;
  dml_status st = dml_transform_file(q->tf, q->paths[i], q->seed, q->epoch, q->pos0 + (uint64_t)i, L->cache, out);
  if (!st) return;
  if (q->skip_bad) {
    fprintf(stderr, "warning: skipping bad image (black): %s\n", dml_error_message());
    for (int c = 0; c < 3; c++) { /* a black image, normalised */
      float v = (0.0f - q->tf->mean[c]) / q->tf->std[c];
      float *o = out + (size_t)(q->tf->bgr ? 2 - c : c) * q->tf->crop * q->tf->crop;
      for (size_t k = 0; k < sz / 3; k++) o[k] = v;
    }
    pthread_mutex_lock(&L->mu);
    L->bad++;
    pthread_mutex_unlock(&L->mu);
    return;
  }
  pthread_mutex_lock(&L->mu);
  if (j->err_item < 0 || i < j->err_item) {
    j->err_item = i;
    j->err_st = st;
    snprintf(j->err_msg, sizeof j->err_msg, "%s", dml_error_message());
  }
  pthread_mutex_unlock(&L->mu);
}

static void *worker(void *arg) {
  dml_loader_t *L = arg;
  pthread_mutex_lock(&L->mu);
  while (!L->stop) {
    struct job *j = NULL;
    for (int k = 0; k < L->n_jobs && !j; k++)
      if (L->jobs[k]->next < L->jobs[k]->req.count) j = L->jobs[k];
    if (!j) {
      pthread_cond_wait(&L->work, &L->mu);
      continue;
    }
    int i = j->next++;
    pthread_mutex_unlock(&L->mu);
    run_sample(L, j, i);
    pthread_mutex_lock(&L->mu);
    if (++j->done == j->req.count) pthread_cond_broadcast(&L->done);
  }
  pthread_mutex_unlock(&L->mu);
  return NULL;
}

dml_loader_t *dml_loader_create(int workers, dml_image_cache_t *cache) {
  dml_loader_t *L = xcalloc(1, sizeof *L);
  pthread_mutex_init(&L->mu, NULL);
  pthread_cond_init(&L->work, NULL);
  pthread_cond_init(&L->done, NULL);
  L->cache = cache;
  L->n_threads = workers > 0 ? workers : 0;
  L->th = xcalloc((size_t)L->n_threads + 1, sizeof *L->th);
  for (int i = 0; i < L->n_threads; i++)
    if (pthread_create(&L->th[i], NULL, worker, L)) DML_ABORT("cannot start decode worker %d", i);
  return L;
}

int dml_loader_submit(dml_loader_t *L, const struct dml_batch_req *req) {
  struct job *j = xcalloc(1, sizeof *j);
  j->req = *req;
  j->err_item = -1;
  pthread_mutex_lock(&L->mu);
  j->ticket = L->next_ticket++;
  if (L->n_jobs == L->cap_jobs) {
    L->cap_jobs = L->cap_jobs ? 2 * L->cap_jobs : 8;
    L->jobs = xrealloc(L->jobs, (size_t)L->cap_jobs * sizeof *L->jobs);
  }
  L->jobs[L->n_jobs++] = j;
  pthread_cond_broadcast(&L->work);
  pthread_mutex_unlock(&L->mu);
  return j->ticket;
}

dml_status dml_loader_wait(dml_loader_t *L, int ticket) {
  pthread_mutex_lock(&L->mu);
  int k = 0;
  while (k < L->n_jobs && L->jobs[k]->ticket != ticket) k++;
  if (k == L->n_jobs) {
    pthread_mutex_unlock(&L->mu);
    DML_ABORT("dml_loader_wait: unknown ticket %d", ticket);
  }
  struct job *j = L->jobs[k];
  while (j->done < j->req.count) {
    if (!L->n_threads && j->next < j->req.count) { /* no workers: decode here */
      int i = j->next++;
      pthread_mutex_unlock(&L->mu);
      run_sample(L, j, i);
      pthread_mutex_lock(&L->mu);
      j->done++;
      continue;
    }
    pthread_cond_wait(&L->done, &L->mu);
  }
  memmove(L->jobs + k, L->jobs + k + 1, (size_t)(L->n_jobs - k - 1) * sizeof *L->jobs);
  L->n_jobs--;
  pthread_mutex_unlock(&L->mu);
  dml_status st = DML_OK;
  if (j->err_item >= 0) st = dml_error(j->err_st, "%s", j->err_msg);
  free(j);
  return st;
}

long dml_loader_bad(const dml_loader_t *L) { return L->bad; }

void dml_loader_free(dml_loader_t *L) {
  if (!L) return;
  pthread_mutex_lock(&L->mu);
  L->stop = 1;
  pthread_cond_broadcast(&L->work);
  pthread_mutex_unlock(&L->mu);
  for (int i = 0; i < L->n_threads; i++) pthread_join(L->th[i], NULL);
  /* batches never waited for: wait until no worker touches them (joined above), then drop */
  for (int k = 0; k < L->n_jobs; k++) free(L->jobs[k]);
  free(L->jobs);
  free(L->th);
  pthread_cond_destroy(&L->work);
  pthread_cond_destroy(&L->done);
  pthread_mutex_destroy(&L->mu);
  free(L);
}
