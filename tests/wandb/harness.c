/* harness.c — see harness.h. Every wait has a timeout, so a hung child fails the test instead of hanging it. */
#include "tests/wandb/harness.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/progress.h"

int fake_start(struct fake *f, const char *server_bin, const char *const *args) {
  memset(f, 0, sizeof *f);
  int out[2], in[2];
  if (pipe(out) || pipe(in)) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(in[0], 0);
    close(out[0]);
    close(in[1]);
    const char *av[32] = {server_bin};
    int n = 1;
    for (int i = 0; args && args[i] && n < 31; i++) av[n++] = args[i];
    av[n] = NULL;
    execv(server_bin, (char *const *)av);
    _exit(127);
  }
  close(out[1]);
  close(in[0]);
  f->pid = pid;
  f->stdin_fd = in[1];
  char buf[128] = {0};
  size_t n = 0;
  double t0 = dml_now();
  while (!strchr(buf, '\n') && dml_now() - t0 < 20 && n < sizeof buf - 1) {
    struct pollfd p = {out[0], POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t r = read(out[0], buf + n, sizeof buf - 1 - n);
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(out[0]);
  if (sscanf(buf, "PORT %d", &f->port) != 1) {
    fprintf(stderr, "harness: the fake server did not start (%s)\n", buf);
    fake_stop(f);
    return -1;
  }
  snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->port);
  setenv("WANDB_BASE_URL", f->url, 1);
  return 0;
}

void fake_stop(struct fake *f) {
  if (f->stdin_fd > 0) close(f->stdin_fd);
  f->stdin_fd = -1;
  if (f->pid <= 0) return;
  double t0 = dml_now();
  while (dml_now() - t0 < 5) {
    if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
      f->pid = 0;
      return;
    }
    usleep(10000);
  }
  kill(f->pid, SIGKILL);
  waitpid(f->pid, NULL, 0);
  f->pid = 0;
}

static size_t collect(char *p, size_t s, size_t n, void *ud) {
  char **b = ud;
  size_t old = *b ? strlen(*b) : 0;
  *b = xrealloc(*b, old + s * n + 1);
  memcpy(*b + old, p, s * n);
  (*b)[old + s * n] = 0;
  return s * n;
}

char *fake_control(const struct fake *f, const char *json) {
  CURL *c = curl_easy_init();
  char *url = dml_strfmt("%s/_control", f->url), *ans = NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  free(url);
  if (rc != CURLE_OK) {
    free(ans);
    return NULL;
  }
  return ans;
}

static char *slurp_fd(int fd) {
  lseek(fd, 0, SEEK_SET);
  size_t cap = 4096, n = 0;
  char *b = xmalloc(cap);
  ssize_t r;
  while ((r = read(fd, b + n, cap - n - 1)) > 0) {
    n += (size_t)r;
    if (cap - n < 2) b = xrealloc(b, cap *= 2);
  }
  b[n] = 0;
  return b;
}

int run_prog(char *const *argv, double timeout_s, char **out, char **err) {
  char to[] = "/tmp/dml-wandb-outXXXXXX", te[] = "/tmp/dml-wandb-errXXXXXX";
  int fo = mkstemp(to), fe = mkstemp(te);
  if (fo < 0 || fe < 0) return -1;
  unlink(to);
  unlink(te);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(fo, 1);
    dup2(fe, 2);
    int dn = open("/dev/null", O_RDONLY);
    if (dn >= 0) dup2(dn, 0);
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0, done = 0;
  double t0 = dml_now();
  while (dml_now() - t0 < timeout_s) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      done = 1;
      break;
    }
    usleep(5000);
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fprintf(stderr, "harness: %s ran past %.0f s and was killed\n", argv[0], timeout_s);
  }
  char *o = slurp_fd(fo), *e = slurp_fd(fe);
  close(fo);
  close(fe);
  if (out) *out = o;
  else free(o);
  if (err) *err = e;
  else free(e);
  if (!done) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int scan(const char *dir, const char *needle, int *n_files) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int hits = 0;
  struct dirent *e;
  size_t nl = strlen(needle);
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *p = dml_strfmt("%s/%s", dir, e->d_name);
    struct stat sb;
    if (!lstat(p, &sb)) {
      if (S_ISDIR(sb.st_mode)) {
        hits += scan(p, needle, n_files);
      } else if (S_ISREG(sb.st_mode)) {
        (*n_files)++;
        FILE *f = fopen(p, "rb");
        char *b = f ? xmalloc((size_t)sb.st_size + 1) : NULL;
        size_t n = f ? fread(b, 1, (size_t)sb.st_size, f) : 0;
        if (f) fclose(f);
        if (b && nl <= n) {
          for (size_t i = 0; i + nl <= n; i++)
            if (!memcmp(b + i, needle, nl)) {
              fprintf(stderr, "harness: %s contains the key\n", p);
              hits++;
              break;
            }
        }
        free(b);
      }
    }
    free(p);
  }
  closedir(d);
  return hits;
}

int files_containing(const char *dir, const char *needle, int *n_files) {
  *n_files = 0;
  return scan(dir, needle, n_files);
}
