/* manifest — the study's bookkeeping in <save_path>/.sweep/ (sweep.h): the manifest (JSON), and each run's
 * state read back from its record (common/runrecord), its lock and its last exit status. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/sweep/sweep.h"
#include "analysis/sweep/sweep-impl.h"
#include "common/runrecord.h"

#define MANIFEST_SCHEMA 1

char *dml_sweep_path(const struct dml_sweep *s, const char *rel) { return dml_strfmt("%s/.sweep/%s", s->save_path, rel); }

char *dml_sweep_log_path(const struct dml_sweep *s, size_t i) {
  return dml_strfmt("%s/.sweep/logs/%zu_%s.log", s->save_path, i, s->runs[i].name);
}

dml_status sweep_mkdirs(const struct dml_sweep *s) {
  static const char *const sub[] = {"", "logs", "locks", "exit", "attic"};
  for (size_t k = 0; k < sizeof sub / sizeof *sub; k++) {
    char *p = dml_sweep_path(s, sub[k]);
    int bad = mkdir(p, 0777) && errno != EEXIST;
    if (bad) {
      dml_status st = dml_error(DML_ERR_IO, "cannot create %s: %s", p, strerror(errno));
      free(p);
      return st;
    }
    free(p);
  }
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- manifest

/* A run whose record exists but whose line changed since the previous manifest would be taken for finished
 * (or resumed) with the old configuration: refuse, naming it. */
static dml_status check_unchanged(const struct dml_sweep *s) {
  struct dml_sweep old;
  if (dml_sweep_read_manifest(&old, s->save_path)) {
    dml_error_clear();
    return DML_OK;
  }
  dml_status st = DML_OK;
  for (size_t i = 0; i < s->n && !st; i++) {
    const struct dml_sweep_run *r = &s->runs[i];
    if (access(r->record, F_OK)) continue;
    for (size_t j = 0; j < old.n; j++) {
      const struct dml_sweep_run *o = &old.runs[j];
      if (strcmp(o->dir, r->dir)) continue;
      int same = o->argc == r->argc;
      for (int k = 0; same && k < r->argc; k++) same = !strcmp(o->argv[k], r->argv[k]);
      if (!same)
        st = dml_error(DML_ERR_STATE, "run %s: its preset line (line %d) changed since its record was made; move %s "
                                      "away or use another --save_path", r->name, r->line, r->dir);
      break;
    }
  }
  dml_sweep_free(&old);
  return st;
}

dml_status dml_sweep_write_manifest(const struct dml_sweep *s) {
  dml_status st = sweep_mkdirs(s);
  if (!st) st = check_unchanged(s);
  if (st) return st;
  json_t *root = json_object(), *runs = json_array();
  json_object_set_new(root, "schema", json_integer(MANIFEST_SCHEMA));
  json_object_set_new(root, "save_path", json_string(s->save_path));
  json_object_set_new(root, "preset", json_string(s->preset ? s->preset : ""));
  for (size_t i = 0; i < s->n; i++) {
    const struct dml_sweep_run *r = &s->runs[i];
    json_t *o = json_object(), *a = json_array();
    for (int j = 0; j < r->argc; j++) json_array_append_new(a, json_string(r->argv[j]));
    json_object_set_new(o, "index", json_integer((json_int_t)i));
    json_object_set_new(o, "line", json_integer(r->line));
    json_object_set_new(o, "dataset", json_string(r->dataset));
    json_object_set_new(o, "group", json_string(r->group));
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "seed", json_integer(r->seed));
    json_object_set_new(o, "dir", json_string(r->dir));
    json_object_set_new(o, "record", json_string(r->record));
    json_object_set_new(o, "argv", a);
    json_array_append_new(runs, o);
  }
  json_object_set_new(root, "runs", runs);
  char *path = dml_sweep_path(s, "manifest.json"), *tmp = dml_strfmt("%s.tmp", path);
  if (json_dump_file(root, tmp, JSON_INDENT(1)) || rename(tmp, path))
    st = dml_error(DML_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  json_decref(root);
  free(path);
  free(tmp);
  return st;
}

static char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

