/* logger.c — online logging of one training run to W&B from a background thread (spec A4, notes D.5).
 *
 * Contract: dml_wandb_logger_log() never waits on the network: it formats the row, updates the running
 * summary and puts the row in a bounded queue (256 rows); when the queue is full, or once any row has gone
 * there, rows are appended to <run_dir>/wandb-pending.jsonl instead (order is kept: dml-sync sorts by _step).
 * The thread creates the run (UpsertBucket; same run id on resume), then sends queued rows through the file
 * stream at offset = lines the server holds, with the whole summary each time, a heartbeat every 30 s, and
 * retries through outages: the server's Retry-After, else 2 s doubling to 60 s (jittered), in every state,
 * finishing included (finish() never turns the waits into a busy loop; it only bounds them by its deadline).
 * finish() sends what it can before the deadline, then the summary and completion, and keeps the rest for
 * dml-sync. Failures no retry can cure (key rejected, unknown host, unsupported scheme, connection refused on a
 * loopback address, HTTP 4xx other than 429) stop the thread's network use at once with one line.
 * <run_dir>/wandb-run.json is the run's identity for dml-sync (no key in it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/wandb/wandb-impl.h"
#include "common/progress.h"

#define QUEUE_CAP 256
#define BATCH_MAX 100
#define HEARTBEAT_S 30.0

struct dml_wandb_logger {
  struct dml_wandb_client c;          /* used by the thread only */
  char *entity, *project, *group, *display, *run_id, *config_wrapped;
  char *pending_path, *state_path;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_mutex_t state_mu;           /* orders the thread's state-file writes */
  pthread_cond_t cv;
  char *q[QUEUE_CAP];
  size_t qhead, qn;
  int spilled;
  size_t n_spilled, n_invalid;
  int finishing, exit_code;
  double finish_deadline;
  volatile int abort_now;
  long sent_lines;                    /* lines the server holds for this run */
  long pending_sent;                  /* rows of the pending file dml-sync already delivered (kept as is) */
  int created, complete_sent, dead, thread_started;
  json_t *summary;
  double t0;
};

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *random_run_id(void) {
  static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char b[8] = {0};
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd < 0 || read(fd, b, sizeof b) != (ssize_t)sizeof b) {
    unsigned long long x = (unsigned long long)wall_now() * 1000003ULL ^ (unsigned long long)getpid();
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(x >> (i * 7));
  }
  if (fd >= 0) close(fd);
  char *s = xmalloc(9);
  for (int i = 0; i < 8; i++) s[i] = al[b[i] % 36];
  s[8] = 0;
  return s;
}

/* The state file's text; caller holds mu (or the thread is not running). */
static char *state_text(struct dml_wandb_logger *l) {
  json_t *j = json_object();
  json_object_set_new(j, "entity", l->entity ? json_string(l->entity) : json_null());
  json_object_set_new(j, "project", json_string(l->project));
  json_object_set_new(j, "run_id", json_string(l->run_id));
  json_object_set_new(j, "group", l->group ? json_string(l->group) : json_null());
  json_object_set_new(j, "display_name", l->display ? json_string(l->display) : json_null());
  json_object_set_new(j, "config", json_string(l->config_wrapped));
  json_object_set_new(j, "sent_lines", json_integer(l->sent_lines));
  json_object_set_new(j, "pending_sent", json_integer(l->pending_sent));
  char *sum = dml_wj_dumps(l->summary);
  json_object_set_new(j, "summary", json_string(sum));
  free(sum);
  json_object_set_new(j, "finished", json_boolean(l->finishing));
  json_object_set_new(j, "exit_code", json_integer(l->exit_code));
  json_object_set_new(j, "complete_sent", json_boolean(l->complete_sent));
  char *s = json_dumps(j, JSON_INDENT(2));
  json_decref(j);
  return s;
}

static dml_status save_state(struct dml_wandb_logger *l) {
  char *s = state_text(l);
  dml_status st = dml_wandb_write_file(l->state_path, s);
  free(s);
  return st;
}

/* From the thread: snapshot under mu, write (with its fsync) without holding it, so log() never waits on
 * the disk behind the thread. Caller holds mu; it is released and taken again. */
