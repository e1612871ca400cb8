/* proc — processes of a sweep: finding the sibling programs, spawning with a log, and bringing one run to
 * completion (lock, stale folder aside, exec dml-train fresh or with --resume). No shell is ever involved:
 * every program gets its argv directly. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/sweep/sweep-impl.h"

char *dml_sweep_sibling(const char *name) {
  const char *bin = getenv("DML_BIN");
  if (bin && *bin) return dml_strfmt("%s/%s", bin, name);
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return xstrdup(name);
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash) *slash = 0;
  return dml_strfmt("%s/%s", self, name);
}

void sweep_print_word(FILE *f, const char *w) {
  int plain = *w != 0;
  for (const char *c = w; *c && plain; c++)
    plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("@%+=:,./_-", *c);
  if (plain) {
    fputs(w, f);
    return;
  }
  fputc('\'', f);
  for (const char *c = w; *c; c++) {
    if (*c == '\'') fputs("'\\''", f);
    else fputc(*c, f);
  }
  fputc('\'', f);
}

int sweep_wstatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

static int wait_child(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return sweep_wstatus(status);
}

int dml_sweep_spawn_wait(char *const argv[], const char *log) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (log) {
      int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
    }
    execvp(argv[0], argv);
    fprintf(stderr, "dml-sweep: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  return wait_child(pid);
}

int sweep_capture(char *const argv[], char *out, size_t cap) {
  int p[2];
  if (pipe(p)) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    execvp(argv[0], argv);
    fprintf(stderr, "dml-sweep: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  size_t got = 0;
  char sink[4096];
  for (;;) {
    ssize_t r = got + 1 < cap ? read(p[0], out + got, cap - 1 - got) : read(p[0], sink, sizeof sink);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (got + 1 < cap) got += (size_t)r;
  }
  if (cap) out[got] = 0;
  close(p[0]);
  return wait_child(pid);
}

// ---------------------------------------------------------------------------------------------- one run

/* Move a run folder aside into .sweep/attic/<dataset>/<name>.<k>. */
static int to_attic(const struct dml_sweep *s, size_t i, const char *why) {
  const struct dml_sweep_run *r = &s->runs[i];
  struct stat sb;
  if (stat(r->dir, &sb)) return 0;
  char *base = dml_strfmt("%s/.sweep/attic/%s", s->save_path, r->dataset);
  if (mkdir(base, 0777) && errno != EEXIST) {
    fprintf(stderr, "dml-sweep: cannot create %s: %s\n", base, strerror(errno));
    free(base);
    return -1;
  }
  int rc = -1;
  for (int k = 1; k < 100000; k++) {
    char *dst = dml_strfmt("%s/%s.%d", base, r->name, k);
    if (stat(dst, &sb)) {
      rc = rename(r->dir, dst);
      if (rc) fprintf(stderr, "dml-sweep: cannot move %s to %s: %s\n", r->dir, dst, strerror(errno));
      else printf("== dml-sweep: %s: moved %s to %s\n", why, r->dir, dst);
      free(dst);
      break;
    }
    free(dst);
  }
  free(base);
  return rc;
}

