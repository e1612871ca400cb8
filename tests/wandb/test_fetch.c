/* wandb_fetch: dml-fetch of a generated project (7 runs in pages of 3, 1234-row histories so two history
 * windows, NaN values, histograms, an unknown key, a hostile run name) against the fake server; values are
 * checked against the generator's formulas written out here; then an incremental fetch after one run grew,
 * a --group fetch, and the key absent from every file written.
 * argv: fake server, dml-fetch, dml-sync. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/runrecord.h"
#include "tests/testutil.h"
#include "tests/wandb/harness.h"

#define KEY "fetchtestkey_0123456789abcdefghijklmnopqrstuv"
#define NRUNS 7
#define NROWS 1234

static int check_run(const char *path, long r, long nrows) {
  int fails = 0;
  struct dml_run run;
  if (dml_runrecord_read(path, &run)) {
    fprintf(stderr, "cannot read %s: %s\n", path, dml_error_message());
    return 1;
  }
  char src[64];
  snprintf(src, sizeof src, "wandb:ent/proj/run%05ld", r);
  fails += expect_true("source", !strcmp(run.meta.source, src));
  fails += expect_true("dataset from config", !strcmp(run.meta.dataset, "cub200"));
  fails += expect_true("seed from config", run.meta.seed == r);
  fails += expect_true("status finished", !strcmp(run.meta.status, "finished"));
  const struct dml_series *rc = dml_run_series(&run, "test", "e_recall@1");
  const struct dml_series *nmi = dml_run_series(&run, "test", "nmi");
  const struct dml_series *gl = dml_run_series(&run, "other", "Model Grad: L2: Grad L2");
  fails += expect_true("series present", rc && nmi && gl && rc->n == (size_t)nrows && nmi->n == (size_t)nrows &&
                                             gl->n == (size_t)nrows && run.n_train == (size_t)nrows);
  fails += expect_true("no histogram series", !dml_run_series(&run, "train", "rho_spectrum@0") &&
                                                  !dml_run_series(&run, "other", "Train: discriminative_rho_spectrum@0"));
  if (!fails) {
    double *ep = malloc(nrows * sizeof *ep), *v1 = malloc(nrows * sizeof *v1), *v2 = malloc(nrows * sizeof *v2),
           *v3 = malloc(nrows * sizeof *v3), *v4 = malloc(nrows * sizeof *v4);
    for (long s = 0; s < nrows; s++) {
      ep[s] = (double)s;
      v1[s] = (1000.0 * r + s) / 8192.0;
      v2[s] = s % 7 == 3 ? NAN : s / 1024.0;
      v3[s] = s / 2.0;
      v4[s] = 1.0 / (s + 1);
    }
    fails += expect_close("epochs", rc->epoch, ep, nrows, 0, 0);
    fails += expect_close("e_recall@1", rc->value, v1, nrows, 0, 0);
    fails += expect_close("nmi with NaN", nmi->value, v2, nrows, 0, 0);
    fails += expect_close("Grad L2 (other)", gl->value, v3, nrows, 0, 0);
    fails += expect_close("train loss", run.train_loss, v4, nrows, 0, 0);
    fails += expect_close("train epochs", run.train_epoch, ep, nrows, 0, 0);
    free(ep), free(v1), free(v2), free(v3), free(v4);
  }
  dml_run_free(&run);
  return fails;
}

/* the number just before " <what>" in dml-fetch's summary line ("7 runs listed: 7 new, 0 changed, ...") */
static int count_in(const char *out, const char *what) {
  char *pat = dml_strfmt(" %s", what);
  const char *p = strstr(out, pat);
  free(pat);
  if (!p) return -1;
  while (p > out && p[-1] >= '0' && p[-1] <= '9') p--;
  return atoi(p);
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int fails = 0;
  setenv("WANDB_API_KEY", KEY, 1);
  setenv("DML_WANDB_BACKOFF_S", "0.05", 1);
  setenv("DML_PROGRESS", "plain", 1);
  char gen[64];
  snprintf(gen, sizeof gen, "ent/proj:%d:%d", NRUNS, NROWS);
  const char *args[] = {"--auth", "--gen", gen, "--hostile", "--max_seconds", "170", NULL};
  struct fake f;
  if (fake_start(&f, argv[1], args)) return test_report("wandb_fetch", 1);
  char *dir = test_tmpdir("wandb_fetch");
  char *out = dml_strfmt("%s/out", dir);

  char *fetch1[] = {argv[2], "ent/proj", "--out", out, "--per_page", "3", "--jobs", "3", NULL};
  char *so = NULL, *se = NULL;
  int rc = run_prog(fetch1, 120, &so, &se);
  fprintf(stderr, "first fetch: rc %d\n%s%s", rc, so, se);
  fails += expect_true("first fetch exits 0", rc == 0);
  fails += expect_true("7 listed, 7 new", count_in(so, "runs listed") == NRUNS && count_in(so, "new,") == NRUNS);
  char *answer = fake_control(&f, "{\"stats\": true}");
  fprintf(stderr, "server: %s\n", answer ? answer : "(none)");
  /* 3 list pages + 7 runs x 2 history windows */
  fails += expect_true("3 list pages + 14 history pages", answer && strstr(answer, "\"graphql\":17"));
  free(answer);
  free(so), free(se);

  for (long r = 0; r < NRUNS; r++) {
    char *p = r == 0 ? dml_strfmt("%s/cub200/_._.._x/run.h5", out)
                     : dml_strfmt("%s/cub200/G%ld_s%ld/run.h5", out, r % 3, r);
    struct stat sb;
    int exists = !stat(p, &sb);
    fails += expect_true(p, exists);
    if (exists) fails += check_run(p, r, NROWS);
    free(p);
  }
  char *escaped = dml_strfmt("%s/../x", dir);
  struct stat sb;
  fails += expect_true("hostile name stayed inside --out", stat(escaped, &sb) != 0);
  free(escaped);

  /* incremental: run00002 grows by 5 rows; only it is fetched again */
  answer = fake_control(&f, "{\"grow\": \"run00002\", \"rows\": 5}");
  free(answer);
  rc = run_prog(fetch1, 120, &so, &se);
  fprintf(stderr, "second fetch: rc %d\n%s%s", rc, so, se);
  fails += expect_true("second fetch exits 0", rc == 0);
  fails += expect_true("1 changed, 6 unchanged, 0 new", count_in(so, "changed,") == 1 &&
                                                           count_in(so, "unchanged,") == NRUNS - 1 &&
                                                           count_in(so, "new,") == 0);
  free(so), free(se);
  char *p2 = dml_strfmt("%s/cub200/G2_s2/run.h5", out);
  fails += check_run(p2, 2, NROWS + 5);
  free(p2);

  /* --group into another folder: runs 1 and 4 (group G1) */
  char *out2 = dml_strfmt("%s/out_g1", dir);
  char *fetch2[] = {argv[2], "ent/proj", "--out", out2, "--group", "G1", NULL};
  rc = run_prog(fetch2, 120, &so, &se);
  fprintf(stderr, "group fetch: rc %d\n%s%s", rc, so, se);
  fails += expect_true("group fetch: 2 runs", rc == 0 && count_in(so, "runs listed") == 2);
  free(so), free(se);

  /* --filter (ANDed with --group): one run by display name; a filter that is not JSON is a usage error */
  char *out4 = dml_strfmt("%s/out_filter", dir);
  char *fetch6[] = {argv[2], "ent/proj", "--out", out4, "--group", "G0", "--filter", "{\"displayName\": \"G0_s3\"}", NULL};
  rc = run_prog(fetch6, 120, &so, &se);
  fprintf(stderr, "filter fetch: rc %d\n%s%s", rc, so, se);
  fails += expect_true("filter: 1 run", rc == 0 && count_in(so, "runs listed") == 1);
  free(so), free(se);
  char *p4 = dml_strfmt("%s/cub200/G0_s3/run.h5", out4);
  fails += check_run(p4, 3, NROWS);
  free(p4);
  char *fetch7[] = {argv[2], "ent/proj", "--out", out4, "--filter", "{not json", NULL};
  rc = run_prog(fetch7, 30, &so, &se);
  fails += expect_true("bad --filter -> exit 2", rc == 2 && strstr(se, "--filter"));
  free(so), free(se);
  free(out4);

  /* a missing project: one clear line, exit 1 */
  char *fetch3[] = {argv[2], "ent/nosuch", "--out", out2, NULL};
  rc = run_prog(fetch3, 60, &so, &se);
  fprintf(stderr, "missing project: rc %d: %s", rc, se);
  fails += expect_true("missing project message", rc == 1 && strstr(se, "ent/nosuch not found"));
  free(so), free(se);
  /* a bad argument */
  char *fetch4[] = {argv[2], "no-slash", NULL};
  rc = run_prog(fetch4, 30, &so, &se);
  fails += expect_true("bad ENTITY/PROJECT -> exit 2", rc == 2 && strstr(se, "ENTITY/PROJECT"));
  free(so), free(se);

  /* an interrupted fetch resumes: run00002's history answer is slowed past the point where dml-fetch is
     killed; the next call fetches only the runs it had not finished */
  char *out3 = dml_strfmt("%s/out_resume", dir);
  free(fake_control(&f, "{\"fail\": \"slow\", \"count\": 1, \"delay\": 30, \"match\": \"\\\"run\\\":\\\"run00002\\\"\"}"));
  char *fetch5[] = {argv[2], "ent/proj", "--out", out3, "--jobs", "1", NULL};
  rc = run_prog(fetch5, 4, &so, &se);
  fprintf(stderr, "interrupted fetch: rc %d (killed: -1)\n", rc);
  fails += expect_true("fetch killed while run00002 was slow", rc == -1);
  free(so), free(se);
  free(fake_control(&f, "{\"fail\": \"none\", \"count\": 0}"));
  rc = run_prog(fetch5, 120, &so, &se);
  fprintf(stderr, "resumed fetch: rc %d\n%s%s", rc, so, se);
  fails += expect_true("resume: 2 unchanged (runs 0, 1), 5 new", rc == 0 && count_in(so, "unchanged,") == 2 &&
                                                                   count_in(so, "new,") == NRUNS - 2);
  free(so), free(se);
  char *p3 = dml_strfmt("%s/cub200/G2_s2/run.h5", out3);
  fails += check_run(p3, 2, NROWS + 5);
  free(p3);
  free(out3);

  int n_files;
  fails += expect_true("key in no file", files_containing(dir, KEY, &n_files) == 0);
  fails += expect_true("files were scanned", n_files >= NRUNS + 1);
  fake_stop(&f);
  free(out), free(out2), free(dir);
  return test_report("wandb_fetch", fails);
}