static void save_state_unlocked(struct dml_wandb_logger *l) {
  char *s = state_text(l);
  pthread_mutex_unlock(&l->mu);
  pthread_mutex_lock(&l->state_mu);
  dml_wandb_write_file(l->state_path, s);
  pthread_mutex_unlock(&l->state_mu);
  free(s);
  pthread_mutex_lock(&l->mu);
}

static void append_pending(struct dml_wandb_logger *l, const char *line) {
  FILE *f = fopen(l->pending_path, "a");
  if (!f) return;
  fputs(line, f);
  fputc('\n', f);
  fclose(f);
}

static void warn_once(int *warned, const char *what) {
  if (*warned) return;
  *warned = 1;
  fprintf(stderr, "wandb: %s: %s (training goes on; retrying in the background, dml-sync uploads the rest)\n",
          what, dml_error_message());
}

/* Sleep on the condition variable for s seconds. An idle wait (idle = 1) ends early when a row is queued or
 * finish() is called; a retry wait (idle = 0) is never cut short by finish(), so backoff and Retry-After hold
 * while finishing too, but it ends at the finish deadline. Caller holds mu. */
static void wait_locked(struct dml_wandb_logger *l, double s, int idle) {
  double until = wall_now() + s;
  for (;;) {
    if (l->abort_now || (idle && (l->finishing || l->qn > 0))) return;
    double end = l->finishing && l->finish_deadline < until ? l->finish_deadline : until;
    if (wall_now() >= end) return;
    struct timespec ts = {(time_t)end, (long)((end - (double)(time_t)end) * 1e9)};
    pthread_cond_timedwait(&l->cv, &l->mu, &ts); /* woken by log() and finish(): the loop re-checks */
  }
}

/* After a failed request: stop for good (permanent failure), or wait as the server asked (Retry-After) or by the
 * backoff (2 s doubling to 60 s), saying so when the wait is long. Caller holds mu. */
static void after_failure(struct dml_wandb_logger *l, dml_status st, const char *what, int *attempt, int *warned) {
  struct dml_wandb_client *c = &l->c;
  const char *why;
  if (dml_wandb_permanent_failure(c, st, &why)) {
    fprintf(stderr, "wandb: %s: %s (%s); not retrying: rows are kept in %s for dml-sync\n", what, why,
            dml_error_message(), l->pending_path);
    l->dead = 1;
    return;
  }
  warn_once(warned, what);
  double w = c->last_retry_after > 0 ? c->last_retry_after : dml_wandb_backoff(c, *attempt < 5 ? ++*attempt : 6);
  if (l->finishing && wall_now() + w >= l->finish_deadline) w = l->finish_deadline - wall_now();
  if (w >= 3)
    fprintf(stderr, "wandb: %s (%s); retrying in %.0f s%s\n", what,
            c->last_code ? (c->last_code == 429 ? "HTTP 429, rate limited" : "HTTP error") : "no answer", w,
            l->finishing ? " (run finished: waiting for W&B at most until the --wandb_finish_timeout)" : "");
  if (w > 0) wait_locked(l, w, 0);
}

static int past_deadline(struct dml_wandb_logger *l) {
  return l->abort_now || (l->finishing && wall_now() >= l->finish_deadline);
}

