/* slurm — the Slurm executor and the report step (sweep.h).
 *
 * One `sbatch --array=<indices>` whose task k runs `dml-sweep task <save_path> k` (k = the run's index in the
 * manifest), and one report job `--dependency=afterany:<array>` running `dml-sweep finish <save_path>`: afterany
 * because a plain afterok stays pending forever once one task fails. Both batch scripts are two lines written
 * here with every path single-quoted; sbatch, squeue and scancel get their argv directly (no shell).
 * --wait polls squeue (0.25 s, growing to 2 s) under a hard timeout. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/sweep/sweep-impl.h"
#include "common/progress.h"

/* s as one single-quoted sh word. */
static char *shq(const char *s) {
  size_t n = 3;
  for (const char *c = s; *c; c++) n += *c == '\'' ? 4 : 1;
  char *o = xmalloc(n), *w = o;
  *w++ = '\'';
  for (const char *c = s; *c; c++) {
    if (*c == '\'') {
      memcpy(w, "'\\''", 4);
      w += 4;
    } else *w++ = *c;
  }
  *w++ = '\'';
  *w = 0;
  return o;
}

static dml_status write_script(const char *path, const char *body) {
  char *tmp = dml_strfmt("%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  dml_status st = DML_OK;
  if (!f || fputs(body, f) < 0 || fclose(f) || chmod(tmp, 0755) || rename(tmp, path))
    st = dml_error(DML_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  free(tmp);
  return st;
}

/* "0-4,7,9-10" from sorted indices. */
static char *array_spec(const size_t *v, size_t n) {
  size_t cap = 64, len = 0;
  char *o = xmalloc(cap);
  o[0] = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && v[j + 1] == v[j] + 1) j++;
    char part[64];
    if (j > i) snprintf(part, sizeof part, "%s%zu-%zu", len ? "," : "", v[i], v[j]);
    else snprintf(part, sizeof part, "%s%zu", len ? "," : "", v[i]);
    size_t k = strlen(part);
    if (len + k + 1 > cap) {
      cap = 2 * (len + k + 1);
      o = xrealloc(o, cap);
    }
    memcpy(o + len, part, k + 1);
    len += k;
    i = j + 1;
  }
  return o;
}

/* sbatch --parsable → job id ("123" or "123;cluster"). */
static dml_status submit(char **argv, long *id) {
  char out[4096];
  int rc = sweep_capture(argv, out, sizeof out);
  if (rc == 127 || rc < 0)
    return dml_error(DML_ERR_IO, "cannot run sbatch (install slurm-client, or run on a Slurm login node)");
  char *e;
  *id = strtol(out, &e, 10);
  if (rc || e == out || *id <= 0) return dml_error(DML_ERR_STATE, "sbatch failed (exit %d): %s", rc, out);
  return DML_OK;
}

/* Lines "JOBID STATE" of squeue for these jobs (array tasks count under their array id). Returns squeue's exit. */
static int queued(long a, long b, size_t *n_jobs, char *states, size_t cap) {
  char *argv[] = {"squeue", "-h", "-o", "%F %T", NULL};
  char out[65536];
  int rc = sweep_capture(argv, out, sizeof out);
  *n_jobs = 0;
  if (states && cap) states[0] = 0;
  if (rc) return rc;
  size_t used = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    long id = strtol(line, NULL, 10);
    if (id != a && id != b) continue;
    (*n_jobs)++;
    if (states && used + strlen(line) + 3 < cap) used += (size_t)snprintf(states + used, cap - used, "%s%s", used ? "; " : "", line);
  }
  return 0;
}

static void read_previous(const struct dml_sweep *s, long *a, long *b) {
  *a = *b = 0;
  char *p = dml_sweep_path(s, "slurm.json");
  json_t *o = json_load_file(p, 0, NULL);
  free(p);
  if (!o) return;
  *a = (long)json_integer_value(json_object_get(o, "array"));
  *b = (long)json_integer_value(json_object_get(o, "report"));
  json_decref(o);
}

static void print_file(const char *path, FILE *to) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, to);
  fclose(f);
}

