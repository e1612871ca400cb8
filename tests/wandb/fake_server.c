/* fake_server — a small W&B stand-in on 127.0.0.1 for the wandb_ tests (notes/wandb-api.md shapes).
 *
 * Usage: wandb_fake_server [--auth] [--viewer ENTITY] [--gen ENT/PROJ:RUNS:ROWS] [--hostile] [--max_seconds S]
 * Prints "PORT <n>" on stdout once listening on an ephemeral port; exits when stdin reaches EOF (its parent
 * died or closed the pipe) or after --max_seconds.
 *
 * Implements: POST /graphql with the Viewer, Runs (cursor pages, filters on group/state/displayName/name with
 * $and/$or), HistoryPage (minStep <= _step < maxStep, at most pageSize rows, rows as JSON strings) queries and
 * the UpsertBucket mutation; POST /files/E/P/R/file_stream (history lines at offsets, summary, completion).
 * With --auth, HTTP Basic "api:$WANDB_API_KEY" is required (401 otherwise); the key comes from the environment,
 * never from the argument list.
 * POST /_control (no auth) with a JSON object:
 *   {"fail": "429|500|drop|malformed|401|slow", "count": N, "retry_after": S, "delay": S, "match": "substr"}
 *       the next N requests (whose path+body contain match) get that fault;
 *   {"down": true|false}  every request is dropped while down;
 *   {"grow": "RUN", "rows": K} appends K generated rows to run RUN (as if it were still training);
 *   {"dump": "ENT/PROJ/RUN"} answers {"lines": [...], "summary": "...", "complete": b, "exitcode": n, ...};
 *   {"stats": true} answers {"requests": n, "faults": n, "graphql": n, "file_stream": n}.
 * Generated runs (--gen): run%05d, display G<r%3>_s<r>, group G<r%3>, config dataset "cub200", seed r; row s of
 * run r holds e_recall@1 = (1000 r + s)/8192, Train loss = 1/(s+1), "Model Grad: L2: Grad L2" = s/2,
 * nmi = NaN when s%7 == 3 else s/1024, and every 50th row a histogram. --hostile names run 0 "../../x".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "analysis/wandb/wandb-impl.h"

struct srun {
  char *entity, *project, *name, *display, *group, *state, *config, *summary, *created;
  char **lines;
  long *steps;
  size_t n, cap;
  long heartbeat;
  int complete, exitcode;
};

struct server {
  pthread_mutex_t mu;
  struct srun *runs;
  size_t n_runs, cap_runs;
  char *auth;          /* expected "Basic ..." header value or NULL */
  char *viewer;
  long clock;          /* heartbeat counter */
  char fail[16], match[128];
  long fail_count;
  double retry_after, delay;
  int down;
  long requests, faults, n_graphql, n_stream;
};

struct conn { struct server *s; int fd; };

