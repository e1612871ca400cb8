/* client.c — the only file of dml that talks libcurl: an HTTP client for the W&B API (GraphQL and the
 * file-stream endpoint), key lookup (WANDB_API_KEY, else netrc), retries with jittered exponential backoff
 * honouring Retry-After, and the NaN-tolerant JSON helpers.
 *
 * Contract: the key lives in struct dml_wandb_client only and reaches libcurl through CURLOPT_USERNAME /
 * CURLOPT_PASSWORD (HTTP Basic, user "api"); no message built here contains it. Retried: transport errors,
 * HTTP 429, 5xx and 0; returned at once: every other status. Every request has a timeout.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/wandb/wandb-impl.h"
#include "common/progress.h"

#define CURL_CHECK(x) do { CURLcode rc_ = (x); if (rc_ != CURLE_OK) DML_ABORT("libcurl: %s", curl_easy_strerror(rc_)); } while (0)

/* ---------------------------------------------------------------- JSON with NaN ------------------------ */

json_t *dml_wj_loads(const char *text, json_error_t *err) {
  size_t n = strlen(text), cap = n + 64, o = 0;
  char *buf = xmalloc(cap);
  int in_str = 0;
  for (size_t i = 0; i < n; i++) {
    const char *rep = NULL;
    size_t skip = 0;
    char ch = text[i];
    if (in_str) {
      if (ch == '\\' && i + 1 < n) {
        if (o + 2 >= cap) buf = xrealloc(buf, cap *= 2);
        buf[o++] = ch;
        buf[o++] = text[++i];
        continue;
      }
      if (ch == '"') in_str = 0;
    } else if (ch == '"') {
      in_str = 1;
    } else if (!strncmp(text + i, "NaN", 3)) {
      rep = "\"\\u0001NaN\"", skip = 3;
    } else if (!strncmp(text + i, "Infinity", 8)) {
      rep = "\"\\u0001Inf\"", skip = 8;
    } else if (!strncmp(text + i, "-Infinity", 9)) {
      rep = "\"\\u0001-Inf\"", skip = 9;
    }
    if (rep) {
      size_t rl = strlen(rep);
      while (o + rl + 1 >= cap) buf = xrealloc(buf, cap *= 2);
      memcpy(buf + o, rep, rl);
      o += rl;
      i += skip - 1;
      continue;
    }
    if (o + 1 >= cap) buf = xrealloc(buf, cap *= 2);
    buf[o++] = ch;
  }
  buf[o] = 0;
  json_t *j = json_loads(buf, 0, err);
  free(buf);
  return j;
}

char *dml_wj_dumps(const json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!s) return xstrdup("null");
  static const char *const from[3] = {"\"\\u0001NaN\"", "\"\\u0001Inf\"", "\"\\u0001-Inf\""};
  static const char *const to[3] = {"NaN", "Infinity", "-Infinity"};
  if (!strstr(s, "\\u0001")) {
    char *r = xstrdup(s);
    free(s);
    return r;
  }
  size_t n = strlen(s), o = 0;
  char *r = xmalloc(n + 1);
  for (size_t i = 0; i < n;) {
    int hit = -1;
    for (int k = 0; k < 3; k++)
      if (!strncmp(s + i, from[k], strlen(from[k]))) hit = k;
    if (hit >= 0) {
      memcpy(r + o, to[hit], strlen(to[hit]));
      o += strlen(to[hit]);
      i += strlen(from[hit]);
    } else {
      r[o++] = s[i++];
    }
  }
  r[o] = 0;
  free(s);
  return r;
}

int dml_wj_number(const json_t *j, double *v) {
  if (json_is_number(j)) {
    *v = json_number_value(j);
    return 1;
  }
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    if (!strcmp(s, DML_WJ_NAN)) return *v = NAN, 1;
    if (!strcmp(s, DML_WJ_INF)) return *v = INFINITY, 1;
    if (!strcmp(s, DML_WJ_NINF)) return *v = -INFINITY, 1;
  }
  if (json_is_true(j)) return *v = 1, 1;
  if (json_is_false(j)) return *v = 0, 1;
  return 0;
}

/* ---------------------------------------------------------------- files ------------------------------- */