long dml_sweep_slurm(const struct dml_sweep *s, const struct dml_sweep_policy *p, const struct dml_slurm_opts *o) {
  if (sweep_mkdirs(s)) return -1;
  long pa, pb;
  read_previous(s, &pa, &pb);
  if (pa > 0) {
    size_t nj;
    char states[512];
    if (!queued(pa, pb, &nj, states, sizeof states) && nj) {
      dml_error(DML_ERR_STATE, "the previous submission of this study (array %ld, report %ld) is still in the queue (%s): "
                               "wait for it or scancel it", pa, pb, states);
      return -1;
    }
  }
  if (dml_sweep_write_manifest(s)) return -1;
  size_t *todo = xmalloc((s->n + 1) * sizeof *todo), n_todo = 0;
  for (size_t i = 0; i < s->n; i++) {
    struct dml_sweep_state rs;
    const char *why;
    dml_sweep_state_of(s, i, &rs);
    if (dml_sweep_wanted(&rs, p, &why)) todo[n_todo++] = i;
    else if (rs.kind != DML_SWEEP_FINISHED) printf("== skip %zu %s: %s\n", i, s->runs[i].name, why);
  }
  if (!n_todo) {
    free(todo);
    printf("== dml-sweep: nothing to submit (%zu runs; dml-sweep status %s)\n", s->n, s->save_path);
    size_t c[5];
    dml_sweep_print_status(s, stdout, c);
    return (long)(s->n - c[DML_SWEEP_FINISHED]);
  }
  char *self = dml_sweep_sibling("dml-sweep"), *qs = shq(self), *qd = shq(s->save_path);
  char *task = dml_sweep_path(s, "task.sh"), *rep = dml_sweep_path(s, "report.sh");
  char *body = dml_strfmt("#!/bin/sh\n# one run of the study, written by dml-sweep (index = array task id)\n"
                          "exec %s task %s \"$SLURM_ARRAY_TASK_ID\"\n", qs, qd);
  dml_status st = write_script(task, body);
  free(body);
  body = dml_strfmt("#!/bin/sh\n# the study's report, written by dml-sweep (runs after the array, whatever its outcome)\n"
                    "exec %s finish %s%s\n", qs, qd, o->pdf ? "" : " --no-pdf");
  if (!st) st = write_script(rep, body);
  free(body);
  free(qs);
  free(qd);
  char *spec = array_spec(todo, n_todo);
  char *a_array = dml_strfmt("--array=%s", spec), *a_cpus = dml_strfmt("--cpus-per-task=%d", o->cpus_per_task);
  char *a_out = dml_strfmt("--output=%s/.sweep/logs/slurm-%%A_%%a.out", s->save_path);
  char *a_rout = dml_strfmt("--output=%s/.sweep/logs/slurm-report-%%j.out", s->save_path);
  char *a_part = o->partition ? dml_strfmt("--partition=%s", o->partition) : NULL;
  char *a_time = o->time ? dml_strfmt("--time=%s", o->time) : NULL;
  char *a_gres = o->gres ? dml_strfmt("--gres=%s", o->gres) : NULL;
  long aid = 0, rid = 0;
  if (!st) {
    char *argv[16];
    int n = 0;
    argv[n++] = "sbatch";
    argv[n++] = "--parsable";
    argv[n++] = "--job-name=dml-sweep";
    argv[n++] = a_array;
    argv[n++] = a_cpus;
    argv[n++] = a_out;
    if (a_part) argv[n++] = a_part;
    if (a_time) argv[n++] = a_time;
    if (a_gres) argv[n++] = a_gres;
    argv[n++] = task;
    argv[n] = NULL;
    st = submit(argv, &aid);
  }
  char *a_dep = dml_strfmt("--dependency=afterany:%ld", aid);
  if (!st) {
    char *argv[16];
    int n = 0;
    argv[n++] = "sbatch";
    argv[n++] = "--parsable";
    argv[n++] = "--job-name=dml-sweep-report";
    argv[n++] = a_dep;
    argv[n++] = "--cpus-per-task=1";
    argv[n++] = a_rout;
    if (a_part) argv[n++] = a_part;
    if (a_time) argv[n++] = a_time;
    argv[n++] = rep;
    argv[n] = NULL;
    st = submit(argv, &rid);
    if (st) {
      char id[32];
      snprintf(id, sizeof id, "%ld", aid);
      char *cancel[] = {"scancel", id, NULL};
      dml_sweep_spawn_wait(cancel, NULL);
      dml_error_prefix(st, "the report job (array %ld cancelled)", aid);
    }
  }
  if (!st) {
    char *path = dml_sweep_path(s, "slurm.json"), *tmp = dml_strfmt("%s.tmp", path);
    json_t *j = json_object();
    json_object_set_new(j, "array", json_integer(aid));
    json_object_set_new(j, "report", json_integer(rid));
    json_object_set_new(j, "tasks", json_string(spec));
    if (json_dump_file(j, tmp, JSON_INDENT(1)) || rename(tmp, path))
      st = dml_error(DML_ERR_IO, "cannot write %s", path);
    json_decref(j);
    free(path);
    free(tmp);
    printf("== dml-sweep: submitted array job %ld (%zu task%s: %s, %d cpu%s each) and report job %ld (afterany)\n", aid,
           n_todo, n_todo == 1 ? "" : "s", spec, o->cpus_per_task, o->cpus_per_task == 1 ? "" : "s", rid);
    fflush(stdout);
  }
  free(a_array); free(a_cpus); free(a_out); free(a_rout); free(a_part); free(a_time); free(a_gres); free(a_dep);
  free(spec); free(task); free(rep); free(self); free(todo);
  if (st) return -1;
  if (!o->wait) return 0;

  double t0 = dml_now(), delay = 0.25, t_line = 0;
  int bad_polls = 0;
  for (;;) {
    size_t nj;
    char states[1024];
    int rc = queued(aid, rid, &nj, states, sizeof states);
    if (rc) {
      if (++bad_polls > 20) {
        dml_error(DML_ERR_STATE, "squeue keeps failing (exit %d): is slurmctld up?", rc);
        return -1;
      }
    } else {
      bad_polls = 0;
      if (!nj) break;
    }
    double el = dml_now() - t0;
    if (o->wait_timeout > 0 && el > o->wait_timeout) {
      dml_error(DML_ERR_STATE, "--wait: the jobs are still in the queue after %.0f s (%s); they keep running (dml-sweep "
                               "status %s)", el, states, s->save_path);
      return -1;
    }
    if (el - t_line >= 10) {
      fprintf(stderr, "sweep: %.0f s, in the queue: %s\n", el, states);
      t_line = el;
    }
    nanosleep(&(struct timespec){(time_t)delay, (long)((delay - (long)delay) * 1e9)}, NULL);
    if (delay < 2) delay *= 1.25;
  }
  char *out = dml_strfmt("%s/.sweep/logs/slurm-report-%ld.out", s->save_path, rid);
  printf("== report job %ld output (%s):\n", rid, out);
  print_file(out, stdout);
  free(out);
  size_t c[5];
  printf("== dml-sweep status %s\n", s->save_path);
  dml_sweep_print_status(s, stdout, c);
  return (long)(s->n - c[DML_SWEEP_FINISHED]);
}

