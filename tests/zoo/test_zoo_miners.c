/* test_zoo_miners — the batch miners by their properties (spec A8): every tuple valid for its convention;
 * random returns B distinct valid triplets with inclusion frequency B/total; semihard picks a semihard negative
 * whenever one exists; softhard picks from the hard sets when non-empty; rho_distance flips with probability cp
 * (binomial 5σ bound) and its other negatives follow Wu et al.'s weights (chi-square bound); npair / lifted anchors
 * are exactly the positions whose label has ≥ 2 members; intra_random tuples share a label; parametric's negative
 * distribution equals the one the reference's own code draws from (fixture from tests/reference/
 * reference_criteria.py, every mode) and its draws follow it; a miner is a pure function of its RNG stream. Reference values are computed independently here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "train/train.h"

enum { B = 24, D = 8 };

/* Miner `name` built from dml-train's flags: --loss loss, then args (more flags, may be NULL), defaults else. */
static dml_status make(const char *name, const char *loss, const char *args, struct dml_miner *m) {
  struct dml_train_opts o;
  struct dml_train_cli tc;
  char buf[640];
  snprintf(buf, sizeof buf, "--loss %s %s", loss, args ? args : "");
  dml_status st = dml_train_cli_parse_string(&tc, &o, buf);
  struct dml_opts opt = dml_train_cli_opts(&tc);
  if (!st) st = dml_miner_create(name, &opt, m);
  dml_train_cli_free(&tc);
  return st;
}

static double dist(const float *e, int i, int j) {
  double s = 0;
  for (int k = 0; k < D; k++) s += ((double)e[i * D + k] - e[j * D + k]) * ((double)e[i * D + k] - e[j * D + k]);
  return sqrt(s);
}

static int mine(const char *name, const char *loss, const char *args, const float *e, const int32_t *y,
                uint64_t key, struct dml_tuples *tu) {
  struct dml_miner m;
  if (make(name, loss, args, &m)) return 1;
  struct dml_rng r = dml_rng_init(7, DML_RNG_TEST, key, 1);
  memset(tu, 0, sizeof *tu);
  dml_status st = m.mine(&m, e, y, B, D, &r, tu);
  dml_miner_free(&m);
  return st != DML_OK;
}

static int count_label(const int32_t *y, int32_t v) {
  int c = 0;
  for (int i = 0; i < B; i++) c += y[i] == v;
  return c;
}

/* The reference-code fixture of the parametric miner: our per-negative probabilities equal the reference's for
 * every anchor of every mode, the anchors are the same, and our draws follow them (chi-square, 6σ bound). */
static int parametric_fixtures(void) {
  FILE *fx = fopen("tests/fixtures/zoo/methods.txt", "r");
  if (!fx) return expect_true("tests/fixtures/zoo/methods.txt opens (regenerate: tests/reference/reference_criteria.py)", 0);
  static char line[1 << 15];
  int f = 0, blocks = 0, nb = 0, nd = 0;
  char args[512] = "";
  int32_t lab[64];
  float emb[64 * 16];
  double probs[64][64];
  int anchor[64], np = 0;
  while (fgets(line, sizeof line, fx)) {
    line[strcspn(line, "\n")] = 0;
    char *s = line, *e;
    if (!strncmp(line, "args ", 5)) snprintf(args, sizeof args, "%.500s", line + 5), np = 0;
    else if (!strncmp(line, "shape ", 6)) sscanf(line + 6, "%d %d", &nb, &nd);
    else if (!strncmp(line, "labels ", 7)) {
      s = line + 7;
      for (int i = 0; i < nb; i++, s = e) lab[i] = (int32_t)strtol(s, &e, 10);
    }
    else if (!strncmp(line, "emb ", 4)) {
      s = line + 4;
      for (int i = 0; i < nb * nd; i++, s = e) emb[i] = strtof(s, &e);
    } else if (!strncmp(line, "probs ", 6) && np < 64) {
      anchor[np] = (int)strtol(line + 6, &e, 10);
      s = e;
      for (int j = 0; j < nb; j++, s = e) probs[np][j] = strtod(s, &e);
      np++;
    } else if (!strcmp(line, "end") && nb <= 64 && nd <= 16) {
      struct dml_miner m;
      char tag[600];
      snprintf(tag, sizeof tag, "parametric fixture: create (%s)", args);
      if (expect_true(tag, make("parametric", "triplet", args, &m) == DML_OK)) {
        f++;
        continue;
      }
      double *dist = malloc((size_t)nb * nb * sizeof *dist), got[64];
      dml_pairwise_distances(emb, nb, nd, dist);
      for (int q = 0; q < np; q++) {
        dml_miner_parametric_probs(&m, dist + (size_t)anchor[q] * nb, lab, anchor[q], nb, got);
        snprintf(tag, sizeof tag, "parametric (%s): anchor %d's negative distribution = the reference's", args + 26,
                 anchor[q]);
        f += expect_close(tag, got, probs[q], (size_t)nb, 1e-12, 1e-9);
      }
      struct dml_rng r = dml_rng_init(9, DML_RNG_TEST, 1, 2);
      struct dml_tuples tu = {0};
      long cnt[64] = {0}, draws = 0;
      for (int it = 0; it < 400; it++) {
        tu.n = 0;
        m.mine(&m, emb, lab, nb, nd, &r, &tu);
        snprintf(tag, sizeof tag, "parametric (%s): the reference's anchors", args + 26);
        if (it == 0) {
          int ok = tu.n == np;
          for (int t = 0; ok && t < tu.n; t++) ok = tu.t[t][0] == anchor[t];
          f += expect_true(tag, ok);
        }
        for (int t = 0; t < tu.n; t++)
          if (tu.t[t][0] == anchor[0]) cnt[tu.t[t][2]]++, draws++;
      }
      double chi = 0;
      int dof = -1;
      for (int j = 0; j < nb; j++) {
        double ex = probs[0][j] * draws;
        if (ex < 5) continue; /* bins too small for the chi-square approximation */
        chi += (cnt[j] - ex) * (cnt[j] - ex) / ex;
        dof++;
      }
      snprintf(tag, sizeof tag, "parametric (%s): draws follow the distribution (chi-square, %d dof)", args + 26, dof);
      f += expect_true(tag, dof < 1 || chi < dof + 6 * sqrt(2.0 * dof));
      dml_tuples_free(&tu);
      dml_miner_free(&m);
      free(dist);
      blocks++;
    }
  }
  fclose(fx);
  f += expect_true("methods.txt holds the six parametric fixtures", blocks == 6);
  return f;
}

