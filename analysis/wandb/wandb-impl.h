/* wandb-impl.h — internals shared by the files of analysis/wandb (and its tests): the HTTP/GraphQL client,
 * key lookup, NaN-tolerant JSON helpers. Not part of the public API. */
#ifndef DML_WANDB_IMPL_H
#define DML_WANDB_IMPL_H
#include <jansson.h>
#include <stddef.h>

#include "analysis/wandb/wandb.h"

/* jansson rejects NaN/Infinity; they are rewritten to these marker strings before decoding and back after
 * encoding. */
#define DML_WJ_NAN "\x01NaN"
#define DML_WJ_INF "\x01Inf"
#define DML_WJ_NINF "\x01-Inf"

/* Decode JSON text that may hold bare NaN / Infinity / -Infinity tokens. NULL on error (err may be NULL). */
json_t *dml_wj_loads(const char *text, json_error_t *err);
/* Encode (compact, keys in insertion order) and turn the markers back into bare tokens. Heap string. */
char *dml_wj_dumps(const json_t *j);
/* A number, or a NaN/Inf marker: 1 and *v set; otherwise 0. */
int dml_wj_number(const json_t *j, double *v);

/* ---- the client: one easy handle, credentials in memory ---- */
struct dml_wandb_client {
  char *base_url;           /* no trailing '/' */
  char *host;
  char *key;                /* never printed */
  char *key_source;         /* "WANDB_API_KEY" or the netrc path: for error messages */
  void *curl;               /* CURL* */
  double timeout_s;         /* per attempt (default 30, env WANDB_HTTP_TIMEOUT) */
  int max_attempts;         /* default 8 */
  double backoff_s;         /* first wait (default 1 s, env DML_WANDB_BACKOFF_S); doubles, +0-25% jitter, cap 60 s */
  double deadline;          /* dml_now() time after which no request starts or continues (0: none) */
  const volatile int *abort_flag; /* non-NULL and set: give up at once */
  unsigned long long jitter_state;
  /* the last attempt of dml_wandb_post, for callers that retry themselves (the logger) */
  int last_curl;            /* CURLcode of the last attempt (0 = a response came) */
  long last_code;           /* its HTTP status (0 when no response) */
  double last_retry_after;  /* its Retry-After in seconds (0 when none) */
};

struct dml_wandb_response { long code; char *body; size_t len; double retry_after; };

/* Server and key from the environment (see wandb.h). DML_ERR_AUTH with a message naming where it looked. */
dml_status dml_wandb_client_init(struct dml_wandb_client *c);
void dml_wandb_client_free(struct dml_wandb_client *c);
/* One POST with JSON body to base_url + path, retried on network errors, 429 and 5xx (Retry-After honoured);
 * 400/401/403/404/409 returned at once. On DML_OK *r holds the last response (free body). */
dml_status dml_wandb_post(struct dml_wandb_client *c, const char *path, const char *body,
                          struct dml_wandb_response *r);
/* GraphQL: POST /graphql {"query","variables"} (variables stolen); *data = the "data" member (new reference).
 * HTTP errors and GraphQL "errors" become one clear message. what: context for messages, e.g. "entity/project". */
/* The answer body of a GraphQL POST that returned HTTP 200: *data = a new reference to "data" (an object), or an
 * error joining the "errors" messages; *retry = 1 when the body is malformed or has neither (retry like a 5xx). */
dml_status dml_wandb_graphql_parse(const char *host, const char *what, const char *body, json_t **data, int *retry);
dml_status dml_wandb_graphql(struct dml_wandb_client *c, const char *query, json_t *variables, json_t **data,
                             const char *what);
/* The default entity of the key (viewer query). Heap string. */
dml_status dml_wandb_viewer_entity(struct dml_wandb_client *c, char **entity);
/* After a failed request (status st): 1 when no retry can cure it (key rejected, unknown host, unsupported
 * scheme, connection refused on a loopback address, HTTP 4xx other than 429), with *why a short reason. */
int dml_wandb_permanent_failure(const struct dml_wandb_client *c, dml_status st, const char **why);
/* Seconds to wait before attempt n (0-based) when the server gave no Retry-After. */
double dml_wandb_backoff(struct dml_wandb_client *c, int attempt);
/* Sleep s seconds unless the deadline or the abort flag comes first; 0 when it slept fully. */
int dml_wandb_sleep(struct dml_wandb_client *c, double s);

/* netrc lookup: the password for machine host in file path; heap string or NULL. */
char *dml_wandb_netrc_password(const char *path, const char *host);

/* UpsertBucket; *history_lines = the run's historyLineCount, *entity_out (may be NULL) = the entity name. */
dml_status dml_wandb_upsert_run(struct dml_wandb_client *c, const char *entity, const char *project,
                                const char *run_id, const char *group, const char *display,
                                const char *config_wrapped, long *history_lines, char **entity_out);
/* {"k": v} -> {"k": {"value": v}} as a JSON string (heap); NULL on a parse error. */
char *dml_wandb_wrap_config(const char *config_json);
/* POST .../file_stream with body; DML_OK when the server accepted it. */
dml_status dml_wandb_file_stream(struct dml_wandb_client *c, const char *entity, const char *project,
                                 const char *run_id, const char *body);
/* File-stream body: history lines [first, first+n) at offset, optional summary line, optional completion. */
char *dml_wandb_stream_body(char *const *lines, size_t n, long offset, const char *summary, int complete,
                            int exit_code);
/* Atomic small-file write (tmp + rename). */
dml_status dml_wandb_write_file(const char *path, const char *text);
char *dml_wandb_read_file(const char *path, size_t *len);
#endif