int dml_sweep_exec_run(const struct dml_sweep *s, size_t i, const char *dml_train, int kernels) {
  const struct dml_sweep_run *r = &s->runs[i];
  if (sweep_mkdirs(s)) {
    fprintf(stderr, "dml-sweep: %s\n", dml_error_message());
    return 127;
  }
  char *lp = sweep_lock_path(s, i);
  int lock = open(lp, O_RDWR | O_CREAT, 0666); /* no O_CLOEXEC: dml-train inherits and holds it while it lives */
  free(lp);
  int got = 0;
  for (int t = 0; lock >= 0 && t < 50 && !got; t++) { /* a status probe holds it for microseconds */
    got = !flock(lock, LOCK_EX | LOCK_NB);
    if (!got && errno != EWOULDBLOCK) { /* a file system without flock: run unlocked, and say so */
      fprintf(stderr, "dml-sweep: warning: cannot lock run %zu (%s): %s; running it unlocked\n", i, r->name,
              strerror(errno));
      got = 1;
    }
    if (!got) nanosleep(&(struct timespec){0, 100000000}, NULL);
  }
  if (!got) {
    fprintf(stderr, "dml-sweep: run %zu (%s) is held by another process\n", i, r->name);
    return 75;
  }
  struct dml_sweep_state st;
  sweep_state_of(s, i, 0, &st);
  int resume = 0;
  switch (st.kind) {
    case DML_SWEEP_FINISHED:
      printf("== dml-sweep: run %zu (%s) is already finished\n", i, r->name);
      return 0;
    case DML_SWEEP_MISSING:
      if (to_attic(s, i, "a folder without a record")) return 127;
      break;
    case DML_SWEEP_FAILED:
      if (to_attic(s, i, "retrying a failed run")) return 127;
      break;
    case DML_SWEEP_RUNNING: /* we hold the lock: whoever wrote "running" is gone */
    case DML_SWEEP_INTERRUPTED:
      if (st.epochs > 0) resume = 1;
      else if (to_attic(s, i, "restarting a run stopped before its first epoch")) return 127;
      break;
  }
  char *log = dml_sweep_log_path(s, i);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0) {
    fprintf(stderr, "dml-sweep: cannot open %s: %s\n", log, strerror(errno));
    free(log);
    return 127;
  }
  free(log);
  fflush(stdout);
  dup2(fd, 1);
  dup2(fd, 2);
  char kbuf[32];
  snprintf(kbuf, sizeof kbuf, "%d", kernels);
  char **argv = xcalloc((size_t)r->argc + 8, sizeof *argv);
  int n = 0;
  argv[n++] = (char *)dml_train;
  if (resume) {
    argv[n++] = "--resume";
    argv[n++] = r->dir;
    if (st.kernels != kernels) { /* results do not depend on it; pass it only when it changes */
      argv[n++] = "--kernels";
      argv[n++] = kbuf;
    }
  } else {
    for (int j = 0; j < r->argc; j++) argv[n++] = r->argv[j];
    argv[n++] = "--kernels";
    argv[n++] = kbuf;
  }
  argv[n] = NULL;
  time_t now = time(NULL);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  printf("== dml-sweep %s: %s run %zu (%s), pid %ld:", when, resume ? "resuming" : "starting", i, r->name, (long)getpid());
  for (int j = 0; j < n; j++) {
    putchar(' ');
    sweep_print_word(stdout, argv[j]);
  }
  printf("\n");
  fflush(stdout);
  setenv("OMP_NUM_THREADS", kbuf, 1);
  setenv("OPENBLAS_NUM_THREADS", kbuf, 1);
  if (!getenv("DML_PROGRESS")) setenv("DML_PROGRESS", "plain", 1);
  execv(dml_train, argv);
  fprintf(stderr, "dml-sweep: cannot run %s: %s\n", dml_train, strerror(errno));
  free(argv);
  return 127;
}

static volatile sig_atomic_t forward_to;
static void forward(int sig) {
  if (forward_to > 0) kill((pid_t)forward_to, sig);
}

int sweep_run_one(const struct dml_sweep *s, size_t i, const char *dml_train, int kernels) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) _exit(dml_sweep_exec_run(s, i, dml_train, kernels));
  forward_to = pid;
  struct sigaction sa = {0}, oi, ot;
  sa.sa_handler = forward;
  sigaction(SIGINT, &sa, &oi);
  sigaction(SIGTERM, &sa, &ot);
  int rc = wait_child(pid);
  sigaction(SIGINT, &oi, NULL);
  sigaction(SIGTERM, &ot, NULL);
  forward_to = 0;
  if (rc != 75) sweep_write_exit(s, i, rc);
  return rc;
}
