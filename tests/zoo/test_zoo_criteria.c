/* test_zoo_criteria — every criterion of train/criteria/ against (1) the float64 PyTorch values written by
 * tests/reference/zoo_criteria.py into tests/fixtures/zoo/criteria.txt (loss, dL/demb, dL/dparam; cases looked
 * up by name, flags applied through dml-train's own flag table) and (2) central finite differences in float64
 * of the criterion itself (perturbations exactly representable in float32; the step actually taken is used),
 * for the embeddings and every parameter entry. Also: the registry lists every zoo name, miners a criterion
 * forbids are named, and an unknown label is an error, not a crash.
 * Regenerate the fixtures: /usr/bin/python3 tests/reference/zoo_criteria.py */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "train/train.h"

#define FIXTURE "tests/fixtures/zoo/criteria.txt"

struct fcase {
  char name[96], args[600];
  int B, D, C, M;
  int32_t labels[64];
  int32_t tuples[64][3];
  double *emb, *grad_emb;
  int nparams;                         /* up to 8 parameters, matched by name */
  double *param[8], *grad_param[8];
  long np[8];
  char pname[8][64];
  double loss;
};

static double *read_doubles(char *s, long n) {
  double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
  char *end;
  for (long i = 0; i < n; i++) {
    v[i] = strtod(s, &end);
    s = end;
  }
  return v;
}

/* Parse the next case from f; 0 at EOF. */
static int next_case(FILE *f, struct fcase *c) {
  static char line[1 << 16];
  memset(c, 0, sizeof *c);
  int started = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    if (!strncmp(line, "case ", 5)) snprintf(c->name, sizeof c->name, "%.95s", line + 5), started = 1;
    else if (!started) continue;
    else if (!strncmp(line, "args ", 5)) snprintf(c->args, sizeof c->args, "%.599s", line + 5);
    else if (!strncmp(line, "shape ", 6)) sscanf(line + 6, "%d %d %d", &c->B, &c->D, &c->C);
    else if (!strncmp(line, "labels ", 7)) {
      char *s = line + 7, *e;
      for (int i = 0; i < c->B; i++, s = e) c->labels[i] = (int32_t)strtol(s, &e, 10);
    } else if (!strncmp(line, "tuples ", 7)) {
      char *s = line + 7, *e;
      c->M = (int)strtol(s, &e, 10);
      s = e;
      for (int i = 0; i < c->M; i++)
        for (int k = 0; k < 3; k++, s = e) c->tuples[i][k] = (int32_t)strtol(s, &e, 10);
    } else if (!strncmp(line, "emb ", 4)) c->emb = read_doubles(line + 4, (long)c->B * c->D);
    else if (!strncmp(line, "grad_emb ", 9)) c->grad_emb = read_doubles(line + 9, (long)c->B * c->D);
    else if (!strncmp(line, "param ", 6) || !strncmp(line, "grad_param ", 11)) {
      int g = line[0] == 'g';
      char *s = line + (g ? 11 : 6), name[64];
      int off = 0;
      long n = 0;
      sscanf(s, "%63s %ld %n", name, &n, &off);
      int q = 0;
      while (q < c->nparams && strcmp(c->pname[q], name)) q++;
      if (q == c->nparams) {
        if (q == 8) continue;
        snprintf(c->pname[q], sizeof c->pname[q], "%s", name);
        c->np[q] = n;
        c->nparams++;
      }
      if (g) c->grad_param[q] = read_doubles(s + off, n);
      else c->param[q] = read_doubles(s + off, n);
    } else if (!strncmp(line, "loss ", 5)) c->loss = strtod(line + 5, NULL);
    else if (!strcmp(line, "end")) return 1;
  }
  return 0;
}

static void free_case(struct fcase *c) {
  free(c->emb);
  free(c->grad_emb);
  for (int q = 0; q < c->nparams; q++) free(c->param[q]), free(c->grad_param[q]);
}

/* dml-train's flag table parsed from args; *opt views it. */
static dml_status parse_opts(const char *args, struct dml_train_opts *o, struct dml_train_cli *tc, struct dml_opts *opt) {
  static char buf[600];
  char *argv[64];
  int argc = 0;
  snprintf(buf, sizeof buf, "%s", args);
  argv[argc++] = "test";
  for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " ")) argv[argc++] = t;
  memset(o, 0, sizeof *o);
  dml_train_cli_init(tc, o, NULL, 0);
  tc->cli.prog = "test";
  *opt = dml_train_cli_opts(tc);
  return dml_flags_parse(&tc->cli, argc, argv);
}

static double eval_loss(struct dml_criterion *cr, const float *emb, const int32_t *labels, int B, int D,
                        const struct dml_tuples *tu, float *grad) {
  double L = NAN;
  if (cr->params.n) dml_params_zero_grad(&cr->params);
  dml_status st = cr->loss(cr, emb, labels, B, D, tu, &L, grad);
  return st ? NAN : L;
}

