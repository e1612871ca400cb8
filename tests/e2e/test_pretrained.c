/* test_pretrained — dml-train finds the ImageNet weights by file name, without a download (issue 10, point 5).
 * A width-8 ResNet-18 initialised from another seed and saved by our own code stands in for the ImageNet file:
 *  1. with $DML_WEIGHTS naming a folder that holds resnet18.safetensors, the first-epoch loss equals, bitwise, the
 *     loss with --pretrained FILE, and the default folder ~/.cache/dml/weights (HOME moved) gives it too;
 *  2. --not_pretrained gives another loss (the file was really loaded above); the record's `weights` attribute
 *     names the file (absent with --not_pretrained);
 *  3. with the file absent: exit 1, one line naming resnet18.safetensors, the folder, --pretrained, a public
 *     release and --not_pretrained, and no run folder written; --dry_run reports the same;
 *  4. --dry_run with the file present prints the file and the record path and exits 0.
 * argv[1] = path of the dml-train binary. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/runrecord.h"
#include "tests/testutil.h"
#include "train/train.h"

static const char *bin;

/* Run dml-train with args under the environment settings env ("NAME=value", "NAME=" unsets); stdout + stderr go
 * to out. Returns the exit status. */
static int run(char *const env[], char *const args[], char *out, size_t cap) {
  int pfd[2];
  if (pipe(pfd)) return -100;
  pid_t pid = fork();
  if (pid == 0) {
    setenv("OMP_NUM_THREADS", "2", 1);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("DML_PROGRESS", "0", 1);
    for (int i = 0; env[i]; i++) {
      char *e = strdup(env[i]), *eq = strchr(e, '=');
      *eq = 0;
      if (eq[1]) setenv(e, eq + 1, 1);
      else unsetenv(e);
    }
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    close(pfd[0]);
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)bin;
    for (int i = 0; args[i]; i++) argv[n++] = args[i];
    argv[n] = NULL;
    execv(bin, argv);
    _exit(127);
  }
  close(pfd[1]);
  size_t got = 0;
  ssize_t r;
  while ((r = read(pfd[0], out + got, cap - 1 - got)) > 0) got += (size_t)r;
  out[got] = 0;
  close(pfd[0]);
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* the first-epoch loss of the record under save/fashion_mnist/<group>_s3 (NAN if unreadable) */
static double first_loss(const char *save, const char *group) {
  char *p = dml_strfmt("%s/fashion_mnist/%s_s3/run.h5", save, group);
  struct dml_run r = {0};
  double v = NAN;
  if (dml_runrecord_read(p, &r) == DML_OK && r.n_train >= 1 && !strcmp(r.meta.status, "finished")) v = r.train_loss[0];
  dml_run_free(&r);
  free(p);
  return v;
}

/* a fresh network of the test's architecture from seed 77 (the runs use seed 3), saved as path */
static int save_weights(const char *path) {
  struct dml_backend *be = dml_backend_select("cpu", NULL);
  struct dml_params ps;
  struct dml_network net;
  dml_params_init(&ps, be);
  int ok = dml_network_init(&net, &ps, "resnet18_w8_normalize", 3 * 32 * 32, 8) == DML_OK;
  if (ok) {
    dml_params_alloc(&ps);
    dml_network_reset_parameters(&net, 77);
    ok = dml_network_save(&net, path) == DML_OK;
    dml_network_free(&net);
  }
  dml_params_free(&ps);
  dml_backend_free(be);
  return ok;
}