char *dml_wandb_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *b = xmalloc(cap);
  size_t k;
  while ((k = fread(b + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (cap - n < 2) b = xrealloc(b, cap *= 2);
  }
  fclose(f);
  b[n] = 0;
  if (len) *len = n;
  return b;
}

dml_status dml_wandb_write_file(const char *path, const char *text) {
  char *tmp = dml_strfmt("%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    dml_status st = dml_error(DML_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    free(tmp);
    return st;
  }
  size_t n = strlen(text), off = 0;
  while (off < n) {
    ssize_t w = write(fd, text + off, n - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  int ok = off == n && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp, path)) {
    dml_status st = dml_error(DML_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    free(tmp);
    return st;
  }
  free(tmp);
  return DML_OK;
}

/* ---------------------------------------------------------------- key lookup --------------------------- */

/* netrc tokens: machine NAME | default, then login/password/account values; macdef bodies skipped. */
char *dml_wandb_netrc_password(const char *path, const char *host) {
  size_t len = 0;
  char *text = dml_wandb_read_file(path, &len);
  if (!text) return NULL;
  char *save = NULL, *pw = NULL;
  int in_match = 0, in_default = 0;
  char *def_pw = NULL;
  for (char *t = strtok_r(text, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
    if (!strcmp(t, "machine")) {
      char *m = strtok_r(NULL, " \t\r\n", &save);
      in_match = m && !strcmp(m, host);
      in_default = 0;
    } else if (!strcmp(t, "default")) {
      in_match = 0;
      in_default = 1;
    } else if (!strcmp(t, "password")) {
      char *v = strtok_r(NULL, " \t\r\n", &save);
      if (v && in_match && !pw) pw = xstrdup(v);
      if (v && in_default && !def_pw) def_pw = xstrdup(v);
    } else if (!strcmp(t, "login") || !strcmp(t, "account")) {
      strtok_r(NULL, " \t\r\n", &save);
    }
  }
  if (!pw) pw = def_pw;
  else free(def_pw);
  explicit_bzero(text, len); /* no copy of a key left in freed memory */
  free(text);
  return pw;
}

static char *host_of(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  const char *at = strchr(p, '@'), *slash = strchr(p, '/');
  if (at && (!slash || at < slash)) p = at + 1;
  size_t n = strcspn(p, ":/?#");
  char *h = xmalloc(n + 1);
  memcpy(h, p, n);
  h[n] = 0;
  return h;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct dml_wandb_response *r = ud;
  size_t n = size * nmemb;
  r->body = xrealloc(r->body, r->len + n + 1);
  memcpy(r->body + r->len, ptr, n);
  r->len += n;
  r->body[r->len] = 0;
  return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct dml_wandb_response *r = ud;
  size_t n = size * nmemb;
  if (n > 12 && !strncasecmp(ptr, "Retry-After:", 12)) {
    char v[128];
    size_t k = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
    memcpy(v, ptr + 12, k);
    v[k] = 0;
    char *s = v;
    while (*s == ' ' || *s == '\t') s++;
    s[strcspn(s, "\r\n")] = 0;
    char *end;
    double sec = strtod(s, &end);
    if (end != s && *end == 0) {
      r->retry_after = sec;
    } else {
      time_t t = curl_getdate(s, NULL);
      if (t > 0) r->retry_after = difftime(t, time(NULL));
    }
    if (r->retry_after < 0) r->retry_after = 0;
    if (r->retry_after > 300) r->retry_after = 300;
  }
  return n;
}

struct progress_ctx { struct dml_wandb_client *c; };

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d) {
  struct dml_wandb_client *c = ud;
  if (c->abort_flag && *c->abort_flag) return 1;
  if (c->deadline > 0 && dml_now() > c->deadline) return 1;
  return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_global(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

dml_status dml_wandb_client_init(struct dml_wandb_client *c) {
  memset(c, 0, sizeof *c);
  pthread_once(&curl_once, curl_global);
  const char *base = getenv("WANDB_BASE_URL");
  c->base_url = xstrdup(base && *base ? base : "https://api.wandb.ai");
  size_t n = strlen(c->base_url);
  while (n > 0 && c->base_url[n - 1] == '/') c->base_url[--n] = 0;
  c->host = host_of(c->base_url);
  const char *k = getenv("WANDB_API_KEY");
  char *netrc = NULL;
  if (k && *k) {
    c->key = xstrdup(k);
    c->key_source = xstrdup("$WANDB_API_KEY");
  } else {
    const char *np = getenv("NETRC");
    const char *home = getenv("HOME");
    netrc = np && *np ? xstrdup(np) : dml_strfmt("%s/.netrc", home ? home : ".");
    c->key = dml_wandb_netrc_password(netrc, c->host);
    c->key_source = dml_strfmt("the 'machine %s' entry of %s", c->host, netrc);
    struct stat nsb;
    if (c->key && !stat(netrc, &nsb) && (nsb.st_mode & 077))
      fprintf(stderr, "dml: warning: %s holds your W&B key and is readable by others (mode %03o): chmod 600 %s\n", netrc,
              (unsigned)(nsb.st_mode & 0777), netrc);
  }
  if (!c->key) {
    dml_status st = dml_error(DML_ERR_AUTH, "no W&B API key: $WANDB_API_KEY is not set and %s has no 'machine %s' entry",
                              netrc, c->host);
    dml_error_hint("export WANDB_API_KEY=... or run `wandb login` (writes ~/.netrc); the key is never taken from a flag");
    free(netrc);
    dml_wandb_client_free(c);
    return st;
  }
  free(netrc);
  const char *to = getenv("WANDB_HTTP_TIMEOUT");
  c->timeout_s = to && atof(to) > 0 ? atof(to) : 30;
  const char *bo = getenv("DML_WANDB_BACKOFF_S");
  c->backoff_s = bo && atof(bo) > 0 ? atof(bo) : 1.0;
  c->max_attempts = 8;
  c->jitter_state = (unsigned long long)time(NULL) * 2654435761ULL ^ (unsigned long long)getpid() ^
                    (unsigned long long)(size_t)c;
  CURL *e = curl_easy_init();
  if (!e) DML_ABORT("curl_easy_init failed");
  c->curl = e;
  return DML_OK;
}

void dml_wandb_client_free(struct dml_wandb_client *c) {
  if (c->curl) curl_easy_cleanup(c->curl);
  if (c->key) explicit_bzero(c->key, strlen(c->key));
  free(c->key);
  free(c->key_source);
  free(c->base_url);
  free(c->host);
  memset(c, 0, sizeof *c);
}

double dml_wandb_backoff(struct dml_wandb_client *c, int attempt) {
  double w = c->backoff_s * pow(2.0, attempt);
  if (w > 60) w = 60;
  c->jitter_state ^= c->jitter_state << 13;
  c->jitter_state ^= c->jitter_state >> 7;
  c->jitter_state ^= c->jitter_state << 17;
  double u = (double)(c->jitter_state >> 11) / 9007199254740992.0;
  return w * (1.0 + 0.25 * u);
}

int dml_wandb_sleep(struct dml_wandb_client *c, double s) {
  double end = dml_now() + s;
  for (;;) {
    if (c->abort_flag && *c->abort_flag) return 1;
    double now = dml_now();
    if (c->deadline > 0 && now >= c->deadline) return 1;
    if (now >= end) return 0;
    double step = end - now;
    if (step > 0.05) step = 0.05;
    struct timespec ts = {0, (long)(step * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static int retryable(long code) { return code == 0 || code == 429 || code >= 500; }

dml_status dml_wandb_post(struct dml_wandb_client *c, const char *path, const char *body,
                          struct dml_wandb_response *r) {
  memset(r, 0, sizeof *r);
  char *url = dml_strfmt("%s%s", c->base_url, path);
  CURL *e = c->curl;
  struct curl_slist *hdr = NULL;
  hdr = curl_slist_append(hdr, "Content-Type: application/json");
  hdr = curl_slist_append(hdr, "Expect:");
  hdr = curl_slist_append(hdr, "User-Agent: dml-wandb/" DML_VERSION);
  char errbuf[CURL_ERROR_SIZE];
  dml_status st = DML_OK;
  for (int attempt = 0;; attempt++) {
    free(r->body);
    memset(r, 0, sizeof *r);
    errbuf[0] = 0;
    curl_easy_reset(e);
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_URL, url));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_POSTFIELDS, body));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_USERNAME, "api"));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_PASSWORD, c->key));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_WRITEDATA, r));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_HEADERDATA, r));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_XFERINFODATA, c));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->timeout_s * 1000 < 10000 ? c->timeout_s * 1000 : 10000)));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(c->timeout_s * 1000)));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""));
    CURL_CHECK(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    r->code = code;
    c->last_curl = (int)rc;
    c->last_code = code;
    c->last_retry_after = r->retry_after;
    if (rc == CURLE_OK && !retryable(code)) break;
    /* a transport failure no retry can cure (issue 15: a closed loopback port took 142 s and 8 attempts; file://
     * and unknown hosts were retried): one attempt, one line. The classification is f2's, shared with the logger. */
    const char *perm = NULL;
    if (rc != CURLE_OK && dml_wandb_permanent_failure(c, DML_OK, &perm)) {
      st = dml_error(DML_ERR_NET, "cannot reach %s: %s (%s); not retried", c->base_url, perm,
                     errbuf[0] ? errbuf : curl_easy_strerror(rc));
      break;
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK || (c->abort_flag && *c->abort_flag) ||
        (c->deadline > 0 && dml_now() >= c->deadline)) {
      st = dml_error(DML_ERR_NET, "%s: gave up at the deadline", c->host);
      break;
    }
    if (attempt + 1 >= c->max_attempts) {
      if (rc != CURLE_OK)
        st = dml_error(DML_ERR_NET, "cannot reach %s (%s) after %d attempts", c->base_url,
                       errbuf[0] ? errbuf : curl_easy_strerror(rc), attempt + 1);
      else
        st = dml_error(DML_ERR_NET, "%s answered HTTP %ld after %d attempts", c->base_url, code, attempt + 1);
      break;
    }
    double w = r->retry_after > 0 ? r->retry_after : dml_wandb_backoff(c, attempt);
    if (dml_wandb_sleep(c, w)) {
      st = dml_error(DML_ERR_NET, "%s: gave up at the deadline (last: %s)", c->host,
                     rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP error");
      break;
    }
  }
  curl_slist_free_all(hdr);
  free(url);
  if (st) {
    free(r->body);
    r->body = NULL;
  }
  return st;
}

