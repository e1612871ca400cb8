/* sync.c — dml-sync: upload what the online logger could not deliver (notes D.5 "Resume").
 *
 * Reads <run_dir>/wandb-run.json (the run's identity, lines already delivered, the final summary) and
 * <run_dir>/wandb-pending.jsonl (undelivered rows). Creates or resumes the run with the same run id
 * (UpsertBucket → the server's historyLineCount H), skips the H − sent_lines pending rows the server already
 * got (a sync or logger cut off after the server accepted a batch), sends the rest in _step order at offsets
 * H, H+1, ..., updating sent_lines after every batch (so an interrupted sync resumes), then the summary and
 * the completion; finally removes the pending file.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/wandb/wandb-impl.h"

struct prow { long step; size_t order; char *line; };

static int cmp_row(const void *a, const void *b) {
  const struct prow *x = a, *y = b;
  if (x->step != y->step) return x->step < y->step ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static dml_status save(const char *path, json_t *state) {
  char *s = json_dumps(state, JSON_INDENT(2));
  dml_status st = dml_wandb_write_file(path, s);
  free(s);
  return st;
}

dml_status dml_wandb_sync(const char *run_dir, size_t *sent, FILE *log) {
  if (sent) *sent = 0;
  char *state_path = dml_strfmt("%s/wandb-run.json", run_dir);
  char *pending_path = dml_strfmt("%s/wandb-pending.jsonl", run_dir);
  dml_status st = DML_OK;
  struct prow *rows = NULL;
  size_t n = 0, cap = 0;
  json_t *state = NULL;
  char *entity = NULL, *text = NULL, *ptext = NULL;
  struct dml_wandb_client c = {0};
  int have_client = 0;

  text = dml_wandb_read_file(state_path, NULL);
  if (!text) {
    st = dml_error(DML_ERR_IO, "%s has no wandb-run.json (was it trained with --log_online?)", run_dir);
    goto done;
  }
  json_error_t err;
  state = json_loads(text, 0, &err);
  const char *project = json_string_value(json_object_get(state, "project"));
  const char *run_id = json_string_value(json_object_get(state, "run_id"));
  if (!json_is_object(state) || !project || !run_id) {
    st = dml_error(DML_ERR_FORMAT, "%s is not a dml W&B run state (%s)", state_path, state ? "fields missing" : err.text);
    goto done;
  }
  long sent_lines = (long)json_integer_value(json_object_get(state, "sent_lines"));
  ptext = dml_wandb_read_file(pending_path, NULL);
  if (ptext) {
    char *save_p = NULL;
    for (char *line = strtok_r(ptext, "\n", &save_p); line; line = strtok_r(NULL, "\n", &save_p)) {
      if (!*line) continue;
      json_t *j = dml_wj_loads(line, NULL);
      json_t *s = json_object_get(j, "_step");
      if (!json_is_integer(s)) {
        json_decref(j);
        if (log) fprintf(log, "dml-sync: skipping a malformed pending row\n");
        continue;
      }
      if (n == cap) rows = xrealloc(rows, (cap = cap ? 2 * cap : 64) * sizeof *rows);
      rows[n] = (struct prow){(long)json_integer_value(s), n, line};
      n++;
      json_decref(j);
    }
    qsort(rows, n, sizeof *rows, cmp_row);
  }
  int complete_sent = json_is_true(json_object_get(state, "complete_sent"));
  if (n == 0 && complete_sent) {
    if (log) fprintf(log, "dml-sync: %s: nothing to upload\n", run_dir);
    goto done;
  }
  if ((st = dml_wandb_client_init(&c))) goto done;
  have_client = 1;
  const char *ent0 = json_string_value(json_object_get(state, "entity"));
  long h = 0;
  char *ent_out = NULL;
  if (ent0) entity = xstrdup(ent0);
  else if ((st = dml_wandb_viewer_entity(&c, &entity))) goto done;
  const char *cfg = json_string_value(json_object_get(state, "config"));
  st = dml_wandb_upsert_run(&c, entity, project, run_id, json_string_value(json_object_get(state, "group")),
                            json_string_value(json_object_get(state, "display_name")), cfg, &h, &ent_out);
  if (st) goto done;
  if (ent_out) {
    free(entity);
    entity = ent_out;
    json_object_set_new(state, "entity", json_string(entity));
  }
  /* pending rows already delivered: counted by earlier syncs (pending_sent), plus lines the server got
     without our state being updated (a cut after the server accepted a batch) */
  long pending_sent = (long)json_integer_value(json_object_get(state, "pending_sent"));
  size_t skip = (size_t)(pending_sent > 0 ? pending_sent : 0) + (h > sent_lines ? (size_t)(h - sent_lines) : 0);
  if (skip > n) skip = n;
  if (log && skip) fprintf(log, "dml-sync: %zu of the pending rows were already delivered\n", skip);
  long offset = h;
  const char *summary = json_string_value(json_object_get(state, "summary"));
  int exit_code = (int)json_integer_value(json_object_get(state, "exit_code"));
  int finished = json_is_true(json_object_get(state, "finished"));
  size_t i = skip;
  do {
    size_t b = n - i < 100 ? n - i : 100;
    char *lines[100];
    for (size_t k = 0; k < b; k++) lines[k] = rows[i + k].line;
    int last = i + b == n;
    char *body = dml_wandb_stream_body(lines, b, offset, last ? summary : NULL, last && finished, exit_code);
    st = dml_wandb_file_stream(&c, entity, project, run_id, body);
    free(body);
    if (st) goto done;
    offset += (long)b;
    i += b;
    if (sent) *sent += b;
    json_object_set_new(state, "sent_lines", json_integer(offset));
    json_object_set_new(state, "pending_sent", json_integer((json_int_t)i));
    if (last && finished) json_object_set_new(state, "complete_sent", json_true());
    if ((st = save(state_path, state))) goto done;
  } while (i < n);
  if (n && unlink(pending_path)) {
    st = dml_error(DML_ERR_IO, "uploaded, but cannot remove %s", pending_path);
    goto done;
  }
  json_object_set_new(state, "pending_sent", json_integer(0));
  if ((st = save(state_path, state))) goto done;
  if (log) fprintf(log, "dml-sync: %s: sent %zu rows to %s/%s/%s\n", run_dir, n - skip, entity, project, run_id);
done:
  if (have_client) dml_wandb_client_free(&c);
  free(rows);
  free(ptext);
  free(text);
  free(entity);
  json_decref(state);
  free(state_path);
  free(pending_path);
  return st;
}
