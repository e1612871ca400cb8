/* fetch.c — dml-fetch: a W&B project → one run record per run (notes D.2, D.3; spec A4, A11).
 *
 * Contract:
 * - Lists the runs with cursor pagination (config, summaryMetrics, historyLineCount, historyKeys in the list
 *   query), optionally filtered (--group, --filter, ANDed).
 * - Downloads each run's complete history with paged history queries (minStep/maxStep windows of 1000 steps up
 *   to lastStep), not the 500-row sample; `jobs` histories at a time (one thread and one curl handle each);
 *   run records are written one at a time (the HDF5 library is not thread-safe).
 * - Keys are mapped by dml_wandb_parse_key: metrics → metrics/<split>/<key> at epoch = _step, "Train: loss" etc.
 *   → train rows, unknown scalar keys → split "other" with the raw name (the run record escapes it). Values that
 *   are not numbers (histograms, images, text) are counted and skipped. NaN/Infinity tokens are kept.
 * - Record path: <out>/<config dataset, else project>/<safe run name>/run.h5; two runs with the same name get
 *   "_<run id>" appended to the second. Names can never leave <out> (dml_wandb_safe_name).
 * - Incremental: <out>/.dml-fetch-state.json maps entity/project/run id → heartbeatAt, historyLineCount, state,
 *   path; saved after every run, so a second call fetches only new or changed runs and an interrupted call
 *   resumes.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/wandb/wandb-impl.h"
#include "common/progress.h"
#include "common/runrecord.h"

#define HISTORY_WINDOW 1000

static const char *runs_query =
    "query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String, "
    "$filters: JSONString) { project(name: $project, entityName: $entity) { internalId runCount(filters: $filters) "
    "readOnly runs(filters: $filters, after: $cursor, first: $perPage, order: $order) { edges { node { id name "
    "displayName group jobType state tags createdAt heartbeatAt config summaryMetrics historyLineCount historyKeys "
    "user { name username } } cursor } pageInfo { endCursor hasNextPage } } } }";

static const char *history_query =
    "query HistoryPage($entity: String!, $project: String!, $run: String!, $minStep: Int64!, $maxStep: Int64!, "
    "$pageSize: Int!) { project(name: $project, entityName: $entity) { run(name: $run) { history(minStep: $minStep, "
    "maxStep: $maxStep, samples: $pageSize) } } }";

struct job {
  json_t *node;      /* borrowed from the run list */
  char *key;         /* entity/project/name */
  char *path;        /* record path */
  int changed;       /* 1: an older record exists */
};

struct fetch_ctx {
  const struct dml_wandb_fetch_opts *o;
  struct job *jobs;
  size_t n_jobs, next;
  json_t *state;          /* {"runs": {key: {...}}} */
  char *state_path;
  pthread_mutex_t mu;     /* guards next, state, stats, progress and every run record call */
  struct dml_wandb_fetch_stats *stats;
  struct dml_progress prog;
  size_t done;
  dml_status first_err;
  char *first_msg;
};

/* A JSONString field: a string to parse again, or an object already. New reference or NULL. */
static json_t *json_field(json_t *node, const char *name) {
  json_t *v = json_object_get(node, name);
  if (json_is_string(v)) return dml_wj_loads(json_string_value(v), NULL);
  if (json_is_object(v)) return json_incref(v);
  return NULL;
}

static json_t *unwrap_config(json_t *cfg) {
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(cfg, k, v) {
    if (!strcmp(k, "_wandb") || !strcmp(k, "wandb_version")) continue;
    json_t *inner = json_is_object(v) ? json_object_get(v, "value") : NULL;
    json_object_set(out, k, inner ? inner : v);
  }
  return out;
}

static dml_status mkdirs(const char *path) {
  char *p = xstrdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(p, 0755) && errno != EEXIST) {
      dml_status st = dml_error(DML_ERR_IO, "cannot create %s: %s", p, strerror(errno));
      free(p);
      return st;
    }
    *s = '/';
  }
  dml_status st = DML_OK;
  if (mkdir(p, 0755) && errno != EEXIST) st = dml_error(DML_ERR_IO, "cannot create %s: %s", p, strerror(errno));
  free(p);
  return st;
}

