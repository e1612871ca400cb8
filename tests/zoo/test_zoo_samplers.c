/* test_zoo_samplers — batch composition and determinism of every sampler (spec A7): full_random / random (bs
 * indices, the last shares its class with an earlier one, a pure function of (seed, epoch, step)); the storage
 * samplers fall back to class_random until fed, then: greedy_coreset on well-separated class clusters picks
 * centres of distinct classes (k-center spreads out), with spc same-class fillers; d2_coreset never repeats a
 * centre; disthist_batchmatch returns groups of one class each; all deterministic; storage update with
 * --data_mb_mom averages; unknown / fid_batchmatch names are errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "train/train.h"

enum { N = 200, NC = 20, BS = 8, SPC = 2 };

static struct dml_dataset make_data(void) {
  struct dml_dataset d = {0};
  d.n = N;
  d.n_classes = NC;
  d.labels = malloc(N * sizeof *d.labels);
  d.classes = malloc(NC * sizeof *d.classes);
  for (int i = 0; i < N; i++) d.labels[i] = 3 * (i % NC); /* labels 0, 3, ..., 57 */
  for (int c = 0; c < NC; c++) d.classes[c] = 3 * c;
  return d;
}

/* Sampler `name` for d with bs BS, spc SPC, seed 4, from dml-train's flags args (defaults else). */
static dml_status make(const char *name, const char *args, const struct dml_dataset *d, struct dml_sampler *s) {
  struct dml_train_opts o;
  struct dml_train_cli tc;
  dml_status st = dml_train_cli_parse_string(&tc, &o, args);
  struct dml_opts opt = dml_train_cli_opts(&tc);
  struct dml_sampler_shape shape = {d->n, d->labels, d->n_classes, d->classes, BS, SPC, 4};
  if (!st) st = dml_sampler_create(name, &opt, &shape, s);
  dml_train_cli_free(&tc);
  return st;
}

static int groups_share_class(const struct dml_dataset *d, const int32_t *idx) {
  int ok = 1;
  for (int g = 0; g < BS / SPC; g++)
    for (int j = 1; j < SPC; j++) ok &= d->labels[idx[g * SPC + j]] == d->labels[idx[g * SPC]];
  return ok;
}