#define ARGS "--dataset", "fashion_mnist", "--arch", "resnet18_w8_normalize", "--max_per_class", "20", "--bs", "20", \
  "--lr", "1e-3", "--embed_dim", "8", "--n_epochs", "1", "--seed", "3", "--no_train_metrics", "--kernels", "2", \
  "--evaluation_metrics", "e_recall@1"

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  bin = argv[1];
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
    printf("Fashion-MNIST not installed (scripts/install-deps): skipped\n");
    return 77;
  }
  char *tmp = test_tmpdir("pretrained");
  char *wdir = dml_strfmt("%s/weights", tmp), *empty = dml_strfmt("%s/empty", tmp), *home = dml_strfmt("%s/home", tmp);
  char *wfile = dml_strfmt("%s/resnet18.safetensors", wdir), *save = dml_strfmt("%s/runs", tmp);
  char *hw = dml_strfmt("%s/.cache/dml/weights", home), *hfile = dml_strfmt("%s/resnet18.safetensors", hw);
  char *cmd = dml_strfmt("mkdir -p '%s' '%s' '%s'", wdir, empty, hw);
  int f = expect_true("folders made", system(cmd) == 0);
  free(cmd);
  f += expect_true("weights saved by our own code", save_weights(wfile));
  cmd = dml_strfmt("cp '%s' '%s'", wfile, hfile);
  f += expect_true("copy in the default folder", system(cmd) == 0);
  free(cmd);
  char out[16384];
  char *env_w[] = {dml_strfmt("DML_WEIGHTS=%s", wdir), NULL};
  char *env_none[] = {dml_strfmt("DML_WEIGHTS=%s", empty), NULL};
  char *env_home[] = {"DML_WEIGHTS=", dml_strfmt("HOME=%s", home), NULL};

  char *a[] = {ARGS, "--group", "lookup", "--save_path", save, NULL};
  int rc = run(env_w, a, out, sizeof out);
  if (rc) printf("%s\n", out);
  f += expect_true("$DML_WEIGHTS: exit 0", rc == 0);
  f += expect_true("$DML_WEIGHTS: says which file it loaded", strstr(out, wfile) != NULL);
  char *b[] = {ARGS, "--group", "explicit", "--pretrained", wfile, "--save_path", save, NULL};
  rc = run(env_none, b, out, sizeof out);
  f += expect_true("--pretrained FILE: exit 0 (the folder is not consulted)", rc == 0);
  char *c[] = {ARGS, "--group", "home", "--save_path", save, NULL};
  rc = run(env_home, c, out, sizeof out);
  f += expect_true("default folder ~/.cache/dml/weights: exit 0", rc == 0);
  char *d[] = {ARGS, "--group", "scratch", "--not_pretrained", "--save_path", save, NULL};
  rc = run(env_none, d, out, sizeof out);
  f += expect_true("--not_pretrained: exit 0 without a weights file", rc == 0);
  double la = first_loss(save, "lookup"), lb = first_loss(save, "explicit"), lc = first_loss(save, "home");
  double ld = first_loss(save, "scratch");
  printf("first-epoch loss: $DML_WEIGHTS %.9g, --pretrained %.9g, default folder %.9g, --not_pretrained %.9g\n", la, lb,
         lc, ld);
  f += expect_true("$DML_WEIGHTS loss == --pretrained loss (bitwise)", la == la && !memcmp(&la, &lb, sizeof la));
  f += expect_true("default folder loss == --pretrained loss (bitwise)", !memcmp(&lc, &lb, sizeof lc));
  f += expect_true("--not_pretrained loss differs (the file was loaded)", ld == ld && ld != la);
  char *rec = dml_strfmt("%s/fashion_mnist/lookup_s3/run.h5", save), *wattr = NULL;
  f += expect_true("the record names the weights file (attribute weights)",
                   dml_runrecord_read_attr(rec, "weights", &wattr) == DML_OK && wattr && !strcmp(wattr, wfile));
  free(wattr);
  free(rec);
  rec = dml_strfmt("%s/fashion_mnist/scratch_s3/run.h5", save);
  wattr = NULL;
  f += expect_true("--not_pretrained: no weights attribute", dml_runrecord_read_attr(rec, "weights", &wattr) == DML_OK && !wattr);
  free(wattr);
  free(rec);

  char *m[] = {ARGS, "--group", "missing", "--save_path", save, NULL};
  rc = run(env_none, m, out, sizeof out);
  char *expect_file = dml_strfmt("%s/resnet18.safetensors", empty);
  int lines = 0;
  for (char *p = out; *p; p++) lines += *p == '\n';
  printf("missing file: rc %d: %s", rc, out);
  f += expect_true("missing file: exit 1", rc == 1);
  f += expect_true("missing file: one line", lines == 1 && !strncmp(out, "dml-train: error: ", 18));
  f += expect_true("missing file: names the file and the folder", strstr(out, expect_file) && strstr(out, empty));
  f += expect_true("missing file: names --pretrained, a public release and --not_pretrained",
                   strstr(out, "--pretrained FILE") && strstr(out, "resnet18.tv_in1k") && strstr(out, "--not_pretrained"));
  char *mdir = dml_strfmt("%s/fashion_mnist/missing_s3", save);
  struct stat sb;
  f += expect_true("missing file: no run folder written", stat(mdir, &sb) != 0);
  char *m2[] = {ARGS, "--group", "missing", "--save_path", save, "--dry_run", NULL};
  rc = run(env_none, m2, out, sizeof out);
  f += expect_true("--dry_run, file missing: exit 1 naming the file", rc == 1 && strstr(out, expect_file));
  char *ok[] = {ARGS, "--group", "lookup", "--save_path", save, "--dry_run", NULL};
  rc = run(env_w, ok, out, sizeof out);
  char *next = dml_strfmt("run record: %s/fashion_mnist/lookup_s3_1/run.h5", save);
  f += expect_true("--dry_run, file present: exit 0, names the file and the next free record path",
                   rc == 0 && strstr(out, wfile) && strstr(out, next));
  if (f) printf("last output:\n%s\n", out);
  char *lookup1 = dml_strfmt("%s/fashion_mnist/lookup_s3_1", save);
  f += expect_true("--dry_run wrote nothing", stat(lookup1, &sb) != 0);
  if (!f) {
    cmd = dml_strfmt("rm -rf '%s'", tmp);
    if (system(cmd)) {}
    free(cmd);
  }
  free(lookup1); free(next); free(mdir); free(expect_file);
  free(env_w[0]); free(env_none[0]); free(env_home[1]);
  free(wdir); free(empty); free(home); free(wfile); free(save); free(hw); free(hfile); free(tmp);
  return test_report("e2e_pretrained", f);
}