long dml_sweep_finish(const struct dml_sweep *s, int pdf) {
  size_t c[5];
  dml_sweep_print_status(s, stdout, c);
  char *fp = dml_sweep_path(s, "failed.txt"), *tmp = dml_strfmt("%s.tmp", fp);
  FILE *f = fopen(tmp, "w");
  long not_finished = 0;
  for (size_t i = 0; i < s->n; i++) {
    struct dml_sweep_state rs;
    dml_sweep_state_of(s, i, &rs);
    if (rs.kind == DML_SWEEP_FINISHED) continue;
    not_finished++;
    char *log = dml_sweep_log_path(s, i);
    if (f) fprintf(f, "%zu\t%s\t%s\t%s\t%s\n", i, s->runs[i].name, dml_sweep_state_name(rs.kind), rs.note, log);
    printf("not finished: %zu %s (%s%s%s), log %s\n", i, s->runs[i].name, dml_sweep_state_name(rs.kind), rs.note[0] ? ": " : "",
           rs.note, log);
    free(log);
  }
  if (f && !fclose(f)) rename(tmp, fp);
  free(fp);
  free(tmp);
  if (c[DML_SWEEP_FINISHED] + c[DML_SWEEP_FAILED] + c[DML_SWEEP_INTERRUPTED] == 0) {
    dml_error(DML_ERR_STATE, "no run of the study has a record to aggregate");
    return -1;
  }
  char *agg = dml_sweep_sibling("dml-aggregate"), *report = dml_sweep_sibling("dml-report");
  char *aout = dml_strfmt("%s/aggregate.json", s->save_path), *rout = dml_strfmt("%s/report", s->save_path);
  char *a1[] = {agg, s->save_path, "--out", aout, NULL};
  fflush(stdout);
  int rc = dml_sweep_spawn_wait(a1, NULL);
  int rc2 = 0;
  if (!rc) {
    char *a2[] = {report, s->save_path, "-o", rout, pdf ? NULL : "--no-pdf", NULL};
    rc2 = dml_sweep_spawn_wait(a2, NULL);
  }
  printf("== dml-sweep finish: %zu of %zu runs finished; aggregate %s (exit %d), report %s (exit %d)\n",
         c[DML_SWEEP_FINISHED], s->n, aout, rc, rout, rc2);
  free(agg); free(report); free(aout); free(rout);
  if (rc || rc2) {
    dml_error(DML_ERR_STATE, "%s failed (exit %d)", rc ? "dml-aggregate" : "dml-report", rc ? rc : rc2);
    return -1;
  }
  return not_finished;
}