int main(void) {
  int f = 0;
  struct dml_dataset d = make_data();
  int32_t a[BS], b[BS];
  /* full_random and its alias */
  const char *fr[] = {"full_random", "random"};
  for (int k = 0; k < 2; k++) {
    struct dml_sampler s;
    f += expect_true("full_random create", make(fr[k], "", &d, &s) == DML_OK);
    int ok = 1;
    for (long step = 0; step < 300; step++) {
      s.batch(&s, 1, step, a);
      int pair = 0;
      for (int j = 0; j < BS - 1; j++) pair |= d.labels[a[j]] == d.labels[a[BS - 1]];
      ok &= pair;
      for (int j = 0; j < BS; j++) ok &= a[j] >= 0 && a[j] < N;
    }
    f += expect_true("full_random: the last element shares a class with an earlier one", ok);
    s.batch(&s, 1, 5, a);
    s.batch(&s, 1, 5, b);
    f += expect_true("full_random: pure function of (seed, epoch, step)", !memcmp(a, b, sizeof a));
    dml_sampler_free(&s);
  }
  /* storage samplers */
  float *emb = malloc(N * 2 * sizeof *emb);
  struct dml_rng r = dml_rng_init(1, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < N; i++) {
    int c = i % NC;
    emb[2 * i] = (float)(100.0 * cos(2 * M_PI * c / NC) + 0.01 * dml_rng_normal(&r));
    emb[2 * i + 1] = (float)(100.0 * sin(2 * M_PI * c / NC) + 0.01 * dml_rng_normal(&r));
  }
  int32_t all[N];
  for (int i = 0; i < N; i++) all[i] = i;
  const char *st[] = {"greedy_coreset", "d2_coreset", "disthist_batchmatch"};
  for (int k = 0; k < 3; k++) {
    char tag[160];
    struct dml_sampler s, cr;
    f += expect_true("storage sampler create", make(st[k], "", &d, &s) == DML_OK && s.needs_storage);
    make("class_random", "", &d, &cr);
    s.batch(&s, 0, 3, a);
    cr.batch(&cr, 0, 3, b);
    snprintf(tag, sizeof tag, "%s: class_random batches until the storage is fed", st[k]);
    f += expect_true(tag, !memcmp(a, b, sizeof a));
    dml_sampler_update(&s, all, emb, N, 2);
    int ok = 1, distinct = 1;
    for (long step = 0; step < 40; step++) {
      s.batch(&s, 2, step, a);
      ok &= groups_share_class(&d, a);
      for (int g = 0; g < BS / SPC; g++)
        for (int h = 0; h < g; h++) distinct &= a[g * SPC] != a[h * SPC];
      if (k == 0) /* k-center on 20 far-apart clusters: 4 centres of 4 different classes */
        for (int g = 0; g < BS / SPC; g++)
          for (int h = 0; h < g; h++) ok &= d.labels[a[g * SPC]] != d.labels[a[h * SPC]];
    }
    snprintf(tag, sizeof tag, "%s: groups of samples_per_class share a class%s", st[k],
             k == 0 ? ", centres of distinct classes" : "");
    f += expect_true(tag, ok);
    if (k < 2) {
      snprintf(tag, sizeof tag, "%s: no centre chosen twice", st[k]);
      f += expect_true(tag, distinct);
    }
    s.batch(&s, 2, 9, a);
    s.batch(&s, 2, 9, b);
    snprintf(tag, sizeof tag, "%s: deterministic for a fixed storage", st[k]);
    f += expect_true(tag, !memcmp(a, b, sizeof a));
    dml_sampler_free(&s);
    dml_sampler_free(&cr);
  }
  /* global_hardneg: the partner group of each anchor comes from a neighbouring class on the circle */
  {
    struct dml_sampler s;
    f += expect_true("global_hardneg create", make("global_hardneg", "--data_hardneg_k 10", &d, &s) == DML_OK &&
                                                  s.needs_storage);
    dml_sampler_update(&s, all, emb, N, 2);
    int ok = 1;
    for (long step = 0; step < 100; step++) {
      s.batch(&s, 0, step, a);
      ok &= groups_share_class(&d, a);
      for (int g = 0; g + 1 < BS / SPC; g += 2) {
        int ca = d.labels[a[g * SPC]] / 3, cn = d.labels[a[(g + 1) * SPC]] / 3;
        ok &= cn == (ca + 1) % NC || cn == (ca + NC - 1) % NC;
      }
    }
    f += expect_true("global_hardneg: every anchor's partner group is of a nearest other class", ok);
    dml_sampler_free(&s);
  }
  /* --data_ssl_set: the batch length and layout of NIR's own sampler (tests/fixtures/zoo/methods.txt `ssl bs spc n`
   * lines, from datasampler/class_random_sampler.py): ⌊bs/spc/2⌋ class groups, then the same list again */
  {
    FILE *fx = fopen("tests/fixtures/zoo/methods.txt", "r");
    f += expect_true("methods.txt opens", fx != NULL);
    char line[256];
    int cases = 0;
    struct dml_train_opts o;
    struct dml_train_cli tc;
    dml_train_cli_parse_string(&tc, &o, "--data_ssl_set");
    struct dml_opts opt = dml_train_cli_opts(&tc);
    while (fx && fgets(line, sizeof line, fx)) {
      int bs, spc, n;
      if (sscanf(line, "ssl %d %d %d", &bs, &spc, &n) != 3) continue;
      struct dml_sampler_shape shape = {d.n, d.labels, d.n_classes, d.classes, bs, spc, 4};
      struct dml_sampler s;
      char tag[128];
      snprintf(tag, sizeof tag, "ssl_set create (bs %d, spc %d)", bs, spc);
      f += expect_true(tag, dml_sampler_create("class_random", &opt, &shape, &s) == DML_OK);
      snprintf(tag, sizeof tag, "--data_ssl_set bs %d spc %d: %d entries as the NIR reference", bs, spc, n);
      f += expect_true(tag, s.batch_len == n);
      int32_t *bb = malloc((size_t)bs * sizeof *bb);
      s.batch(&s, 0, 1, bb);
      int ok = !memcmp(bb, bb + n / 2, (size_t)(n / 2) * sizeof *bb);
      for (int g = 0; g < n / spc; g++)
        for (int j = 1; j < spc; j++) ok &= d.labels[bb[g * spc + j]] == d.labels[bb[g * spc]];
      snprintf(tag, sizeof tag, "--data_ssl_set bs %d spc %d: class groups, first half twice", bs, spc);
      f += expect_true(tag, ok);
      free(bb);
      dml_sampler_free(&s);
      cases++;
    }
    if (fx) fclose(fx);
    f += expect_true("ssl fixture: the odd case bs 90 / spc 2 among >= 5 cases", cases >= 5);
    struct dml_sampler_shape one = {d.n, d.labels, d.n_classes, d.classes, 2, 2, 4};
    struct dml_sampler s;
    f += expect_true("--data_ssl_set with one class group is an error",
                     dml_sampler_create("class_random", &opt, &one, &s) == DML_ERR_ARG);
    dml_train_cli_free(&tc);
    f += expect_true("without --data_ssl_set the batch is bs long", make("class_random", "", &d, &s) == DML_OK &&
                                                                        s.batch_len == BS);
    dml_sampler_free(&s);
  }
  /* storage momentum */
  {
    struct dml_sampler s;
    make("greedy_coreset", "--data_mb_mom 0.5", &d, &s);
    dml_sampler_update(&s, all, emb, N, 2);
    float e2[2] = {0, 0};
    int32_t i0 = 0;
    dml_sampler_update(&s, &i0, e2, 1, 2);
    double got[2] = {s.storage[0], s.storage[1]}, want[2] = {0.5 * emb[0], 0.5 * emb[1]};
    f += expect_close("storage update with --data_mb_mom 0.5 averages", got, want, 2, 1e-4, 1e-6);
    f += expect_true("storage complete after the full pass", s.storage_filled == N);
    dml_sampler_free(&s);
  }
  /* names */
  {
    struct dml_sampler s;
    f += expect_true("fid_batchmatch is a clear error", make("fid_batchmatch", "", &d, &s) == DML_ERR_ARG &&
                                                             strstr(dml_error_message(), "S2") != NULL);
    f += expect_true("unknown sampler is an error", make("nosuch", "", &d, &s) == DML_ERR_ARG);
    int n = 0;
    while (dml_sampler_name(n)) n++;
    f += expect_true("six samplers registered (random is full_random's alias)", n == 6);
  }
  free(emb);
  free(d.labels);
  free(d.classes);
  return test_report("test_zoo_samplers", f);
}