dml_status dml_sweep_read_manifest(struct dml_sweep *s, const char *dir) {
  memset(s, 0, sizeof *s);
  char *path = dml_strfmt("%s/.sweep/manifest.json", dir);
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) {
    dml_status st = access(path, F_OK) ? dml_error(DML_ERR_IO, "%s is not a sweep folder (no %s)", dir, path)
                                       : dml_error(DML_ERR_FORMAT, "%s: %s (line %d)", path, je.text, je.line);
    free(path);
    return st;
  }
  dml_status st = DML_OK;
  json_t *runs = json_object_get(root, "runs");
  json_t *schema = json_object_get(root, "schema");
  s->save_path = jstr(root, "save_path");
  s->preset = jstr(root, "preset");
  if (!json_is_integer(schema) || json_integer_value(schema) != MANIFEST_SCHEMA || !json_is_array(runs) || !s->save_path)
    st = dml_error(DML_ERR_FORMAT, "%s: not a dml-sweep manifest of schema %d", path, MANIFEST_SCHEMA);
  for (size_t i = 0; !st && i < json_array_size(runs); i++) {
    json_t *o = json_array_get(runs, i), *a = json_object_get(o, "argv");
    struct dml_sweep_run r = {.index = i};
    r.dataset = jstr(o, "dataset");
    r.group = jstr(o, "group");
    r.name = jstr(o, "name");
    r.dir = jstr(o, "dir");
    r.record = jstr(o, "record");
    r.seed = (long)json_integer_value(json_object_get(o, "seed"));
    r.line = (int)json_integer_value(json_object_get(o, "line"));
    int ok = r.dataset && r.group && r.name && r.dir && r.record && json_is_array(a);
    if (ok) {
      r.argc = (int)json_array_size(a);
      r.argv = xcalloc((size_t)r.argc + 1, sizeof *r.argv);
      for (int j = 0; j < r.argc; j++) {
        json_t *w = json_array_get(a, (size_t)j);
        r.argv[j] = xstrdup(json_is_string(w) ? json_string_value(w) : "");
        ok &= json_is_string(w);
      }
    }
    s->runs = xrealloc(s->runs, (s->n + 1) * sizeof *s->runs);
    s->runs[s->n++] = r;
    if (!ok) st = dml_error(DML_ERR_FORMAT, "%s: run %zu is incomplete", path, i);
  }
  json_decref(root);
  free(path);
  if (st) {
    dml_sweep_free(s);
    return st;
  }
  /* a study moved or copied elsewhere: re-root every path at the folder given */
  char real[PATH_MAX];
  if (realpath(dir, real) && strcmp(real, s->save_path)) {
    size_t k = strlen(s->save_path);
    for (size_t i = 0; i < s->n; i++) {
      struct dml_sweep_run *r = &s->runs[i];
      char **fix[] = {&r->dir, &r->record};
      for (int f = 0; f < 2; f++)
        if (!strncmp(*fix[f], s->save_path, k) && (*fix[f])[k] == '/') {
          char *n = dml_strfmt("%s%s", real, *fix[f] + k);
          free(*fix[f]);
          *fix[f] = n;
        }
      for (int j = 1; j < r->argc; j++)
        if (!strcmp(r->argv[j - 1], "--save_path") && !strcmp(r->argv[j], s->save_path)) {
          free(r->argv[j]);
          r->argv[j] = xstrdup(real);
        }
    }
    free(s->save_path);
    s->save_path = xstrdup(real);
  }
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- state

const char *dml_sweep_state_name(enum dml_sweep_state_kind k) {
  static const char *const n[] = {"missing", "running", "interrupted", "failed", "finished"};
  return k <= DML_SWEEP_FINISHED ? n[k] : "?";
}

char *sweep_lock_path(const struct dml_sweep *s, size_t i) { return dml_strfmt("%s/.sweep/locks/%zu.lock", s->save_path, i); }