static char *b64(const char *in) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(in), o = 0;
  char *r = xmalloc(4 * (n / 3 + 1) + 1);
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < n) v |= (unsigned char)in[i + 1] << 8;
    if (i + 2 < n) v |= (unsigned char)in[i + 2];
    r[o++] = t[(v >> 18) & 63];
    r[o++] = t[(v >> 12) & 63];
    r[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    r[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  r[o] = 0;
  return r;
}

static char *hb_text(long clock) {
  time_t t = 1700000000 + clock;
  struct tm tm;
  gmtime_r(&t, &tm);
  char b[32];
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
  return xstrdup(b);
}

static long line_step(const char *line, long def) {
  json_t *j = dml_wj_loads(line, NULL);
  json_t *s = json_object_get(j, "_step");
  long v = json_is_integer(s) ? (long)json_integer_value(s) : def;
  json_decref(j);
  return v;
}

/* set line at offset (replace or append) */
static int put_line(struct srun *r, long off, const char *line) {
  if (off < 0 || (size_t)off > r->n) return -1;
  if ((size_t)off == r->n) {
    if (r->n == r->cap) {
      r->cap = r->cap ? 2 * r->cap : 64;
      r->lines = xrealloc(r->lines, r->cap * sizeof *r->lines);
      r->steps = xrealloc(r->steps, r->cap * sizeof *r->steps);
    }
    r->n++;
  } else {
    free(r->lines[off]);
  }
  r->lines[off] = xstrdup(line);
  r->steps[off] = line_step(line, off);
  return 0;
}

static struct srun *find_run(struct server *s, const char *e, const char *p, const char *name) {
  for (size_t i = 0; i < s->n_runs; i++)
    if (!strcmp(s->runs[i].entity, e) && !strcmp(s->runs[i].project, p) && !strcmp(s->runs[i].name, name))
      return &s->runs[i];
  return NULL;
}

static struct srun *new_run(struct server *s, const char *e, const char *p, const char *name) {
  if (s->n_runs == s->cap_runs)
    s->runs = xrealloc(s->runs, (s->cap_runs = s->cap_runs ? 2 * s->cap_runs : 16) * sizeof *s->runs);
  struct srun *r = &s->runs[s->n_runs++];
  memset(r, 0, sizeof *r);
  r->entity = xstrdup(e);
  r->project = xstrdup(p);
  r->name = xstrdup(name);
  r->display = xstrdup(name);
  r->group = xstrdup("");
  r->state = xstrdup("running");
  r->config = xstrdup("{}");
  r->summary = xstrdup("{}");
  r->created = hb_text(s->clock);
  r->heartbeat = ++s->clock;
  return r;
}

static char *gen_row(long r, long s) {
  char nmi[64];
  if (s % 7 == 3) snprintf(nmi, sizeof nmi, "NaN");
  else snprintf(nmi, sizeof nmi, "%.17g", s / 1024.0);
  const char *hist = s % 50 == 0 ? ", \"Train: discriminative_rho_spectrum@0\": {\"_type\": \"histogram\", \"values\": [1, 2], \"bins\": [0, 1, 2]}" : "";
  return dml_strfmt("{\"_step\": %ld, \"_runtime\": %.1f, \"_timestamp\": %.1f, "
                    "\"Test: discriminative_e_recall: e_recall@1\": %.17g, \"Train: loss\": %.17g, "
                    "\"Model Grad: L2: Grad L2\": %.17g, \"Test: discriminative_nmi: nmi\": %s%s}",
                    s, s * 10.0, 1.7e9 + s, (1000.0 * r + s) / 8192.0, 1.0 / (s + 1), s / 2.0, nmi, hist);
}

static void grow_run(struct server *s, struct srun *run, long ridx, long rows) {
  for (long k = 0; k < rows; k++) {
    char *line = gen_row(ridx, (long)run->n);
    put_line(run, (long)run->n, line);
    free(line);
  }
  free(run->summary);
  run->summary = run->n ? xstrdup(run->lines[run->n - 1]) : xstrdup("{}");
  run->heartbeat = ++s->clock;
}

static void generate(struct server *s, const char *spec, int hostile) {
  char ent[128], proj[128];
  long nr = 0, nrows = 0;
  if (sscanf(spec, "%127[^/]/%127[^:]:%ld:%ld", ent, proj, &nr, &nrows) != 4) {
    fprintf(stderr, "fake_server: bad --gen %s\n", spec);
    exit(2);
  }
  for (long r = 0; r < nr; r++) {
    char name[32];
    snprintf(name, sizeof name, "run%05ld", r);
    struct srun *run = new_run(s, ent, proj, name);
    free(run->display);
    free(run->group);
    free(run->config);
    free(run->state);
    run->display = hostile && r == 0 ? xstrdup("../../x") : dml_strfmt("G%ld_s%ld", r % 3, r);
    run->group = dml_strfmt("G%ld", r % 3);
    run->config = dml_strfmt("{\"seed\": {\"value\": %ld, \"desc\": null}, \"dataset\": {\"value\": \"cub200\"}, "
                             "\"lr\": {\"value\": 1e-05}, \"_wandb\": {\"value\": {\"cli_version\": \"0.9.4\"}}}", r);
    run->state = xstrdup("finished");
    run->complete = 1;
    grow_run(s, run, r, nrows);
  }
}

/* ---- filters ---- */
static const char *run_field(const struct srun *r, const char *k) {
  if (!strcmp(k, "group")) return r->group;
  if (!strcmp(k, "state")) return r->state;
  if (!strcmp(k, "displayName")) return r->display;
  if (!strcmp(k, "name")) return r->name;
  return NULL;
}

static int match(const struct srun *r, json_t *f) {
  if (!json_is_object(f)) return 1;
  const char *k;
  json_t *v;
  json_object_foreach(f, k, v) {
    if (!strcmp(k, "$and") || !strcmp(k, "$or")) {
      int any = 0, all = 1;
      size_t i;
      json_t *x;
      json_array_foreach(v, i, x) {
        int m = match(r, x);
        any |= m;
        all &= m;
      }
      if (!strcmp(k, "$and") ? !all : !any) return 0;
      continue;
    }
    const char *fv = run_field(r, k);
    if (!fv) continue;
    json_t *want = json_is_object(v) ? json_object_get(v, "$eq") : v;
    if (json_is_string(want) && strcmp(fv, json_string_value(want))) return 0;
  }
  return 1;
}

/* ---- GraphQL ---- */
static json_t *run_node(struct srun *r) {
  long last = -1;
  for (size_t i = 0; i < r->n; i++)
    if (r->steps[i] > last) last = r->steps[i];
  char *hb = hb_text(r->heartbeat);
  json_t *n = json_pack("{s:s,s:s,s:s,s:s,s:n,s:s,s:[],s:s,s:s,s:s,s:s,s:I,s:{s:I,s:{}},s:{s:s,s:s}}", "id",
                        "UnVuOnYx", "name", r->name, "displayName", r->display, "group", r->group, "jobType",
                        "state", r->state, "tags", "createdAt", r->created, "heartbeatAt", hb, "config", r->config,
                        "summaryMetrics", r->summary, "historyLineCount", (json_int_t)r->n, "historyKeys", "lastStep",
                        (json_int_t)last, "keys", "user", "name", "tester", "username", "tester");
  json_object_set_new(n, "id", json_string(r->name)); /* storage id */
  free(hb);
  return n;
}

static json_t *gql(struct server *s, json_t *req, int *http) {
  const char *q = json_string_value(json_object_get(req, "query"));
  json_t *v = json_object_get(req, "variables");
  *http = 200;
  if (!q) {
    *http = 400;
    return json_pack("{s:[{s:s}]}", "errors", "message", "no query");
  }
  if (strstr(q, "upsertBucket")) {
    const char *ent = json_string_value(json_object_get(v, "entity"));
    const char *proj = json_string_value(json_object_get(v, "project"));
    const char *name = json_string_value(json_object_get(v, "name"));
    if (!ent) ent = s->viewer;
    if (!proj || !name) return json_pack("{s:n,s:[{s:s}]}", "data", "errors", "message", "name and project required");
    struct srun *r = find_run(s, ent, proj, name);
    int inserted = !r;
    if (!r) r = new_run(s, ent, proj, name);
    const char *g = json_string_value(json_object_get(v, "groupName"));
    const char *d = json_string_value(json_object_get(v, "displayName"));
    const char *c = json_string_value(json_object_get(v, "config"));
    if (g) free(r->group), r->group = xstrdup(g);
    if (d) free(r->display), r->display = xstrdup(d);
    if (c) free(r->config), r->config = xstrdup(c);
    r->heartbeat = ++s->clock;
    return json_pack("{s:{s:{s:{s:s,s:s,s:s,s:I,s:{s:s,s:{s:s}}},s:b}}}", "data", "upsertBucket", "bucket", "id",
                     r->name, "name", r->name, "displayName", r->display, "historyLineCount", (json_int_t)r->n,
                     "project", "name", r->project, "entity", "name", r->entity, "inserted", inserted);
  }
  if (strstr(q, "viewer")) return json_pack("{s:{s:{s:s,s:s}}}", "data", "viewer", "id", "VXNlcjox", "entity", s->viewer);
  const char *ent = json_string_value(json_object_get(v, "entity"));
  const char *proj = json_string_value(json_object_get(v, "project"));
  if (!ent || !proj) return json_pack("{s:n,s:[{s:s}]}", "data", "errors", "message", "entity and project required");
  int exists = 0;
  for (size_t i = 0; i < s->n_runs; i++)
    if (!strcmp(s->runs[i].entity, ent) && !strcmp(s->runs[i].project, proj)) exists = 1;
  if (!exists) return json_pack("{s:{s:n}}", "data", "project");
  if (strstr(q, "history(")) {
    struct srun *r = find_run(s, ent, proj, json_string_value(json_object_get(v, "run")) ? json_string_value(json_object_get(v, "run")) : "");
    if (!r) return json_pack("{s:{s:{s:n}}}", "data", "project", "run");
    long lo = (long)json_integer_value(json_object_get(v, "minStep"));
    long hi = (long)json_integer_value(json_object_get(v, "maxStep"));
    long ps = (long)json_integer_value(json_object_get(v, "pageSize"));
    json_t *h = json_array();
    for (size_t i = 0; i < r->n && (long)json_array_size(h) < ps; i++)
      if (r->steps[i] >= lo && r->steps[i] < hi) json_array_append_new(h, json_string(r->lines[i]));
    return json_pack("{s:{s:{s:{s:o}}}}", "data", "project", "run", "history", h);
  }
  if (strstr(q, "runs(")) {
    const char *fs = json_string_value(json_object_get(v, "filters"));
    json_t *f = fs ? json_loads(fs, 0, NULL) : NULL;
    const char *cur = json_string_value(json_object_get(v, "cursor"));
    long start = cur && cur[0] == 'c' ? atol(cur + 1) + 1 : 0;
    json_t *pp = json_object_get(v, "perPage");
    long per = json_is_integer(pp) ? (long)json_integer_value(pp) : 50;
    json_t *edges = json_array();
    long idx = 0, total = 0, last_idx = -1;
    int more = 0;
    for (size_t i = 0; i < s->n_runs; i++) {
      struct srun *r = &s->runs[i];
      if (strcmp(r->entity, ent) || strcmp(r->project, proj) || !match(r, f)) continue;
      total++;
      if (idx++ < start) continue;
      if ((long)json_array_size(edges) >= per) {
        more = 1;
        continue;
      }
      char c[32];
      snprintf(c, sizeof c, "c%ld", idx - 1);
      json_array_append_new(edges, json_pack("{s:o,s:s}", "node", run_node(r), "cursor", c));
      last_idx = idx - 1;
    }
    json_decref(f);
    char ec[32];
    snprintf(ec, sizeof ec, "c%ld", last_idx);
    return json_pack("{s:{s:{s:s,s:I,s:b,s:{s:o,s:{s:s?,s:b}}}}}", "data", "project", "internalId", "UHJvamVjdDox",
                     "runCount", (json_int_t)total, "readOnly", 0, "runs", "edges", edges, "pageInfo", "endCursor",
                     last_idx >= 0 ? ec : NULL, "hasNextPage", more);
  }
  *http = 400;
  return json_pack("{s:[{s:s}]}", "errors", "message", "unsupported query");
}

static json_t *file_stream(struct server *s, const char *path, json_t *req, int *http) {
  char e[256], p[256], r[256];
  *http = 200;
  if (sscanf(path, "/files/%255[^/]/%255[^/]/%255[^/]/file_stream", e, p, r) != 3) {
    *http = 404;
    return json_pack("{s:s}", "error", "bad path");
  }
  struct srun *run = find_run(s, e, p, r);
  if (!run) {
    *http = 404;
    return json_pack("{s:s}", "error", "run not found");
  }
  json_t *files = json_object_get(req, "files");
  json_t *h = json_object_get(files, "wandb-history.jsonl");
  if (h) {
    long off = (long)json_integer_value(json_object_get(h, "offset"));
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(h, "content"), i, x) {
      if (!json_is_string(x) || put_line(run, off + (long)i, json_string_value(x))) {
        *http = 400;
        return json_pack("{s:s}", "error", "history offset beyond the end or line not a string");
      }
    }
  }
  json_t *sm = json_object_get(files, "wandb-summary.json");
  json_t *sc = json_object_get(sm, "content");
  if (json_array_size(sc)) {
    free(run->summary);
    run->summary = xstrdup(json_string_value(json_array_get(sc, json_array_size(sc) - 1)));
  }
  if (json_is_true(json_object_get(req, "complete"))) {
    run->complete = 1;
    run->exitcode = (int)json_integer_value(json_object_get(req, "exitcode"));
    free(run->state);
    run->state = xstrdup(run->exitcode ? "failed" : "finished");
  }
  run->heartbeat = ++s->clock;
  return json_pack("{s:n,s:{}}", "exitcode", "limits");
}

