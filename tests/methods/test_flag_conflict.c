/* test_flag_conflict — two methods may share a flag only with the same type and default: with a criterion that
 * declares --loss_margin_beta with default 9 (the margin loss: 1.2) registered, building dml-train's table aborts
 * with a message naming the flag (a broken invariant of the method lists, caught before any run). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "train/train.h"

int main(void) {
  int pfd[2];
  if (pipe(pfd)) return 2;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pfd[1], 2);
    close(pfd[0]);
    struct dml_train_opts o;
    struct dml_train_cli tc;
    memset(&o, 0, sizeof o);
    dml_train_cli_init(&tc, &o, NULL, 0);
    _exit(0);
  }
  close(pfd[1]);
  char buf[4096];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof buf - 1 && (r = read(pfd[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
  buf[got] = 0;
  close(pfd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  int f = expect_true("building the table aborts", WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  f += expect_true("naming the flag declared twice",
                   strstr(buf, "--loss_margin_beta is declared twice") && strstr(buf, "--loss conflict"));
  if (f) fprintf(stderr, "child stderr: %s\n", buf);
  return test_report("methods_flag_conflict", f);
}