static long json_long(json_t *j, long def) {
  double v;
  if (json_is_integer(j)) return (long)json_integer_value(j);
  if (dml_wj_number(j, &v) && isfinite(v)) return (long)v;
  return def;
}

static int cmp_step(const void *a, const void *b) {
  long x = json_long(json_object_get(*(json_t *const *)a, "_step"), 0);
  long y = json_long(json_object_get(*(json_t *const *)b, "_step"), 0);
  return (x > y) - (x < y);
}

/* The complete history of one run: rows sorted by _step (new array). */
static dml_status fetch_history(struct dml_wandb_client *c, const char *entity, const char *project, json_t *node,
                                json_t **rows_out) {
  *rows_out = NULL;
  const char *name = json_string_value(json_object_get(node, "name"));
  long last = -1;
  json_t *hk = json_field(node, "historyKeys");
  last = json_long(json_object_get(hk, "lastStep"), -1);
  json_decref(hk);
  json_t *sum = json_field(node, "summaryMetrics");
  long s_step = json_long(json_object_get(sum, "_step"), -1);
  json_decref(sum);
  if (s_step > last) last = s_step;
  long lines = json_long(json_object_get(node, "historyLineCount"), 0);
  if (last < 0 && lines > 0) last = lines - 1;
  json_t *rows = json_array();
  char *what = dml_strfmt("the history of run %s/%s/%s", entity, project, name);
  dml_status st = DML_OK;
  for (long lo = 0; lo <= last; lo += HISTORY_WINDOW) {
    json_t *v = json_object();
    json_object_set_new(v, "entity", json_string(entity));
    json_object_set_new(v, "project", json_string(project));
    json_object_set_new(v, "run", json_string(name));
    json_object_set_new(v, "minStep", json_integer(lo));
    json_object_set_new(v, "maxStep", json_integer(lo + HISTORY_WINDOW));
    json_object_set_new(v, "pageSize", json_integer(HISTORY_WINDOW));
    json_t *d;
    if ((st = dml_wandb_graphql(c, history_query, v, &d, what))) break;
    json_t *run = json_object_get(json_object_get(d, "project"), "run");
    json_t *h = json_object_get(run, "history");
    if (!json_is_array(h)) {
      json_decref(d);
      st = dml_error(DML_ERR_NET, "%s: no history in the answer for %s", c->host, what);
      break;
    }
    size_t i;
    json_t *x;
    json_array_foreach(h, i, x) {
      json_t *row = json_is_string(x) ? dml_wj_loads(json_string_value(x), NULL) : json_incref(x);
      if (json_is_object(row)) json_array_append_new(rows, row);
      else json_decref(row);
    }
    json_decref(d);
  }
  free(what);
  if (st) {
    json_decref(rows);
    return st;
  }
  /* sort by _step */
  size_t n = json_array_size(rows);
  json_t **tmp = xmalloc((n ? n : 1) * sizeof *tmp);
  for (size_t i = 0; i < n; i++) tmp[i] = json_incref(json_array_get(rows, i));
  qsort(tmp, n, sizeof *tmp, cmp_step);
  /* one row per step: if the server's maxStep were inclusive, a window's last step would come twice */
  json_t *sorted = json_array();
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && cmp_step(&tmp[i - 1], &tmp[i]) == 0) {
      json_decref(tmp[i]);
      continue;
    }
    json_array_append_new(sorted, tmp[i]);
  }
  free(tmp);
  json_decref(rows);
  *rows_out = sorted;
  return DML_OK;
}

static char *cfg_str(json_t *cfg, const char *k) {
  json_t *v = json_object_get(cfg, k);
  if (json_is_string(v)) return xstrdup(json_string_value(v));
  return NULL;
}