static json_t *control(struct server *s, json_t *req) {
  json_t *f = json_object_get(req, "fail");
  if (json_is_string(f)) {
    snprintf(s->fail, sizeof s->fail, "%s", json_string_value(f));
    s->fail_count = (long)json_integer_value(json_object_get(req, "count"));
    json_t *ra = json_object_get(req, "retry_after"), *dl = json_object_get(req, "delay");
    s->retry_after = json_is_number(ra) ? json_number_value(ra) : 1;
    s->delay = json_is_number(dl) ? json_number_value(dl) : 2;
    const char *m = json_string_value(json_object_get(req, "match"));
    snprintf(s->match, sizeof s->match, "%s", m ? m : "");
  }
  json_t *d = json_object_get(req, "down");
  if (json_is_boolean(d)) s->down = json_is_true(d);
  const char *g = json_string_value(json_object_get(req, "grow"));
  if (g) {
    for (size_t i = 0; i < s->n_runs; i++)
      if (!strcmp(s->runs[i].name, g)) grow_run(s, &s->runs[i], (long)i, (long)json_integer_value(json_object_get(req, "rows")));
  }
  const char *dump = json_string_value(json_object_get(req, "dump"));
  if (dump) {
    char e[256], p[256], r[256];
    struct srun *run = sscanf(dump, "%255[^/]/%255[^/]/%255s", e, p, r) == 3 ? find_run(s, e, p, r) : NULL;
    if (!run) return json_pack("{s:s}", "error", "no such run");
    json_t *lines = json_array();
    for (size_t i = 0; i < run->n; i++) json_array_append_new(lines, json_string(run->lines[i]));
    return json_pack("{s:o,s:s,s:b,s:i,s:s,s:s,s:s,s:s}", "lines", lines, "summary", run->summary, "complete",
                     run->complete, "exitcode", run->exitcode, "state", run->state, "display", run->display,
                     "group", run->group, "config", run->config);
  }
  return json_pack("{s:I,s:I,s:I,s:I}", "requests", (json_int_t)s->requests, "faults", (json_int_t)s->faults,
                   "graphql", (json_int_t)s->n_graphql, "file_stream", (json_int_t)s->n_stream);
}

