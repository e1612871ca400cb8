/* local — the local executor: the runs a policy wants, `jobs` at a time, each with --kernels ncpu/jobs so the
 * study never oversubscribes the cores; one event line per start and end, and a progress line (done / running /
 * failed, ETA) on stderr. SIGINT/SIGTERM reach every running dml-train (each stops after its step and leaves
 * its record interrupted, to be resumed with --resume); no new run starts after one. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/sweep/sweep-impl.h"
#include "common/progress.h"

static volatile sig_atomic_t local_stop;
static void on_stop(int sig) { local_stop = sig; }

static void fmt_dur(double s, char *out, size_t cap) {
  if (!(s >= 0) || s > 1e7) {
    snprintf(out, cap, "?");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

struct slot { pid_t pid; size_t run; double t0; };

long dml_sweep_local(const struct dml_sweep *s, const struct dml_sweep_policy *p, int jobs, int ncpu) {
  dml_status st = sweep_mkdirs(s);
  if (st) return -1;
  char *lp = dml_sweep_path(s, "local.lock");
  int lock = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB)) {
    dml_error(DML_ERR_STATE, "another dml-sweep is running the study in %s (%s is locked)", s->save_path, lp);
    free(lp);
    if (lock >= 0) close(lock);
    return -1;
  }
  free(lp);
  if ((st = dml_sweep_write_manifest(s))) {
    close(lock);
    return -1;
  }
  if (ncpu < 1) ncpu = 1;
  if (jobs < 1) jobs = 1;
  if (jobs > ncpu) {
    fprintf(stderr, "dml-sweep: --jobs %d > %d cores: running %d at a time\n", jobs, ncpu, ncpu);
    jobs = ncpu;
  }
  int kernels = ncpu / jobs;
  char *train = dml_sweep_sibling("dml-train");

  size_t *todo = xmalloc((s->n + 1) * sizeof *todo), n_todo = 0, n_done_before = 0, n_skipped = 0;
  for (size_t i = 0; i < s->n; i++) {
    struct dml_sweep_state rs;
    const char *why;
    dml_sweep_state_of(s, i, &rs);
    if (dml_sweep_wanted(&rs, p, &why)) todo[n_todo++] = i;
    else if (rs.kind == DML_SWEEP_FINISHED) n_done_before++;
    else {
      n_skipped++;
      printf("== skip %zu %s: %s\n", i, s->runs[i].name, why);
    }
  }
  printf("== dml-sweep: %zu runs in the study: %zu to run, %zu finished already, %zu skipped; %d at a time with "
         "--kernels %d (%d cores)\n", s->n, n_todo, n_done_before, n_skipped, jobs, kernels, ncpu);
  fflush(stdout);

  local_stop = 0;
  struct sigaction sa = {0}, oi, ot;
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, &oi);
  sigaction(SIGTERM, &sa, &ot);
  struct slot *slots = xcalloc((size_t)jobs, sizeof *slots);
  size_t next = 0, n_ok = 0, n_fail = 0, running = 0;
  double t_start = dml_now(), t_draw = 0;
  int tty = isatty(2) && !(getenv("DML_PROGRESS") && !strcmp(getenv("DML_PROGRESS"), "plain"));
  int quiet = getenv("DML_PROGRESS") && !strcmp(getenv("DML_PROGRESS"), "0");
  int forwarded = 0;
  while (next < n_todo || running) {
    while (!local_stop && running < (size_t)jobs && next < n_todo) {
      int k = 0;
      while (slots[k].pid) k++;
      size_t i = todo[next++];
      fflush(stdout);
      fflush(stderr);
      pid_t pid = fork();
      if (pid < 0) {
        fprintf(stderr, "dml-sweep: fork: %s\n", strerror(errno));
        n_fail++;
        continue;
      }
      if (pid == 0) {
        sigaction(SIGINT, &oi, NULL);
        sigaction(SIGTERM, &ot, NULL);
        _exit(dml_sweep_exec_run(s, i, train, kernels));
      }
      slots[k] = (struct slot){pid, i, dml_now()};
      running++;
      printf("== start  %zu %s\n", i, s->runs[i].name);
      fflush(stdout);
    }
    if (local_stop && !forwarded) {
      for (int k = 0; k < jobs; k++)
        if (slots[k].pid) kill(slots[k].pid, SIGTERM);
      forwarded = 1;
      fprintf(stderr, "\ndml-sweep: stopping: each running dml-train ends after its current step (resume with --resume)\n");
    }
    if (local_stop) next = n_todo; /* start nothing more */
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == ECHILD) break;
    if (pid > 0) {
      int k = 0;
      while (k < jobs && slots[k].pid != pid) k++;
      if (k == jobs) continue;
      int rc = sweep_wstatus(status);
      size_t i = slots[k].run;
      double dt = dml_now() - slots[k].t0;
      if (rc != 75) sweep_write_exit(s, i, rc);
      struct dml_sweep_state rs;
      dml_sweep_state_of(s, i, &rs);
      char d[32], r1[32] = "";
      fmt_dur(dt, d, sizeof d);
      if (!isnan(rs.r1)) snprintf(r1, sizeof r1, ", test R@1 %.4f", rs.r1);
      if (rc == 0 && rs.kind == DML_SWEEP_FINISHED) n_ok++;
      else n_fail++;
      if (tty && !quiet) fprintf(stderr, "\r\033[K");
      const char *what = rc == 0 && rs.kind == DML_SWEEP_FINISHED ? "done" : rs.kind == DML_SWEEP_INTERRUPTED ? "stop"
                                                                                                         : "FAILED";
      printf("== %-6s %zu %s (%s, exit %d%s)\n", what, i, s->runs[i].name, d, rc, r1);
      if (rc && rc != 130) {
        char *log = dml_sweep_log_path(s, i);
        printf("         log %s\n", log);
        free(log);
      }
      fflush(stdout);
      slots[k].pid = 0;
      running--;
      t_draw = 0;
    }
    double now = dml_now();
    if (!quiet && (pid > 0 || now - t_draw >= (tty ? 1.0 : 30.0))) {
      size_t done = n_ok + n_fail;
      /* the running runs count by their committed epochs: an ETA before the first run ends */
      double part = 0;
      for (int k = 0; k < jobs; k++) {
        if (!slots[k].pid) continue;
        struct dml_sweep_state rs;
        dml_sweep_state_of(s, slots[k].run, &rs);
        if (rs.n_epochs > 0 && rs.epochs > 0) part += (double)rs.epochs / (double)rs.n_epochs;
      }
      char eta[32] = "?", el[32];
      double frac = n_todo ? ((double)done + part) / (double)n_todo : 1;
      if (frac > 0 && now > t_start) fmt_dur((now - t_start) * (1 - frac) / frac, eta, sizeof eta);
      fmt_dur(now - t_start, el, sizeof el);
      fprintf(stderr, "%ssweep: %zu/%zu done, %zu running, %zu failed, %s elapsed, ETA %s%s", tty ? "\r\033[K" : "", done,
              n_todo, running, n_fail, el, eta, tty ? "" : "\n");
      t_draw = now;
    }
    if (pid <= 0) nanosleep(&(struct timespec){0, 100000000}, NULL);
  }
  if (tty && !quiet) fprintf(stderr, "\n");
  sigaction(SIGINT, &oi, NULL);
  sigaction(SIGTERM, &ot, NULL);
  free(slots);
  free(todo);
  free(train);
  close(lock);
  size_t not_finished = 0;
  for (size_t i = 0; i < s->n; i++) {
    struct dml_sweep_state rs;
    dml_sweep_state_of(s, i, &rs);
    if (rs.kind != DML_SWEEP_FINISHED) not_finished++;
  }
  printf("== dml-sweep: %zu of %zu runs finished", s->n - not_finished, s->n);
  if (not_finished) printf("; %zu not (dml-sweep status %s)", not_finished, s->save_path);
  printf("\n");
  if (local_stop) {
    dml_error(DML_ERR_INTERRUPTED, "stopped by signal %d; resume with dml-sweep run ... --resume", (int)local_stop);
    return -1;
  }
  return (long)not_finished;
}