/* Write one record (caller holds the HDF5 mutex). */
static dml_status write_record(struct fetch_ctx *x, struct job *jb, json_t *rows) {
  const struct dml_wandb_fetch_opts *o = x->o;
  json_t *node = jb->node;
  json_t *cfg_w = json_field(node, "config");
  json_t *cfg = unwrap_config(cfg_w ? cfg_w : json_object());
  json_decref(cfg_w);
  char *cfg_text = dml_wj_dumps(cfg);
  const char *name = json_string_value(json_object_get(node, "name"));
  const char *display = json_string_value(json_object_get(node, "displayName"));
  struct dml_run_meta m = {0};
  m.seed = json_long(json_object_get(cfg, "seed"), 0);
  m.name = (char *)(display ? display : name);
  m.group = (char *)json_string_value(json_object_get(node, "group"));
  m.project = (char *)o->project;
  m.dataset = cfg_str(cfg, "dataset");
  m.arch = cfg_str(cfg, "arch");
  m.loss = cfg_str(cfg, "loss");
  m.batch_mining = cfg_str(cfg, "batch_mining");
  m.source = dml_strfmt("wandb:%s/%s/%s", o->entity, o->project, name);
  m.config_json = cfg_text;
  char *dir = xstrdup(jb->path);
  *strrchr(dir, '/') = 0;
  dml_status st = mkdirs(dir);
  free(dir);
  dml_runrecord_t *rr = NULL;
  if (!st) {
    unlink(jb->path);
    st = dml_runrecord_create(jb->path, &m, &rr);
  }
  size_t n_rows = json_array_size(rows), skipped = 0;
  struct dml_metric_value *vals = NULL;
  char **splits = NULL, **keys = NULL;
  size_t cap = 0;
  for (size_t r = 0; !st && r < n_rows; r++) {
    json_t *row = json_array_get(rows, r);
    long epoch = json_long(json_object_get(row, "_step"), (long)r);
    size_t nv = 0;
    struct dml_train_row tr = {NAN, NAN, NAN, NAN};
    int have_train = 0;
    const char *k;
    json_t *v;
    json_object_foreach(row, k, v) {
      char *sp, *key;
      int is_train;
      if (!dml_wandb_parse_key(k, &sp, &key, &is_train)) continue;
      double d;
      if (!dml_wj_number(v, &d)) {
        skipped++;
        free(sp);
        free(key);
        continue;
      }
      if (is_train) {
        have_train = 1;
        if (!strcmp(key, "loss")) tr.loss = d;
        else if (!strcmp(key, "lr")) tr.lr = d;
        else if (!strcmp(key, "seconds")) tr.seconds = d;
        else tr.images_per_second = d;
        free(sp);
        free(key);
        continue;
      }
      if (nv == cap) {
        cap = cap ? 2 * cap : 16;
        vals = xrealloc(vals, cap * sizeof *vals);
        splits = xrealloc(splits, cap * sizeof *splits);
        keys = xrealloc(keys, cap * sizeof *keys);
      }
      splits[nv] = sp;
      keys[nv] = key;
      vals[nv] = (struct dml_metric_value){key, d, NULL};
      nv++;
    }
    /* one append per split, values of that split together */
    for (size_t i = 0; !st && i < nv; i++) {
      if (!splits[i]) continue;
      struct dml_metric_value *g = xmalloc(nv * sizeof *g);
      size_t ng = 0;
      for (size_t j = i; j < nv; j++)
        if (splits[j] && !strcmp(splits[j], splits[i])) g[ng++] = vals[j];
      st = dml_runrecord_append_metrics(rr, splits[i], epoch, g, ng);
      free(g);
      char *si = splits[i];
      for (size_t j = i + 1; j < nv; j++)
        if (splits[j] && !strcmp(splits[j], si)) {
          free(splits[j]);
          splits[j] = NULL;
        }
      free(si);
      splits[i] = NULL;
    }
    for (size_t i = 0; i < nv; i++) {
      free(splits[i]);
      free(keys[i]);
    }
    if (!st && have_train) st = dml_runrecord_append_train(rr, epoch, &tr);
  }
  free(vals);
  free(splits);
  free(keys);
  if (!st) {
    st = dml_runrecord_set_attr(rr, "wandb_run_id", name);
    const char *state = json_string_value(json_object_get(node, "state"));
    if (!st && state) st = dml_runrecord_set_attr(rr, "wandb_state", state);
    json_t *sum = json_field(node, "summaryMetrics");
    if (!st && sum) {
      char *s = dml_wj_dumps(sum);
      st = dml_runrecord_set_attr(rr, "wandb_summary", s);
      free(s);
    }
    json_decref(sum);
    if (!st && state) {
      if (!strcmp(state, "finished")) st = dml_runrecord_set_status(rr, DML_RUN_FINISHED);
      else if (!strcmp(state, "crashed") || !strcmp(state, "failed")) st = dml_runrecord_set_status(rr, DML_RUN_FAILED);
      else if (!strcmp(state, "killed")) st = dml_runrecord_set_status(rr, DML_RUN_INTERRUPTED);
    }
  }
  if (rr) {
    dml_status cs = dml_runrecord_close(rr);
    if (!st) st = cs;
  }
  if (st) st = dml_error_prefix(st, "writing %s", jb->path);
  x->stats->rows += n_rows;
  x->stats->skipped_values += skipped;
  free(m.dataset);
  free(m.arch);
  free(m.loss);
  free(m.batch_mining);
  free(m.source);
  free(cfg_text);
  json_decref(cfg);
  return st;
}