/* "message" of {"error": "..."} / {"errors": ["..." | {"message": "..."}]}, joined with "; ". */
static char *error_text(const char *body) {
  json_t *j = body ? json_loads(body, 0, NULL) : NULL;
  char *out = NULL;
  if (j) {
    json_t *e = json_object_get(j, "error");
    if (json_is_string(e)) out = xstrdup(json_string_value(e));
    json_t *es = json_object_get(j, "errors");
    if (!out && json_is_array(es)) {
      size_t i;
      json_t *x;
      json_array_foreach(es, i, x) {
        const char *m = json_is_string(x) ? json_string_value(x) : json_string_value(json_object_get(x, "message"));
        if (!m) continue;
        char *n = out ? dml_strfmt("%s; %s", out, m) : xstrdup(m);
        free(out);
        out = n;
      }
    }
    json_decref(j);
  }
  if (!out && body && *body) {
    out = xstrdup(body);
    if (strlen(out) > 160) strcpy(out + 157, "...");
    for (char *p = out; *p; p++)
      if (*p == '\n' || *p == '\r') *p = ' ';
  }
  return out ? out : xstrdup("no message");
}

static dml_status http_error(struct dml_wandb_client *c, const struct dml_wandb_response *r, const char *what) {
  char *m = error_text(r->body);
  dml_status st;
  if (r->code == 401)
    st = dml_error(DML_ERR_AUTH, "%s rejected the API key (HTTP 401): the key from %s is missing or invalid",
                   c->host, c->key_source);
  else if (r->code == 403)
    st = dml_error(DML_ERR_AUTH, "%s: permission denied for %s (HTTP 403): %s", c->host, what, m);
  else if (r->code == 404)
    st = dml_error(DML_ERR_NET, "%s: %s not found (HTTP 404): %s", c->host, what, m);
  else
    st = dml_error(DML_ERR_NET, "%s: HTTP %ld for %s: %s", c->host, r->code, what, m);
  free(m);
  return st;
}