/* central difference of the loss in one float32 coordinate; the step actually taken is (float)(v+h) − (float)(v−h) */
static double fd_coord(struct dml_criterion *cr, float *emb, float *slot, const int32_t *labels, int B, int D,
                       const struct dml_tuples *tu, float *scratch, double step) {
  float v0 = *slot;
  double h = step * fmax(1.0, fabs(v0));
  float vp = (float)(v0 + h), vm = (float)(v0 - h);
  *slot = vp;
  double lp = eval_loss(cr, emb, labels, B, D, tu, scratch);
  *slot = vm;
  double lm = eval_loss(cr, emb, labels, B, D, tu, scratch);
  *slot = v0;
  return (lp - lm) / ((double)vp - (double)vm);
}

static int run_case(struct fcase *c) {
  int f = 0;
  char tag[256];
  struct dml_train_opts o;
  struct dml_train_cli tc;
  struct dml_opts opt;
  if (parse_opts(c->args, &o, &tc, &opt)) {
    fprintf(stderr, "%s: bad args '%s': %s\n", c->name, c->args, dml_error_message());
    return 1;
  }
  int32_t classes[64];
  for (int k = 0; k < c->C; k++) classes[k] = k;
  struct dml_criterion cr;
  snprintf(tag, sizeof tag, "%s: create", c->name);
  struct dml_criterion_shape shape = {c->D, c->C, classes};
  if (expect_true(tag, dml_criterion_create(o.loss, &opt, &shape, &cr) == DML_OK)) {
    fprintf(stderr, "  %s\n", dml_error_message());
    dml_train_cli_free(&tc);
    return 1;
  }
  int B = c->B, D = c->D;
  long n = (long)B * D;
  float *emb = malloc(n * sizeof *emb), *grad = malloc(n * sizeof *grad), *scratch = malloc(n * sizeof *scratch);
  for (long i = 0; i < n; i++) emb[i] = (float)c->emb[i];
  struct dml_tuples tu = {0};
  for (int i = 0; i < c->M; i++) dml_tuples_push(&tu, c->tuples[i][0], c->tuples[i][1], c->tuples[i][2]);
  float *pv[8] = {0}, *pg[8] = {0};
  snprintf(tag, sizeof tag, "%s: the criterion has the fixture's %d parameters", c->name, c->nparams);
  f += expect_true(tag, cr.params.n == c->nparams);
  for (int q = 0; q < c->nparams; q++) {
    snprintf(tag, sizeof tag, "%s: parameter %s of %ld entries", c->name, c->pname[q], c->np[q]);
    const struct dml_param *p = dml_params_find(&cr.params, c->pname[q]);
    f += expect_true(tag, p && (long)p->n == c->np[q]);
    if (!p || (long)p->n != c->np[q]) goto out;
    pv[q] = p->t.data;
    pg[q] = p->t.grad;
    for (long i = 0; i < c->np[q]; i++) pv[q][i] = (float)c->param[q][i];
  }
  double L = eval_loss(&cr, emb, c->labels, B, D, &tu, grad);
  snprintf(tag, sizeof tag, "%s: loss vs torch", c->name);
  f += expect_scalar(tag, L, c->loss, 1e-9, 1e-7);
  double *g = malloc(n * sizeof *g);
  for (long i = 0; i < n; i++) g[i] = grad[i];
  snprintf(tag, sizeof tag, "%s: dL/demb vs torch", c->name);
  f += expect_close(tag, g, c->grad_emb, n, 1e-7, 1e-5);
  double *gp[8] = {0};
  for (int q = 0; q < c->nparams; q++) {
    gp[q] = malloc(c->np[q] * sizeof *gp[q]);
    for (long i = 0; i < c->np[q]; i++) gp[q][i] = pg[q][i];
    snprintf(tag, sizeof tag, "%s: dL/d%s vs torch", c->name, c->pname[q]);
    f += expect_close(tag, gp[q], c->grad_param[q], c->np[q], 1e-7, 1e-5);
  }
  /* finite differences in float64 of the criterion itself */
  /* dup_* cases hold the same embedding twice: distances sit at the norm's kink (0, or √D·1e-6 with torch's
   * eps), where finite differences mean nothing; their gradients are checked against torch's subgradients only */
  if (!strncmp(c->name, "dup_", 4)) goto out_fd;
  /* step: 1e-4; the histogram loss is piecewise quadratic with kinks at every bin edge (Δ = 2/(R−1)), so its
   * step stays well inside one bin: 1e-6 */
  double step = strstr(c->name, "histogram") ? 1e-6 : 1e-4;
  double *num = malloc(n * sizeof *num);
  /* adversarial_separation reverses the gradient into the embedding (DiVA): the reported gradient is −dL/demb */
  double sign = strstr(c->name, "adversarial_separation") ? -1 : 1;
  for (long i = 0; i < n; i++) num[i] = sign * fd_coord(&cr, emb, emb + i, c->labels, B, D, &tu, scratch, step);
  snprintf(tag, sizeof tag, "%s: dL/demb vs finite differences%s", c->name, sign < 0 ? " (reversed)" : "");
  f += expect_close(tag, g, num, n, 2e-5, 2e-3);
  for (int q = 0; q < c->nparams; q++) {
    double *nump = malloc(c->np[q] * sizeof *nump);
    for (long i = 0; i < c->np[q]; i++) nump[i] = fd_coord(&cr, emb, pv[q] + i, c->labels, B, D, &tu, scratch, step);
    snprintf(tag, sizeof tag, "%s: dL/d%s vs finite differences", c->name, c->pname[q]);
    f += expect_close(tag, gp[q], nump, c->np[q], 2e-5, 2e-3);
    free(nump);
  }
  free(num);
out_fd:
  free(g);
  for (int q = 0; q < c->nparams; q++) free(gp[q]);
out:
  dml_tuples_free(&tu);
  dml_criterion_free(&cr);
  dml_train_cli_free(&tc);
  free(emb);
  free(grad);
  free(scratch);
  return f;
}

