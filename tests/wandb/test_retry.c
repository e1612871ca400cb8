/* wandb_retry: dml-fetch through every fault the fake server can inject — 429 with Retry-After (honoured:
 * the wait is the server's, not the 50 ms test backoff), 500, a dropped connection, malformed JSON, a slow
 * answer past the HTTP timeout — each must end in a complete fetch; 500 forever must give up after the
 * attempt limit; 401 (fault, wrong key) must not be retried and must say where the key was looked for
 * without printing it; the key must also be found through $NETRC, and its absence reported.
 * argv: fake server, dml-fetch, dml-sync. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/progress.h"
#include "tests/testutil.h"
#include "tests/wandb/harness.h"

#define KEY "retrytestkey_0123456789abcdefghijklmnopqrstuvw"

static long stat_of(const struct fake *f, const char *name) {
  char *a = fake_control(f, "{\"stats\": true}");
  char *pat = dml_strfmt("\"%s\":", name);
  const char *p = a ? strstr(a, pat) : NULL;
  long v = p ? atol(p + strlen(pat)) : -1;
  free(pat);
  free(a);
  return v;
}

static void control(const struct fake *f, const char *json) { free(fake_control(f, json)); }

struct outcome { int rc; long requests, faults; double seconds; char *err; };

static struct outcome fetch(const struct fake *f, char *prog, const char *out) {
  struct outcome o;
  long r0 = stat_of(f, "requests"), f0 = stat_of(f, "faults");
  char *argv[] = {prog, "ent/proj", "--out", (char *)out, "--per_page", "1", "--jobs", "1", "--full", NULL};
  double t0 = dml_now();
  char *so = NULL;
  o.rc = run_prog(argv, 90, &so, &o.err);
  o.seconds = dml_now() - t0;
  o.requests = stat_of(f, "requests") - r0;
  o.faults = stat_of(f, "faults") - f0;
  fprintf(stderr, "  rc %d, %ld requests, %ld faults, %.2f s\n  %s  %s", o.rc, o.requests, o.faults, o.seconds, so, o.err);
  free(so);
  return o;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int fails = 0;
  setenv("WANDB_API_KEY", KEY, 1);
  setenv("DML_WANDB_BACKOFF_S", "0.05", 1);
  setenv("WANDB_HTTP_TIMEOUT", "3", 1); /* short, but far above a loopback answer under load */
  setenv("DML_PROGRESS", "0", 1);
  const char *args[] = {"--auth", "--gen", "ent/proj:2:30", "--max_seconds", "170", NULL};
  struct fake f;
  if (fake_start(&f, argv[1], args)) return test_report("wandb_retry", 1);
  char *dir = test_tmpdir("wandb_retry");
  char *out = dml_strfmt("%s/out", dir);
  struct outcome o;

  fprintf(stderr, "clean fetch\n");
  o = fetch(&f, argv[2], out);
  fails += expect_true("clean: 2 list pages + 2 histories", o.rc == 0 && o.requests == 4 && o.faults == 0);
  free(o.err);

  static const struct { const char *name, *control; long faults; } cases[] = {
      {"429 + Retry-After 0.4", "{\"fail\": \"429\", \"count\": 2, \"retry_after\": 0.4}", 2},
      {"500", "{\"fail\": \"500\", \"count\": 3}", 3},
      {"dropped connection", "{\"fail\": \"drop\", \"count\": 2}", 2},
      {"malformed JSON", "{\"fail\": \"malformed\", \"count\": 2}", 2},
      {"slow answer past the timeout", "{\"fail\": \"slow\", \"count\": 1, \"delay\": 6}", 1},
      {"history page fails once", "{\"fail\": \"500\", \"count\": 1, \"match\": \"HistoryPage\"}", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fprintf(stderr, "%s\n", cases[i].name);
    control(&f, cases[i].control);
    o = fetch(&f, argv[2], out);
    fails += expect_true(cases[i].name, o.rc == 0 && o.faults == cases[i].faults && o.requests == 4 + cases[i].faults);
    if (i == 0) fails += expect_true("Retry-After honoured (2 x 0.4 s)", o.seconds >= 0.75);
    free(o.err);
    control(&f, "{\"fail\": \"none\", \"count\": 0}");
  }

  fprintf(stderr, "500 forever\n");
  control(&f, "{\"fail\": \"500\", \"count\": 1000}");
  o = fetch(&f, argv[2], out);
  fails += expect_true("gives up after 8 attempts", o.rc == 1 && o.requests == 8 && strstr(o.err, "HTTP 500 after 8 attempts"));
  free(o.err);
  control(&f, "{\"fail\": \"none\", \"count\": 0}");

  fprintf(stderr, "401\n");
  control(&f, "{\"fail\": \"401\", \"count\": 1000}");
  o = fetch(&f, argv[2], out);
  fails += expect_true("401: one request, clear message", o.rc == 1 && o.requests == 1 &&
                                                             strstr(o.err, "rejected the API key (HTTP 401)") &&
                                                             strstr(o.err, "$WANDB_API_KEY") && !strstr(o.err, KEY));
  free(o.err);
  control(&f, "{\"fail\": \"none\", \"count\": 0}");

  fprintf(stderr, "wrong key\n");
  setenv("WANDB_API_KEY", "wrongkey_0123456789abcdefghijklmnopqrstuvwxyz", 1);
  o = fetch(&f, argv[2], out);
  fails += expect_true("wrong key -> 401 message", o.rc == 1 && strstr(o.err, "HTTP 401") && !strstr(o.err, "wrongkey"));
  free(o.err);

  fprintf(stderr, "key from $NETRC\n");
  unsetenv("WANDB_API_KEY");
  char *netrc = dml_strfmt("%s/netrc", dir);
  FILE *nf = fopen(netrc, "w");
  fprintf(nf, "machine 127.0.0.1\n  login user\n  password %s\n", KEY);
  fclose(nf);
  setenv("NETRC", netrc, 1);
  o = fetch(&f, argv[2], out);
  fails += expect_true("netrc key works", o.rc == 0 && o.faults == 0);
  free(o.err);

  fprintf(stderr, "no key\n");
  setenv("NETRC", "/nonexistent/netrc", 1);
  o = fetch(&f, argv[2], out);
  fails += expect_true("no key: exit 1, no request", o.rc == 1 && o.requests == 0 && strstr(o.err, "no W&B API key"));
  free(o.err);

  int n_files;
  fails += expect_true("key in no written file except the test's own netrc",
                       files_containing(out, KEY, &n_files) == 0 && n_files > 0);
  fake_stop(&f);
  free(netrc), free(out), free(dir);
  return test_report("wandb_retry", fails);
}