dml_status dml_wandb_graphql_parse(const char *host, const char *what, const char *body, json_t **data, int *retry) {
  *data = NULL;
  *retry = 0;
  json_error_t err;
  json_t *j = dml_wj_loads(body ? body : "", &err);
  json_t *d = j ? json_object_get(j, "data") : NULL;
  json_t *es = j ? json_object_get(j, "errors") : NULL;
  dml_status st = DML_OK;
  if (json_is_array(es) && json_array_size(es) > 0) {
    char *m = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(es, i, x) {
      const char *s = json_string_value(json_object_get(x, "message"));
      if (!s) s = json_is_string(x) ? json_string_value(x) : "unknown error";
      char *n = m ? dml_strfmt("%s; %s", m, s) : xstrdup(s);
      free(m);
      m = n;
    }
    st = dml_error(DML_ERR_NET, "%s: %s: %s", host, what, m);
    free(m);
  } else if (!j || !json_is_object(d)) {
    *retry = 1; /* a malformed or empty 200 answer (a proxy hiccup) is retried like a 5xx */
    st = dml_error(DML_ERR_NET, "%s: invalid GraphQL answer for %s (%s)", host, what, j ? "neither data nor errors" : err.text);
  } else {
    *data = json_incref(d);
  }
  json_decref(j);
  return st;
}