/* Is the run's lock held by a living process? */
static int lock_held(const struct dml_sweep *s, size_t i) {
  char *p = sweep_lock_path(s, i);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  free(p);
  if (fd < 0) return 0;
  int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

int sweep_read_exit(const struct dml_sweep *s, size_t i) {
  char *p = dml_strfmt("%s/.sweep/exit/%zu", s->save_path, i);
  FILE *f = fopen(p, "r");
  free(p);
  int rc = -1;
  if (f) {
    if (fscanf(f, "%d", &rc) != 1) rc = -1;
    fclose(f);
  }
  return rc;
}

void sweep_write_exit(const struct dml_sweep *s, size_t i, int rc) {
  char *p = dml_strfmt("%s/.sweep/exit/%zu", s->save_path, i), *tmp = dml_strfmt("%s.tmp", p);
  FILE *f = fopen(tmp, "w");
  if (f) {
    fprintf(f, "%d\n", rc);
    if (!fclose(f)) rename(tmp, p);
  }
  free(p);
  free(tmp);
}

static long config_long(const char *config, const char *key) {
  if (!config) return -1;
  json_t *o = json_loads(config, 0, NULL);
  json_t *v = json_object_get(o, key);
  long r = json_is_integer(v) ? (long)json_integer_value(v) : json_is_real(v) ? (long)json_real_value(v) : -1;
  json_decref(o);
  return r;
}

void sweep_state_of(const struct dml_sweep *s, size_t i, int probe_lock, struct dml_sweep_state *out) {
  memset(out, 0, sizeof *out);
  out->n_epochs = out->kernels = -1;
  out->r1 = NAN;
  out->exit_code = sweep_read_exit(s, i);
  const struct dml_sweep_run *r = &s->runs[i];
  if (access(r->record, F_OK)) {
    out->kind = DML_SWEEP_MISSING;
    if (probe_lock && lock_held(s, i)) {
      out->kind = DML_SWEEP_RUNNING;
      snprintf(out->note, sizeof out->note, "starting");
    } else if (out->exit_code > 0 && out->exit_code != 75) {
      out->kind = DML_SWEEP_FAILED;
      snprintf(out->note, sizeof out->note, "exit %d before a record was written (see its log)", out->exit_code);
    }
    return;
  }
  struct dml_run run = {0};
  dml_status st = dml_runrecord_read(r->record, &run);
  if (st) {
    out->kind = DML_SWEEP_FAILED;
    snprintf(out->note, sizeof out->note, "record unreadable: %s", dml_error_message());
    dml_error_clear();
    return;
  }
  const char *status = run.meta.status ? run.meta.status : "";
  out->epochs = (long)run.n_train;
  out->n_epochs = config_long(run.meta.config_json, "n_epochs");
  out->kernels = config_long(run.meta.config_json, "kernels");
  const struct dml_series *se = dml_run_series(&run, "test", "e_recall@1");
  for (size_t k = se ? se->n : 0; k-- > 0;)
    if (!isnan(se->value[k])) {
      out->r1 = se->value[k];
      break;
    }
  if (!strcmp(status, "finished")) out->kind = DML_SWEEP_FINISHED;
  else if (!strcmp(status, "failed")) out->kind = DML_SWEEP_FAILED;
  else if (!strcmp(status, "interrupted")) out->kind = DML_SWEEP_INTERRUPTED;
  else if (!strcmp(status, "running")) {
    if (!probe_lock || lock_held(s, i)) out->kind = DML_SWEEP_RUNNING;
    else {
      out->kind = DML_SWEEP_INTERRUPTED;
      out->killed = 1;
      snprintf(out->note, sizeof out->note, "killed (the record says running, no process holds it)");
    }
  } else {
    out->kind = DML_SWEEP_FAILED;
    snprintf(out->note, sizeof out->note, "unknown record status '%s'", status);
  }
  if (out->kind == DML_SWEEP_FAILED && !out->note[0])
    snprintf(out->note, sizeof out->note, "dml-train failed%s", out->exit_code > 0 ? " (see its log)" : "");
  dml_run_free(&run);
}

void dml_sweep_state_of(const struct dml_sweep *s, size_t i, struct dml_sweep_state *out) { sweep_state_of(s, i, 1, out); }

void dml_sweep_print_status(const struct dml_sweep *s, FILE *f, size_t counts[5]) {
  size_t c[5] = {0}, w = 3;
  for (size_t i = 0; i < s->n; i++)
    if (strlen(s->runs[i].name) > w) w = strlen(s->runs[i].name);
  if (w > 60) w = 60;
  fprintf(f, "%5s  %-*s  %-11s  %7s  %8s  %s\n", "#", (int)w, "run", "state", "epochs", "test R@1", "note");
  for (size_t i = 0; i < s->n; i++) {
    struct dml_sweep_state st;
    dml_sweep_state_of(s, i, &st);
    c[st.kind]++;
    char ep[32] = "-", r1[32] = "-";
    if (st.kind != DML_SWEEP_MISSING && (st.epochs > 0 || st.n_epochs > 0)) {
      if (st.n_epochs >= 0) snprintf(ep, sizeof ep, "%ld/%ld", st.epochs, st.n_epochs);
      else snprintf(ep, sizeof ep, "%ld", st.epochs);
    }
    if (!isnan(st.r1)) snprintf(r1, sizeof r1, "%.4f", st.r1);
    fprintf(f, "%5zu  %-*.*s  %-11s  %7s  %8s  %s\n", i, (int)w, (int)w, s->runs[i].name, dml_sweep_state_name(st.kind),
            ep, r1, st.note);
  }
  fprintf(f, "%zu runs: %zu finished, %zu running, %zu interrupted, %zu failed, %zu missing\n", s->n,
          c[DML_SWEEP_FINISHED], c[DML_SWEEP_RUNNING], c[DML_SWEEP_INTERRUPTED], c[DML_SWEEP_FAILED], c[DML_SWEEP_MISSING]);
  if (counts) memcpy(counts, c, sizeof c);
}

int dml_sweep_wanted(const struct dml_sweep_state *st, const struct dml_sweep_policy *p, const char **why) {
  switch (st->kind) {
    case DML_SWEEP_FINISHED: *why = "finished"; return 0;
    case DML_SWEEP_RUNNING: *why = "running elsewhere"; return 0;
    case DML_SWEEP_MISSING: *why = "new"; return 1;
    case DML_SWEEP_INTERRUPTED:
      *why = p->resume ? (st->epochs ? "resume" : "restart (no complete epoch)") : "interrupted (give --resume)";
      return p->resume;
    case DML_SWEEP_FAILED: *why = p->retry_failed ? "retry" : "failed (give --retry-failed)"; return p->retry_failed;
  }
  return 0;
}