static void *thread_main(void *arg) {
  struct dml_wandb_logger *l = arg;
  struct dml_wandb_client *c = &l->c;
  int warned = 0, attempt = 0;
  double last_send = wall_now();
  c->max_attempts = 1; /* retries are done here, so that finish() is noticed between attempts */
  c->abort_flag = &l->abort_now;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    if (l->dead || past_deadline(l)) break;
    if (l->finishing) c->deadline = dml_now() + (l->finish_deadline - wall_now());
    if (!l->created) {
      char *ent = l->entity ? xstrdup(l->entity) : NULL;
      pthread_mutex_unlock(&l->mu);
      dml_status st = DML_OK;
      if (!ent) st = dml_wandb_viewer_entity(c, &ent);
      long lines = 0;
      char *ent_out = NULL;
      if (!st)
        st = dml_wandb_upsert_run(c, ent, l->project, l->run_id, l->group, l->display, l->config_wrapped, &lines,
                                  &ent_out);
      pthread_mutex_lock(&l->mu);
      if (!st) {
        free(l->entity);
        l->entity = ent_out ? ent_out : xstrdup(ent);
        l->created = 1;
        if (lines > l->sent_lines) l->sent_lines = lines;
        save_state_unlocked(l);
        attempt = 0;
        if (warned) fprintf(stderr, "wandb: connected again\n");
        warned = 0;
      } else {
        free(ent_out);
        after_failure(l, st, "cannot create the run", &attempt, &warned);
      }
      free(ent);
      continue;
    }
    if (l->qn == 0 && !l->finishing) {
      double idle = wall_now() - last_send;
      if (idle < HEARTBEAT_S) {
        wait_locked(l, HEARTBEAT_S - idle, 1);
        continue;
      }
    }
    if (l->finishing && l->qn == 0 && l->complete_sent) break;
    /* one batch: up to BATCH_MAX rows, the summary, and the completion when this empties the queue */
    size_t n = l->qn < BATCH_MAX ? l->qn : BATCH_MAX;
    char *lines[BATCH_MAX];
    for (size_t i = 0; i < n; i++) lines[i] = l->q[(l->qhead + i) % QUEUE_CAP];
    int complete = l->finishing && n == l->qn;
    char *sum = dml_wj_dumps(l->summary);
    char *body = n || complete ? dml_wandb_stream_body(lines, n, l->sent_lines, sum, complete, l->exit_code)
                               : xstrdup("{}");
    free(sum);
    char *ent = xstrdup(l->entity);
    pthread_mutex_unlock(&l->mu);
    dml_status st = dml_wandb_file_stream(c, ent, l->project, l->run_id, body);
    free(ent);
    free(body);
    pthread_mutex_lock(&l->mu);
    last_send = wall_now();
    if (!st) {
      for (size_t i = 0; i < n; i++) free(l->q[(l->qhead + i) % QUEUE_CAP]);
      l->qhead = (l->qhead + n) % QUEUE_CAP;
      l->qn -= n;
      l->sent_lines += (long)n;
      if (complete) l->complete_sent = 1;
      if (n || complete) save_state_unlocked(l);
      if (warned) fprintf(stderr, "wandb: connected again\n");
      warned = 0;
      attempt = 0;
    } else {
      after_failure(l, st, "cannot send history", &attempt, &warned);
    }
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

dml_status dml_wandb_logger_start(const struct dml_wandb_run_opts *o, dml_wandb_logger_t **out) {
  *out = NULL;
  if (!o || !o->project || !*o->project) return dml_error(DML_ERR_ARG, "W&B logging needs a project (--project)");
  if (!o->run_dir || !*o->run_dir) return dml_error(DML_ERR_ARG, "W&B logging needs the run's folder");
  char *wrapped = dml_wandb_wrap_config(o->config_json);
  if (!wrapped) return dml_error(DML_ERR_ARG, "W&B logging: the configuration is not a JSON object");
  struct dml_wandb_logger *l = xcalloc(1, sizeof *l);
  dml_status st = dml_wandb_client_init(&l->c);
  if (st) {
    free(wrapped);
    free(l);
    return st;
  }
  l->config_wrapped = wrapped;
  l->project = xstrdup(o->project);
  l->entity = o->entity && *o->entity ? xstrdup(o->entity) : NULL;
  l->group = o->group ? xstrdup(o->group) : NULL;
  l->display = o->name ? xstrdup(o->name) : NULL;
  l->pending_path = dml_strfmt("%s/wandb-pending.jsonl", o->run_dir);
  l->state_path = dml_strfmt("%s/wandb-run.json", o->run_dir);
  l->summary = json_object();
  l->t0 = dml_now();
  /* a resumed training run continues its W&B run */
  char *prev = dml_wandb_read_file(l->state_path, NULL);
  json_t *pj = prev ? json_loads(prev, 0, NULL) : NULL;
  free(prev);
  const char *pid = json_string_value(json_object_get(pj, "run_id"));
  const char *pproj = json_string_value(json_object_get(pj, "project"));
  if (pid && pproj && !strcmp(pproj, l->project)) {
    l->run_id = xstrdup(pid);
    json_t *sl = json_object_get(pj, "sent_lines");
    l->sent_lines = json_is_integer(sl) ? (long)json_integer_value(sl) : 0;
    l->pending_sent = (long)json_integer_value(json_object_get(pj, "pending_sent"));
    if (!l->entity && json_is_string(json_object_get(pj, "entity")))
      l->entity = xstrdup(json_string_value(json_object_get(pj, "entity")));
  } else {
    l->run_id = random_run_id();
  }
  json_decref(pj);
  if ((st = save_state(l))) {
    dml_status r = dml_error_prefix(st, "W&B logging");
    l->dead = 1;
    dml_wandb_logger_finish(l, 0, 0, NULL);
    return r;
  }
  pthread_mutex_init(&l->mu, NULL);
  pthread_mutex_init(&l->state_mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  if (pthread_create(&l->th, NULL, thread_main, l)) DML_ABORT("pthread_create failed");
  l->thread_started = 1;
  *out = l;
  return DML_OK;
}

void dml_wandb_logger_log(dml_wandb_logger_t *l, long step, const char *row_json) {
  if (!l || !row_json) return;
  json_t *row = dml_wj_loads(row_json, NULL);
  if (!json_is_object(row)) {
    json_decref(row);
    pthread_mutex_lock(&l->mu);
    if (!l->n_invalid++) fprintf(stderr, "wandb: a history row is not a JSON object; dropped\n");
    pthread_mutex_unlock(&l->mu);
    return;
  }
  double runtime = dml_now() - l->t0, ts = wall_now();
  json_object_del(row, "_step");
  json_object_del(row, "_runtime");
  json_object_del(row, "_timestamp");
  char *inner = dml_wj_dumps(row); /* "{...}" */
  char *line = json_object_size(row)
                   ? dml_strfmt("{\"_step\":%ld,\"_runtime\":%.3f,\"_timestamp\":%.3f,%s", step, runtime, ts, inner + 1)
                   : dml_strfmt("{\"_step\":%ld,\"_runtime\":%.3f,\"_timestamp\":%.3f}", step, runtime, ts);
  free(inner);
  pthread_mutex_lock(&l->mu);
  json_object_update(l->summary, row);
  json_object_set_new(l->summary, "_step", json_integer(step));
  json_object_set_new(l->summary, "_runtime", json_real(runtime));
  json_object_set_new(l->summary, "_timestamp", json_real(ts));
  if (l->spilled || l->qn == QUEUE_CAP || l->finishing) {
    if (!l->spilled)
      fprintf(stderr, "wandb: the send queue is full; rows go to %s for dml-sync\n", l->pending_path);
    l->spilled = 1;
    l->n_spilled++;
    append_pending(l, line);
    free(line);
  } else {
    l->q[(l->qhead + l->qn) % QUEUE_CAP] = line;
    l->qn++;
    pthread_cond_signal(&l->cv);
  }
  pthread_mutex_unlock(&l->mu);
  json_decref(row);
}

dml_status dml_wandb_logger_finish(dml_wandb_logger_t *l, int exit_code, double deadline_s, size_t *unsent) {
  if (unsent) *unsent = 0;
  if (!l) return DML_OK;
  if (l->thread_started) {
    pthread_mutex_lock(&l->mu);
    l->finishing = 1;
    l->exit_code = exit_code;
    l->finish_deadline = wall_now() + (deadline_s > 0 ? deadline_s : 0);
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    double until = l->finish_deadline + 0.05;
    struct timespec ts = {(time_t)until, (long)((until - (double)(time_t)until) * 1e9)};
    if (pthread_timedjoin_np(l->th, NULL, &ts)) {
      __atomic_store_n(&l->abort_now, 1, __ATOMIC_SEQ_CST);
      pthread_join(l->th, NULL);
    }
  }
  size_t left = l->qn;
  for (size_t i = 0; i < l->qn; i++) {
    char *line = l->q[(l->qhead + i) % QUEUE_CAP];
    append_pending(l, line);
    free(line);
  }
  l->qn = 0;
  l->finishing = 1;
  l->exit_code = exit_code;
  size_t total = left + l->n_spilled;
  if (unsent) *unsent = total;
  dml_status st = DML_OK;
  if (l->thread_started) {
    save_state(l);
    if (total || !l->complete_sent)
      st = dml_error(DML_ERR_NET, "W&B: %zu history row%s%s not delivered; kept in %s, upload with dml-sync", total,
                     total == 1 ? "" : "s", l->complete_sent ? "" : " and the completion", l->pending_path);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->state_mu);
    pthread_cond_destroy(&l->cv);
  }
  dml_wandb_client_free(&l->c);
  json_decref(l->summary);
  free(l->entity);
  free(l->project);
  free(l->group);
  free(l->display);
  free(l->run_id);
  free(l->config_wrapped);
  free(l->pending_path);
  free(l->state_path);
  free(l);
  return st;
}