dml_status dml_wandb_graphql(struct dml_wandb_client *c, const char *query, json_t *variables, json_t **data,
                             const char *what) {
  *data = NULL;
  json_t *req = json_object();
  json_object_set_new(req, "query", json_string(query));
  json_object_set_new(req, "variables", variables ? variables : json_object());
  char *body = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  dml_status st = DML_OK;
  /* a malformed or empty 200 answer (a proxy hiccup) is retried like a 5xx */
  for (int attempt = 0;; attempt++) {
    struct dml_wandb_response r;
    st = dml_wandb_post(c, "/graphql", body, &r);
    if (st) break;
    if (r.code != 200) {
      st = http_error(c, &r, what);
      free(r.body);
      break;
    }
    int retry = 0;
    st = dml_wandb_graphql_parse(c->host, what, r.body, data, &retry);
    free(r.body);
    if (retry && attempt + 1 < c->max_attempts && !dml_wandb_sleep(c, dml_wandb_backoff(c, attempt))) continue;
    break;
  }
  free(body);
  return st;
}

dml_status dml_wandb_viewer_entity(struct dml_wandb_client *c, char **entity) {
  json_t *d;
  dml_status st = dml_wandb_graphql(c, "query Viewer { viewer { id entity } }", NULL, &d, "the viewer query");
  if (st) return st;
  const char *e = json_string_value(json_object_get(json_object_get(d, "viewer"), "entity"));
  if (!e) {
    json_decref(d);
    return dml_error(DML_ERR_NET, "%s: the viewer query gave no default entity", c->host);
  }
  *entity = xstrdup(e);
  json_decref(d);
  return DML_OK;
}

char *dml_wandb_wrap_config(const char *config_json) {
  json_t *in = dml_wj_loads(config_json && *config_json ? config_json : "{}", NULL);
  if (!json_is_object(in)) {
    json_decref(in);
    return NULL;
  }
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    json_t *w = json_object();
    json_object_set(w, "value", v);
    json_object_set_new(out, k, w);
  }
  char *s = dml_wj_dumps(out);
  json_decref(in);
  json_decref(out);
  return s;
}

static const char *upsert_query =
    "mutation UpsertBucket($name: String, $project: String, $entity: String, $groupName: String, "
    "$displayName: String, $config: JSONString, $jobType: String, $tags: [String!]) { upsertBucket(input: "
    "{name: $name, modelName: $project, entityName: $entity, groupName: $groupName, displayName: $displayName, "
    "config: $config, jobType: $jobType, tags: $tags}) { bucket { id name displayName historyLineCount project "
    "{ name entity { name } } } inserted } }";