static int registry_tests(void) {
  int f = 0;
  const char *want[] = {"triplet", "margin", "contrastive", "lifted", "npair", "angular", "snr", "quadruplet",
                        "proxynca", "softmax", "arcface", "softtriplet", "histogram", "multisimilarity", "oproxy",
                        "adversarial_separation", "nir"};
  for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
    int found = 0;
    for (int i = 0; dml_criterion_name(i); i++) found |= !strcmp(dml_criterion_name(i), want[k]);
    char tag[96];
    snprintf(tag, sizeof tag, "registry holds %s", want[k]);
    f += expect_true(tag, found);
  }
  struct dml_train_opts o;
  struct dml_train_cli tc;
  struct dml_opts opt;
  f += expect_true("parse", parse_opts("--loss nosuchloss", &o, &tc, &opt) == DML_OK);
  struct dml_criterion cr;
  int32_t classes[3] = {0, 1, 2};
  struct dml_criterion_shape shape = {4, 3, classes};
  f += expect_true("unknown loss is an error", dml_criterion_create(o.loss, &opt, &shape, &cr) == DML_ERR_ARG);
  f += expect_true("the error lists known names", strstr(dml_error_message(), "multisimilarity") != NULL);
  dml_train_cli_free(&tc);
  /* a label outside the training classes is an error for the class-based criteria */
  const char *cls[] = {"--loss proxynca", "--loss softmax", "--loss arcface", "--loss softtriplet", "--loss oproxy"};
  for (size_t k = 0; k < 5; k++) {
    char a[96];
    snprintf(a, sizeof a, "%s --embed_dim 4", cls[k]);
    parse_opts(a, &o, &tc, &opt);
    f += expect_true("create", dml_criterion_create(o.loss, &opt, &shape, &cr) == DML_OK);
    float emb[8] = {1, 0, 0, 0, 0, 1, 0, 0}, grad[8];
    int32_t labels[2] = {0, 7};
    struct dml_tuples tu = {0};
    double L;
    snprintf(a, sizeof a, "%s: unknown label is DML_ERR_ARG", cls[k]);
    f += expect_true(a, cr.loss(&cr, emb, labels, 2, 4, &tu, &L, grad) == DML_ERR_ARG);
    dml_criterion_free(&cr);
    dml_train_cli_free(&tc);
  }
  /* triplet criteria reject the implicit tuples of npair / lifted miners */
  parse_opts("--loss triplet", &o, &tc, &opt);
  dml_criterion_create(o.loss, &opt, &shape, &cr);
  {
    float emb[8] = {1, 0, 0, 0, 0, 1, 0, 0}, grad[8];
    int32_t labels[2] = {0, 0};
    struct dml_tuples tu = {0};
    dml_tuples_push(&tu, 0, 1, -1);
    double L;
    f += expect_true("triplet loss rejects (a, p, -1) tuples", cr.loss(&cr, emb, labels, 2, 4, &tu, &L, grad) == DML_ERR_ARG);
    dml_tuples_free(&tu);
  }
  dml_criterion_free(&cr);
  dml_train_cli_free(&tc);
  return f;
}

int main(void) {
  FILE *fx = fopen(FIXTURE, "r");
  if (!fx) {
    fprintf(stderr, "cannot open %s (run from the repository root; regenerate with "
                    "/usr/bin/python3 tests/reference/zoo_criteria.py)\n", FIXTURE);
    return 1;
  }
  int fails = 0, ncases = 0;
  struct fcase c;
  while (next_case(fx, &c)) {
    fails += run_case(&c);
    ncases++;
    free_case(&c);
  }
  fclose(fx);
  fails += expect_true("fixture holds at least 35 cases", ncases >= 35);
  fails += registry_tests();
  return test_report("test_zoo_criteria", fails);
}
