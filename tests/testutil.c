/* testutil — see testutil.h. */
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int verbose(void) {
  const char *v = getenv("DML_TEST_VERBOSE");
  return v && *v && *v != '0';
}

int expect_close(const char *name, const double *got, const double *ref, size_t n, double atol, double rtol) {
  double max_abs = 0, max_rel = 0, worst_use = 0;
  size_t worst = 0, bad = 0;
  for (size_t i = 0; i < n; i++) {
    double g = got[i], r = ref[i];
    if (isnan(g) && isnan(r)) continue;
    double err = fabs(g - r);
    double tol = atol + rtol * fabs(r);
    double use = (isnan(err) || isinf(err)) ? INFINITY : err / tol;
    if (!(err <= tol)) bad++;
    if (err > max_abs || isnan(err)) max_abs = err;
    if (fabs(r) > 0 && err / fabs(r) > max_rel) max_rel = err / fabs(r);
    if (use > worst_use || isnan(use)) { worst_use = use; worst = i; }
  }
  if (bad || verbose()) {
    printf("%s %s: n=%zu max_abs=%.3g max_rel=%.3g worst[%zu] uses %.1f%% of tol (atol %.1g, rtol %.1g), %zu bad\n",
           bad ? "FAIL" : "ok  ", name, n, max_abs, max_rel, worst, 100 * worst_use, atol, rtol, bad);
    if (bad) {
      int shown = 0;
      for (size_t i = 0; i < n && shown < 5; i++) {
        double err = fabs(got[i] - ref[i]);
        if (!(err <= atol + rtol * fabs(ref[i])) && !(isnan(got[i]) && isnan(ref[i]))) {
          printf("    [%zu] got %.9g ref %.9g\n", i, got[i], ref[i]);
          shown++;
        }
      }
    }
  }
  return bad ? 1 : 0;
}

int expect_close_f32(const char *name, const float *got, const float *ref, size_t n, double atol, double rtol) {
  double *g = malloc((n ? n : 1) * sizeof *g), *r = malloc((n ? n : 1) * sizeof *r);
  for (size_t i = 0; i < n; i++) { g[i] = got[i]; r[i] = ref[i]; }
  int f = expect_close(name, g, r, n, atol, rtol);
  free(g);
  free(r);
  return f;
}

int expect_scalar(const char *name, double got, double ref, double atol, double rtol) {
  return expect_close(name, &got, &ref, 1, atol, rtol);
}

int expect_true(const char *name, int cond) {
  if (!cond || verbose()) printf("%s %s\n", cond ? "ok  " : "FAIL", name);
  return cond ? 0 : 1;
}

int test_report(const char *test_name, int fails) {
  printf("%s: %s (%d failure%s)\n", test_name, fails ? "FAILED" : "passed", fails, fails == 1 ? "" : "s");
  return fails ? 1 : 0;
}

char *test_tmpdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  size_t len = strlen(base) + strlen(tag) + 32;
  char *p = malloc(len);
  snprintf(p, len, "%s/dml-%s-XXXXXX", base, tag);
  if (!mkdtemp(p)) { perror("mkdtemp"); exit(2); }
  return p;
}

int test_spawn(const char *bin, char *const args[], const char *threads, char *err, size_t cap, int *pid_out,
               int wait_it) {
  int pfd[2];
  if (pipe(pfd)) return -100;
  pid_t pid = fork();
  if (pid == 0) {
    if (threads) {
      setenv("OMP_NUM_THREADS", threads, 1);
      setenv("OPENBLAS_NUM_THREADS", threads, 1);
    }
    setenv("DML_PROGRESS", "0", 1);
    dup2(pfd[1], 2);
    close(pfd[0]);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    char *argv[128];
    int n = 0;
    argv[n++] = (char *)bin;
    for (int i = 0; args[i] && n < 124; i++) argv[n++] = args[i];
    if (threads) {
      argv[n++] = "--kernels";
      argv[n++] = (char *)threads;
    }
    argv[n] = NULL;
    execv(bin, argv);
    _exit(127);
  }
  close(pfd[1]);
  if (pid_out) *pid_out = pid;
  if (!wait_it) {
    close(pfd[0]);
    return 0;
  }
  size_t got = 0;
  ssize_t r;
  while (got + 1 < cap && (r = read(pfd[0], err + got, cap - 1 - got)) > 0) got += (size_t)r;
  err[got] = 0;
  close(pfd[0]);
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}