static dml_status save_state(struct fetch_ctx *x) {
  char *s = json_dumps(x->state, JSON_INDENT(1) | JSON_SORT_KEYS);
  dml_status st = dml_wandb_write_file(x->state_path, s);
  free(s);
  return st;
}

static void *worker(void *arg) {
  struct fetch_ctx *x = arg;
  struct dml_wandb_client c;
  dml_status st = dml_wandb_client_init(&c);
  pthread_mutex_lock(&x->mu);
  if (st && !x->first_err) {
    x->first_err = st;
    x->first_msg = xstrdup(dml_error_message());
  }
  while (!st && x->next < x->n_jobs && !x->first_err) {
    struct job *jb = &x->jobs[x->next++];
    pthread_mutex_unlock(&x->mu);
    json_t *rows = NULL;
    dml_status fs = fetch_history(&c, x->o->entity, x->o->project, jb->node, &rows);
    pthread_mutex_lock(&x->mu);
    if (!fs) fs = write_record(x, jb, rows);
    json_decref(rows);
    if (fs) {
      x->stats->failed++;
      if (fs == DML_ERR_AUTH || fs == DML_ERR_IO) { /* no point going on */
        x->first_err = fs;
        x->first_msg = xstrdup(dml_error_message());
      } else if (x->o->log) {
        fprintf(x->o->log, "dml-fetch: %s\n", dml_error_message());
      }
      if (!x->first_err && !x->first_msg) x->first_msg = xstrdup(dml_error_message());
    } else {
      json_t *e = json_object();
      json_t *node = jb->node;
      json_object_set(e, "heartbeatAt", json_object_get(node, "heartbeatAt"));
      json_object_set(e, "historyLineCount", json_object_get(node, "historyLineCount"));
      json_object_set(e, "state", json_object_get(node, "state"));
      json_object_set_new(e, "path", json_string(jb->path));
      json_object_set_new(json_object_get(x->state, "runs"), jb->key, e);
      dml_status ss = save_state(x);
      if (ss && !x->first_err) {
        x->first_err = ss;
        x->first_msg = xstrdup(dml_error_message());
      }
      if (jb->changed) x->stats->fetched_changed++;
      else x->stats->fetched_new++;
    }
    x->done++;
    dml_progress_update(&x->prog, x->done, NULL);
  }
  pthread_mutex_unlock(&x->mu);
  if (!st) dml_wandb_client_free(&c);
  return NULL;
}