/* ---- HTTP ---- */
static void send_all(int fd, const char *b, size_t n) {
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    b += w;
    n -= (size_t)w;
  }
}

static void respond(int fd, int code, const char *extra, const char *body) {
  const char *reason = code == 200 ? "OK" : code == 400 ? "Bad Request" : code == 401 ? "Unauthorized" :
                       code == 404 ? "Not Found" : code == 429 ? "Too Many Requests" : "Internal Server Error";
  char *h = dml_strfmt("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                       code, reason, strlen(body), extra ? extra : "");
  send_all(fd, h, strlen(h));
  send_all(fd, body, strlen(body));
  free(h);
}

static void *serve(void *arg) {
  struct conn *cn = arg;
  struct server *s = cn->s;
  int fd = cn->fd;
  free(cn);
  char *auth = NULL;
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t cap = 65536, n = 0;
  char *buf = xmalloc(cap + 1);
  char *hend = NULL;
  while (!hend) {
    if (n == cap) buf = xrealloc(buf, (cap *= 2) + 1);
    ssize_t r = recv(fd, buf + n, cap - n, 0);
    if (r <= 0) goto out;
    n += (size_t)r;
    buf[n] = 0;
    hend = strstr(buf, "\r\n\r\n");
  }
  size_t hlen = (size_t)(hend - buf) + 4, clen = 0;
  char method[16] = "", path[1024] = "";
  sscanf(buf, "%15s %1023s", method, path);
  int expect = 0;
  for (char *l = strstr(buf, "\r\n"); l && l < hend; l = strstr(l + 2, "\r\n")) {
    char *ln = l + 2;
    if (!strncasecmp(ln, "Content-Length:", 15)) clen = strtoul(ln + 15, NULL, 10);
    if (!strncasecmp(ln, "Expect: 100", 11)) expect = 1;
    if (!strncasecmp(ln, "Authorization:", 14)) {
      char *v = ln + 14;
      while (*v == ' ') v++;
      auth = strndup(v, strcspn(v, "\r\n"));
    }
  }
  if (expect) send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
  if (clen > (256u << 20)) goto out;
  while (n < hlen + clen) {
    if (n == cap) buf = xrealloc(buf, (cap *= 2) + 1);
    ssize_t r = recv(fd, buf + n, cap - n, 0);
    if (r <= 0) goto out;
    n += (size_t)r;
  }
  buf[hlen + clen] = 0;
  char *body = buf + hlen;
  int is_control = !strcmp(path, "/_control");
  pthread_mutex_lock(&s->mu);
  char fault[16] = "";
  double retry_after = 0, delay = 0;
  if (!is_control) {
    s->requests++;
    if (s->down) {
      snprintf(fault, sizeof fault, "drop");
    } else if (s->fail_count > 0 && (!s->match[0] || strstr(path, s->match) || strstr(body, s->match))) {
      s->fail_count--;
      snprintf(fault, sizeof fault, "%s", s->fail);
      retry_after = s->retry_after;
      delay = s->delay;
    }
    if (fault[0]) s->faults++;
  }
  pthread_mutex_unlock(&s->mu);
  if (!strcmp(fault, "slow")) {
    struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
    nanosleep(&ts, NULL);
    fault[0] = 0;
  }
  if (!strcmp(fault, "drop")) goto out;
  if (!strcmp(fault, "429")) {
    char *x = dml_strfmt("Retry-After: %g\r\n", retry_after);
    respond(fd, 429, x, "{\"error\": \"rate limit exceeded\"}");
    free(x);
    goto out;
  }
  if (!strcmp(fault, "500")) {
    respond(fd, 500, NULL, "{\"error\": \"internal server error\"}");
    goto out;
  }
  if (!strcmp(fault, "malformed")) {
    respond(fd, 200, NULL, "{\"data\": {\"project\": {\"runs\": [tru");
    goto out;
  }
  if (!strcmp(fault, "401") || (!is_control && s->auth && (!auth || strcmp(auth, s->auth)))) {
    respond(fd, 401, NULL, "{\"errors\": [{\"message\": \"unauthorized\"}]}");
    goto out;
  }
  if (strcmp(method, "POST")) {
    respond(fd, 404, NULL, "{\"error\": \"not found\"}");
    goto out;
  }
  json_error_t err;
  json_t *req = json_loads(body, 0, &err);
  if (!json_is_object(req)) {
    json_decref(req);
    respond(fd, 400, NULL, "{\"error\": \"request body is not a JSON object\"}");
    goto out;
  }
  int code = 200;
  pthread_mutex_lock(&s->mu);
  json_t *ans;
  if (is_control) ans = control(s, req);
  else if (!strcmp(path, "/graphql")) s->n_graphql++, ans = gql(s, req, &code);
  else if (!strncmp(path, "/files/", 7)) s->n_stream++, ans = file_stream(s, path, req, &code);
  else code = 404, ans = json_pack("{s:s}", "error", "not found");
  char *out = json_dumps(ans, JSON_COMPACT);
  pthread_mutex_unlock(&s->mu);
  json_decref(ans);
  json_decref(req);
  respond(fd, code, NULL, out);
  free(out);
out:
  free(auth);
  free(buf);
  close(fd);
  return NULL;
}

static void *watch_stdin(void *arg) {
  char b[64];
  while (read(0, b, sizeof b) > 0) {
  }
  exit(0);
  return arg;
}

int main(int argc, char **argv) {
  struct server s = {0};
  pthread_mutex_init(&s.mu, NULL);
  s.viewer = xstrdup("tester");
  const char *gen[8];
  int n_gen = 0, hostile = 0;
  double max_s = 600;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--auth")) {
      const char *k = getenv("WANDB_API_KEY");
      char *up = dml_strfmt("api:%s", k ? k : "");
      char *e = b64(up);
      s.auth = dml_strfmt("Basic %s", e);
      free(up);
      free(e);
    } else if (!strcmp(argv[i], "--viewer") && i + 1 < argc) {
      free(s.viewer);
      s.viewer = xstrdup(argv[++i]);
    } else if (!strcmp(argv[i], "--gen") && i + 1 < argc && n_gen < 8) {
      gen[n_gen++] = argv[++i];
    } else if (!strcmp(argv[i], "--hostile")) {
      hostile = 1;
    } else if (!strcmp(argv[i], "--max_seconds") && i + 1 < argc) {
      max_s = atof(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--auth] [--viewer E] [--gen ENT/PROJ:RUNS:ROWS] [--hostile] [--max_seconds S]\n", argv[0]);
      return 2;
    }
  }
  for (int i = 0; i < n_gen; i++) generate(&s, gen[i], hostile);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 64)) {
    perror("fake_server: listen");
    return 1;
  }
  socklen_t al = sizeof a;
  getsockname(ls, (struct sockaddr *)&a, &al);
  printf("PORT %d\n", ntohs(a.sin_port));
  fflush(stdout);
  signal(SIGPIPE, SIG_IGN);
  alarm((unsigned)max_s);
  pthread_t w;
  pthread_create(&w, NULL, watch_stdin, NULL);
  pthread_detach(w);
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      perror("fake_server: accept");
      return 1;
    }
    struct conn *c = xmalloc(sizeof *c);
    c->s = &s;
    c->fd = fd;
    pthread_t t;
    if (pthread_create(&t, NULL, serve, c)) {
      close(fd);
      free(c);
      continue;
    }
    pthread_detach(t);
  }
}