int main(void) {
  int f = 0;
  float e[B * D];
  int32_t y[B];
  struct dml_rng r0 = dml_rng_init(3, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < B; i++) {
    double s = 0;
    for (int k = 0; k < D; k++) e[i * D + k] = (float)dml_rng_normal(&r0), s += e[i * D + k] * e[i * D + k];
    for (int k = 0; k < D; k++) e[i * D + k] /= (float)sqrt(s);
    y[i] = i < 20 ? i / 4 : 100 + i; /* 5 classes of 4, then 4 singletons */
  }
  struct dml_tuples tu;
  const char *triplet_miners[] = {"random", "semihard", "softhard", "distance", "rho_distance", "parametric",
                                  "random_distance"};
  for (size_t k = 0; k < sizeof triplet_miners / sizeof *triplet_miners; k++) {
    const char *nm = triplet_miners[k];
    char tag[128];
    snprintf(tag, sizeof tag, "%s: mines", nm);
    f += expect_true(tag, !mine(nm, "triplet", NULL, e, y, k, &tu));
    int ok = tu.n > 0;
    for (int t = 0; t < tu.n; t++) {
      int a = tu.t[t][0], p = tu.t[t][1], n = tu.t[t][2];
      ok &= a >= 0 && a < B && p >= 0 && p < B && n >= 0 && n < B;
      if (!strcmp(nm, "random_distance")) ok &= 1; /* pseudo labels: only the index ranges */
      else if (!strcmp(nm, "rho_distance") && a == p) ok &= y[n] == y[a] && n != a;
      else if (!strcmp(nm, "distance") && a == p) ok &= count_label(y, y[a]) == 1 && y[n] != y[a]; /* lone anchor */
      else ok &= y[a] == y[p] && a != p && y[n] != y[a];
    }
    snprintf(tag, sizeof tag, "%s: every tuple valid (%d tuples)", nm, tu.n);
    f += expect_true(tag, ok);
    struct dml_tuples t2;
    mine(nm, "triplet", NULL, e, y, k, &t2);
    snprintf(tag, sizeof tag, "%s: same RNG stream, same tuples", nm);
    f += expect_true(tag, t2.n == tu.n && !memcmp(t2.t, tu.t, (size_t)tu.n * sizeof *tu.t));
    dml_tuples_free(&t2);
    dml_tuples_free(&tu);
  }
  /* random: B distinct valid triplets; inclusion frequency of one triplet = B/total */
  {
    long total = 0;
    for (int a = 0; a < B; a++) total += (long)(count_label(y, y[a]) - 1) * (B - count_label(y, y[a]));
    int distinct = 1, hits = 0;
    const int N = 4000;
    for (int it = 0; it < N; it++) {
      mine("random", "triplet", NULL, e, y, 1000 + it, &tu);
      if (tu.n != B) distinct = 0;
      for (int i = 0; i < tu.n; i++)
        for (int j = 0; j < i; j++) distinct &= memcmp(tu.t[i], tu.t[j], sizeof tu.t[i]) != 0;
      for (int i = 0; i < tu.n; i++) hits += tu.t[i][0] == 0 && tu.t[i][1] == 1 && tu.t[i][2] == 5;
      dml_tuples_free(&tu);
    }
    f += expect_true("random: exactly B distinct triplets", distinct);
    double pr = (double)B / total, mu = N * pr, sd = sqrt(N * pr * (1 - pr));
    f += expect_true("random: inclusion frequency B/total within 5 sigma", fabs(hits - mu) < 5 * sd + 1);
  }
  /* semihard: chosen negative is semihard whenever one exists */
  {
    int ok = 1, any = 0;
    for (int it = 0; it < 200; it++) {
      mine("semihard", "triplet", NULL, e, y, 2000 + it, &tu);
      for (int t = 0; t < tu.n; t++) {
        int a = tu.t[t][0], p = tu.t[t][1], n = tu.t[t][2];
        double dap = dist(e, a, p);
        int exists = 0;
        for (int j = 0; j < B; j++)
          exists |= y[j] != y[a] && dist(e, a, j) > dap && dist(e, a, j) < dap + 0.2;
        if (exists) {
          any = 1;
          double dan = dist(e, a, n);
          ok &= dan > dap - 1e-6 && dan < dap + 0.2 + 1e-6;
        }
      }
      f += expect_true("semihard: one tuple per anchor with a positive", tu.n == 20);
      dml_tuples_free(&tu);
    }
    f += expect_true("semihard: negatives satisfy d_ap < d_an < d_ap + margin when possible", ok && any);
    struct dml_miner m;
    f += expect_true("semihard with a margin-less loss is an error",
                     make("semihard", "multisimilarity", NULL, &m) == DML_ERR_ARG);
    f += expect_true("... unless --miner_semihard_margin is given",
                     make("semihard", "multisimilarity", "--miner_semihard_margin 0.3", &m) == DML_OK);
    dml_miner_free(&m);
  }
  /* softhard: from the hard sets when non-empty */
  {
    int ok = 1;
    for (int it = 0; it < 200; it++) {
      mine("softhard", "triplet", NULL, e, y, 3000 + it, &tu);
      for (int t = 0; t < tu.n; t++) {
        int a = tu.t[t][0], p = tu.t[t][1], n = tu.t[t][2];
        double minneg = INFINITY, maxpos = -INFINITY;
        for (int j = 0; j < B; j++) {
          if (y[j] != y[a]) minneg = fmin(minneg, dist(e, a, j));
          else if (j != a) maxpos = fmax(maxpos, dist(e, a, j));
        }
        int hp = 0, hn = 0;
        for (int j = 0; j < B; j++) {
          hp += j != a && y[j] == y[a] && dist(e, a, j) > minneg;
          hn += y[j] != y[a] && dist(e, a, j) < maxpos;
        }
        if (hp) ok &= dist(e, a, p) > minneg - 1e-6;
        if (hn) ok &= dist(e, a, n) < maxpos + 1e-6;
      }
      dml_tuples_free(&tu);
    }
    f += expect_true("softhard: positives / negatives from the hard sets when non-empty", ok);
  }
  /* rho_distance: flip probability and distance-weighted negatives */
  {
    long flips = 0, anchors = 0, cnt[B] = {0}, n0 = 0;
    const int N = 6000;
    for (int it = 0; it < N; it++) {
      mine("rho_distance", "contrastive", NULL, e, y, 4000 + it, &tu);
      for (int t = 0; t < tu.n; t++) {
        anchors++;
        if (tu.t[t][0] == tu.t[t][1]) flips++;
        else if (tu.t[t][0] == 0) cnt[tu.t[t][2]]++, n0++;
      }
      dml_tuples_free(&tu);
    }
    double mu = anchors * 0.2, sd = sqrt(anchors * 0.2 * 0.8);
    f += expect_true("rho_distance: 20 anchors per batch (singletons skipped)", anchors == 20L * N);
    f += expect_true("rho_distance: flipped with probability cp (5 sigma)", fabs(flips - mu) < 5 * sd);
    double w[B] = {0}, tot = 0;
    for (int j = 0; j < B; j++) {
      if (y[j] == y[0]) continue;
      double d = fmax(dist(e, 0, j), 0.5);
      w[j] = pow(d, 2.0 - D) * pow(1 - d * d / 4, -(D - 3) / 2.0);
      tot += w[j];
    }
    double chi = 0;
    int dof = -1;
    for (int j = 0; j < B; j++)
      if (w[j] > 0) {
        double ex = n0 * w[j] / tot;
        chi += (cnt[j] - ex) * (cnt[j] - ex) / ex;
        dof++;
      }
    /* chi-square with dof degrees of freedom: mean dof, sd sqrt(2 dof); bound at mean + 6 sd */
    f += expect_true("rho_distance: negatives follow the distance weights (chi-square)", chi < dof + 6 * sqrt(2.0 * dof));
  }
  /* npair / lifted */
  {
    f += expect_true("npair mines", !mine("npair", "npair", NULL, e, y, 5, &tu));
    int ok = tu.n == 20;
    for (int t = 0; t < tu.n; t++) ok &= y[tu.t[t][1]] == y[tu.t[t][0]] && tu.t[t][1] != tu.t[t][0] && tu.t[t][2] == -1;
    f += expect_true("npair: one (a, p, -1) per anchor with a positive", ok);
    dml_tuples_free(&tu);
    f += expect_true("lifted mines", !mine("lifted", "lifted", NULL, e, y, 5, &tu));
    ok = tu.n == 20;
    for (int t = 0; t < tu.n; t++) ok &= tu.t[t][0] == t && tu.t[t][1] == -1 && tu.t[t][2] == -1;
    f += expect_true("lifted: (a, -1, -1) for exactly the anchors with a positive", ok);
    dml_tuples_free(&tu);
  }
  /* intra_random */
  {
    f += expect_true("intra_random mines", !mine("intra_random", "contrastive", NULL, e, y, 5, &tu));
    int ok = tu.n == B;
    for (int t = 0; t < tu.n; t++) ok &= y[tu.t[t][0]] == y[tu.t[t][1]] && y[tu.t[t][0]] == y[tu.t[t][2]];
    f += expect_true("intra_random: B tuples, each within one label", ok);
    dml_tuples_free(&tu);
  }
  /* parametric against the reference's own batchminer/parametric.py: tests/fixtures/zoo/methods.txt holds, per
   * mode, the distribution each anchor's negative was drawn from (captured from its np.random.choice calls) */
  f += parametric_fixtures();
  {
    struct dml_miner m;
    f += expect_true("parametric: unknown mode is an error",
                     make("parametric", "triplet", "--miner_parametric_mode nonsense", &m) == DML_ERR_ARG);
    f += expect_true("parametric: one support point is an error",
                     make("parametric", "triplet", "--miner_parametric_n_support 1", &m) == DML_ERR_ARG);
  }
  /* global_hardneg with k = 1: the nearest other-label sample */
  {
    mine("global_hardneg", "triplet", "--miner_global_hardneg_k 1", e, y, 77, &tu);
    int ok = tu.n == 20;
    for (int t = 0; t < tu.n; t++) {
      int a = tu.t[t][0], best = -1;
      for (int j = 0; j < B; j++)
        if (y[j] != y[a] && (best < 0 || dist(e, a, j) < dist(e, a, best))) best = j;
      ok &= tu.t[t][2] == best && y[tu.t[t][1]] == y[a] && tu.t[t][1] != a;
    }
    f += expect_true("global_hardneg k=1: the nearest negative of each anchor", ok);
    dml_tuples_free(&tu);
    int ok3 = 1;
    for (int it = 0; it < 50; it++) {
      mine("global_hardneg", "triplet", "--miner_global_hardneg_k 3", e, y, 100 + it, &tu);
      for (int t = 0; t < tu.n; t++) {
        int a = tu.t[t][0], n = tu.t[t][2], closer = 0;
        for (int j = 0; j < B; j++) closer += y[j] != y[a] && dist(e, a, j) < dist(e, a, n);
        ok3 &= closer < 3;
      }
      dml_tuples_free(&tu);
    }
    f += expect_true("global_hardneg k=3: negatives among the 3 nearest", ok3);
  }
  /* registry and internal names */
  {
    const char *names[] = {"random", "semihard", "softhard", "distance", "rho_distance", "npair", "parametric",
                           "lifted", "random_distance", "intra_random"};
    const char *internal[] = {"random", "semihard", "softhard", "distance", "rho_distance", "npair", "parametric",
                              "lifted", "distance", "random"};
    int ok = 1;
    for (int k = 0; k < 10; k++) {
      struct dml_miner m;
      ok &= make(names[k], "triplet", NULL, &m) == DML_OK && !strcmp(m.internal_name, internal[k]);
      dml_miner_free(&m);
    }
    f += expect_true("every reference miner name is registered with its internal name", ok);
    struct dml_miner m;
    f += expect_true("unknown miner is an error", make("nosuch", "triplet", NULL, &m) == DML_ERR_ARG);
  }
  return test_report("test_zoo_miners", f);
}