dml_status dml_wandb_upsert_run(struct dml_wandb_client *c, const char *entity, const char *project,
                                const char *run_id, const char *group, const char *display,
                                const char *config_wrapped, long *history_lines, char **entity_out) {
  json_t *v = json_object();
  json_object_set_new(v, "name", json_string(run_id));
  json_object_set_new(v, "project", json_string(project));
  json_object_set_new(v, "entity", entity ? json_string(entity) : json_null());
  json_object_set_new(v, "groupName", group ? json_string(group) : json_null());
  json_object_set_new(v, "displayName", display ? json_string(display) : json_null());
  json_object_set_new(v, "config", config_wrapped ? json_string(config_wrapped) : json_null());
  json_object_set_new(v, "jobType", json_null());
  json_object_set_new(v, "tags", json_array());
  char *what = dml_strfmt("run %s/%s/%s", entity ? entity : "(default entity)", project, run_id);
  json_t *d;
  dml_status st = dml_wandb_graphql(c, upsert_query, v, &d, what);
  free(what);
  if (st) return st;
  json_t *b = json_object_get(json_object_get(d, "upsertBucket"), "bucket");
  if (!json_is_object(b)) {
    json_decref(d);
    return dml_error(DML_ERR_NET, "%s: UpsertBucket gave no bucket", c->host);
  }
  json_t *hl = json_object_get(b, "historyLineCount");
  *history_lines = json_is_integer(hl) ? (long)json_integer_value(hl) : 0;
  if (entity_out) {
    const char *e = json_string_value(json_object_get(json_object_get(json_object_get(b, "project"), "entity"), "name"));
    *entity_out = e ? xstrdup(e) : entity ? xstrdup(entity) : NULL;
  }
  json_decref(d);
  return DML_OK;
}

char *dml_wandb_stream_body(char *const *lines, size_t n, long offset, const char *summary, int complete,
                            int exit_code) {
  json_t *files = json_object();
  if (n > 0) {
    json_t *h = json_object(), *content = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(content, json_string(lines[i]));
    json_object_set_new(h, "offset", json_integer(offset));
    json_object_set_new(h, "content", content);
    json_object_set_new(files, "wandb-history.jsonl", h);
  }
  if (summary) {
    json_t *s = json_object(), *content = json_array();
    json_array_append_new(content, json_string(summary));
    json_object_set_new(s, "offset", json_integer(0));
    json_object_set_new(s, "content", content);
    json_object_set_new(files, "wandb-summary.json", s);
  }
  json_t *req = json_object();
  if (json_object_size(files)) json_object_set_new(req, "files", files);
  else json_decref(files);
  if (complete) {
    json_object_set_new(req, "complete", json_true());
    json_object_set_new(req, "exitcode", json_integer(exit_code));
  }
  char *s = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  return s;
}

dml_status dml_wandb_file_stream(struct dml_wandb_client *c, const char *entity, const char *project,
                                 const char *run_id, const char *body) {
  char *ee = curl_easy_escape(c->curl, entity, 0), *pe = curl_easy_escape(c->curl, project, 0),
       *re = curl_easy_escape(c->curl, run_id, 0);
  char *path = dml_strfmt("/files/%s/%s/%s/file_stream", ee, pe, re);
  curl_free(ee);
  curl_free(pe);
  curl_free(re);
  struct dml_wandb_response r;
  dml_status st = dml_wandb_post(c, path, body, &r);
  free(path);
  if (st) return st;
  if (r.code < 200 || r.code >= 300) {
    char *what = dml_strfmt("the file stream of %s/%s/%s", entity, project, run_id);
    st = http_error(c, &r, what);
    free(what);
  }
  free(r.body);
  return st;
}

/* A failure that no retry can cure: the server or its address is wrong (not down). */
int dml_wandb_permanent_failure(const struct dml_wandb_client *c, dml_status st, const char **why) {
  *why = NULL;
  if (st == DML_ERR_AUTH) *why = "the key was rejected";
  else if (c->last_curl == CURLE_COULDNT_RESOLVE_HOST) *why = "unknown host";
  else if (c->last_curl == CURLE_UNSUPPORTED_PROTOCOL || c->last_curl == CURLE_URL_MALFORMAT)
    *why = "unsupported URL scheme (http and https only)";
  else if (c->last_curl == CURLE_COULDNT_CONNECT &&
           (!strncmp(c->host, "127.", 4) || !strcmp(c->host, "localhost") || strstr(c->base_url, "://[::1]")))
    *why = "connection refused on a loopback address (no server listening there)";
  else if (c->last_curl == CURLE_OK && c->last_code >= 400 && c->last_code < 500 && c->last_code != 429)
    *why = "the server refused the request";
  return *why != NULL;
}