static int same_json(json_t *a, json_t *b) { return (!a && !b) || (a && b && json_equal(a, b)); }

dml_status dml_wandb_fetch(const struct dml_wandb_fetch_opts *o, struct dml_wandb_fetch_stats *stats) {
  memset(stats, 0, sizeof *stats);
  if (!o->entity || !*o->entity || !o->project || !*o->project)
    return dml_error(DML_ERR_ARG, "expected ENTITY/PROJECT");
  const char *out = o->out_dir && *o->out_dir ? o->out_dir : "runs/wandb";
  json_t *filter = NULL;
  if (o->filter_json && *o->filter_json) {
    json_error_t err;
    filter = json_loads(o->filter_json, 0, &err);
    if (!json_is_object(filter)) {
      json_decref(filter);
      return dml_error(DML_ERR_ARG, "--filter is not a JSON object: %s", err.text);
    }
  }
  if (o->group && *o->group) {
    json_t *g = json_pack("{s:s}", "group", o->group);
    filter = filter ? json_pack("{s:[o,o]}", "$and", g, filter) : g;
  }
  char *filter_text = filter ? json_dumps(filter, JSON_COMPACT) : NULL;
  json_decref(filter);

  struct dml_wandb_client c;
  dml_status st = dml_wandb_client_init(&c);
  if (st) {
    free(filter_text);
    return st;
  }
  st = mkdirs(out);
  struct fetch_ctx x = {.o = o, .stats = stats};
  pthread_mutex_init(&x.mu, NULL);
  x.state_path = dml_strfmt("%s/.dml-fetch-state.json", out);
  char *stext = dml_wandb_read_file(x.state_path, NULL);
  x.state = stext ? json_loads(stext, 0, NULL) : NULL;
  free(stext);
  if (!json_is_object(x.state) || !json_is_object(json_object_get(x.state, "runs"))) {
    json_decref(x.state);
    x.state = json_pack("{s:{}}", "runs");
  }
  /* 1. list every run */
  json_t *pages = json_array(); /* keeps the run-list answers alive */
  json_t *nodes = json_array();
  char *what = dml_strfmt("project %s/%s", o->entity, o->project);
  json_t *cursor = json_null();
  for (int page = 0; !st; page++) {
    json_t *v = json_object();
    json_object_set_new(v, "entity", json_string(o->entity));
    json_object_set_new(v, "project", json_string(o->project));
    json_object_set_new(v, "cursor", cursor);
    json_object_set_new(v, "perPage", json_integer(o->per_page > 0 ? o->per_page : 50));
    json_object_set_new(v, "order", json_string("+created_at"));
    json_object_set_new(v, "filters", filter_text ? json_string(filter_text) : json_null());
    json_t *d;
    if ((st = dml_wandb_graphql(&c, runs_query, v, &d, what))) break;
    json_array_append_new(pages, d);
    json_t *p = json_object_get(d, "project");
    if (!json_is_object(p)) {
      st = dml_error(DML_ERR_NET, "%s: project %s/%s not found (or no access with this key)", c.host, o->entity,
                     o->project);
      break;
    }
    json_t *runs = json_object_get(p, "runs");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(runs, "edges"), i, e) {
      json_t *n = json_object_get(e, "node");
      if (json_is_string(json_object_get(n, "name"))) json_array_append(nodes, n);
    }
    json_t *pi = json_object_get(runs, "pageInfo");
    const char *endc = json_string_value(json_object_get(pi, "endCursor"));
    if (!json_is_true(json_object_get(pi, "hasNextPage")) || !endc) break;
    cursor = json_string(endc);
    if (o->log && page % 10 == 9) fprintf(o->log, "dml-fetch: listed %zu runs\n", json_array_size(nodes));
  }
  free(what);
  dml_wandb_client_free(&c);
  stats->listed = json_array_size(nodes);

  /* 2. decide what to fetch and where it goes (in list order, so names are stable) */
  size_t n = json_array_size(nodes);
  x.jobs = xcalloc(n ? n : 1, sizeof *x.jobs);
  json_t *runs_state = json_object_get(x.state, "runs");
  json_t *claimed = json_object(); /* path -> key */
  const char *sk;
  json_t *sv;
  json_object_foreach(runs_state, sk, sv) {
    const char *p = json_string_value(json_object_get(sv, "path"));
    if (p) json_object_set_new(claimed, p, json_string(sk));
  }
  for (size_t i = 0; !st && i < n; i++) {
    json_t *node = json_array_get(nodes, i);
    const char *name = json_string_value(json_object_get(node, "name"));
    char *key = dml_strfmt("%s/%s/%s", o->entity, o->project, name);
    json_t *prev = json_object_get(runs_state, key);
    const char *ppath = json_string_value(json_object_get(prev, "path"));
    struct stat sb;
    if (prev && !o->full && ppath && !stat(ppath, &sb) &&
        same_json(json_object_get(prev, "heartbeatAt"), json_object_get(node, "heartbeatAt")) &&
        same_json(json_object_get(prev, "historyLineCount"), json_object_get(node, "historyLineCount")) &&
        same_json(json_object_get(prev, "state"), json_object_get(node, "state"))) {
      stats->unchanged++;
      free(key);
      continue;
    }
    char *path;
    if (ppath) {
      path = xstrdup(ppath);
    } else {
      json_t *cfg_w = json_field(node, "config");
      json_t *cfg = unwrap_config(cfg_w ? cfg_w : json_object());
      json_decref(cfg_w);
      const char *ds = json_string_value(json_object_get(cfg, "dataset"));
      const char *disp = json_string_value(json_object_get(node, "displayName"));
      char *sd = dml_wandb_safe_name(ds && *ds ? ds : o->project);
      char *sn = dml_wandb_safe_name(disp && *disp ? disp : name);
      path = dml_strfmt("%s/%s/%s/run.h5", out, sd, sn);
      const char *owner = json_string_value(json_object_get(claimed, path));
      if (owner && strcmp(owner, key)) {
        char *sid = dml_wandb_safe_name(name);
        free(path);
        path = dml_strfmt("%s/%s/%s_%s/run.h5", out, sd, sn, sid);
        free(sid);
      }
      json_object_set_new(claimed, path, json_string(key));
      free(sd);
      free(sn);
      json_decref(cfg);
    }
    x.jobs[x.n_jobs++] = (struct job){node, key, path, prev != NULL};
  }
  json_decref(claimed);

  /* 3. download histories concurrently; write records one at a time */
  if (!st && x.n_jobs) {
    int nj = o->jobs > 0 ? o->jobs : 4;
    if ((size_t)nj > x.n_jobs) nj = (int)x.n_jobs;
    dml_progress_init(&x.prog, "dml-fetch runs", x.n_jobs, "run", o->log ? o->log : stderr);
    if (!o->log) x.prog.mode = 0;
    pthread_t *th = xmalloc((size_t)nj * sizeof *th);
    for (int i = 0; i < nj; i++)
      if (pthread_create(&th[i], NULL, worker, &x)) DML_ABORT("pthread_create failed");
    for (int i = 0; i < nj; i++) pthread_join(th[i], NULL);
    free(th);
    dml_progress_finish(&x.prog, NULL);
    if (x.first_err) st = dml_error(x.first_err, "%s", x.first_msg);
    else if (stats->failed)
      st = dml_error(DML_ERR_NET, "%zu of %zu runs failed (first: %s); run dml-fetch again to retry them",
                     stats->failed, x.n_jobs, x.first_msg ? x.first_msg : "?");
  }
  for (size_t i = 0; i < x.n_jobs; i++) {
    free(x.jobs[i].key);
    free(x.jobs[i].path);
  }
  free(x.jobs);
  free(x.first_msg);
  free(x.state_path);
  json_decref(x.state);
  json_decref(nodes);
  json_decref(pages);
  free(filter_text);
  pthread_mutex_destroy(&x.mu);
  return st;
}
