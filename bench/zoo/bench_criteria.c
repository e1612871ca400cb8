/* bench_criteria — loss + gradient time of one step for every criterion of the zoo (issue 5, point 6).
 * Batch: B = 112 (56 classes × 2 samples, class_random-like), D = 128, L2-normalised Gaussian embeddings; the
 * criterion's default miner is run first and timed separately. Class-based criteria use C = 100 (CUB-size) and
 * again C = 11,318 (SOP-size). Each case: one warm-up, then repeats until at least MIN_MS ms (CLOCK_MONOTONIC),
 * reporting the mean; one line per case on stdout and a CSV row appended to CSV.
 *   bench_criteria [MIN_MS=300] [CSV=bench_criteria.csv] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/train.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  double min_ms = argc > 1 ? atof(argv[1]) : 300;
  const char *csv = argc > 2 ? argv[2] : "bench_criteria.csv";
  enum { B = 112, D = 128 };
  float *emb = malloc(B * D * sizeof *emb), *grad = malloc(B * D * sizeof *grad);
  int32_t labels[B];
  struct dml_rng r = dml_rng_init(1, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < B; i++) {
    double s = 0;
    for (int k = 0; k < D; k++) emb[i * D + k] = (float)dml_rng_normal(&r), s += emb[i * D + k] * emb[i * D + k];
    for (int k = 0; k < D; k++) emb[i * D + k] /= (float)sqrt(s);
    labels[i] = (int32_t)((i / 2) * 37 % 100); /* 56 distinct classes of 2, all < 100 */
  }
  const char *cases[] = {
    "--loss triplet --batch_mining distance",  "--loss triplet --batch_mining semihard",
    "--loss margin --batch_mining distance",   "--loss contrastive --batch_mining distance",
    "--loss snr --batch_mining distance",      "--loss quadruplet --batch_mining distance",
    "--loss lifted --batch_mining lifted",     "--loss npair --batch_mining npair",
    "--loss angular --batch_mining npair",     "--loss histogram",
    "--loss multisimilarity",                  "--loss proxynca",
    "--loss softmax",                          "--loss arcface",
    "--loss softtriplet",                      "--loss oproxy",
    "--loss oproxy --loss_oproxy_mode nca",
  };
  int sizes[2] = {100, 11318};
  FILE *out = fopen(csv, "a");
  if (out) fprintf(out, "case,n_classes,B,D,miner_ms,loss_grad_ms,loss\n");
  printf("%-48s %7s %10s %12s\n", "case (B=112, D=128)", "C", "miner ms", "loss+grad ms");
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
    for (int si = 0; si < 2; si++) {
      struct dml_train_opts o;
      struct dml_train_cli tc;
      char args[256];
      snprintf(args, sizeof args, "%s --embed_dim %d --lr 1e-5", cases[k], D);
      dml_exit_on_error("bench_criteria", dml_train_cli_parse_string(&tc, &o, args));
      struct dml_opts opt = dml_train_cli_opts(&tc);
      int C = sizes[si];
      int32_t *classes = malloc(C * sizeof *classes);
      for (int c = 0; c < C; c++) classes[c] = c;
      struct dml_criterion cr;
      struct dml_miner m;
      struct dml_criterion_shape shape = {D, C, classes};
      dml_exit_on_error("bench_criteria", dml_criterion_create(o.loss, &opt, &shape, &cr));
      if (si == 1 && !cr.params.n) { /* the SOP size only matters for class-based criteria */
        dml_criterion_free(&cr);
        dml_train_cli_free(&tc);
        free(classes);
        continue;
      }
      dml_exit_on_error("bench_criteria", dml_miner_create(o.batch_mining, &opt, &m));
      struct dml_tuples tu = {0};
      int reps = 0;
      double t0 = now_ms(), tm = 0;
      do {
        dml_tuples_free(&tu);
        struct dml_rng mr = dml_rng_init(1, DML_RNG_MINER, 0, (uint64_t)reps);
        if (cr.requires_miner) m.mine(&m, emb, labels, B, D, &mr, &tu);
        reps++;
        tm = now_ms() - t0;
      } while (tm < min_ms / 4 && reps < 1000);
      double miner_ms = cr.requires_miner ? tm / reps : 0;
      double L = 0;
      if (cr.params.n) dml_params_zero_grad(&cr.params);
      cr.loss(&cr, emb, labels, B, D, &tu, &L, grad); /* warm-up */
      reps = 0;
      t0 = now_ms();
      double tl;
      do {
        if (cr.params.n) dml_params_zero_grad(&cr.params);
        cr.loss(&cr, emb, labels, B, D, &tu, &L, grad);
        reps++;
        tl = now_ms() - t0;
      } while (tl < min_ms && reps < 10000);
      printf("%-48s %7d %10.3f %12.3f   (loss %.5g, %d reps)\n", cases[k], C, miner_ms, tl / reps, L, reps);
      fflush(stdout);
      if (out) fprintf(out, "\"%s\",%d,%d,%d,%.4f,%.4f,%.9g\n", cases[k], C, B, D, miner_ms, tl / reps, L);
      dml_tuples_free(&tu);
      dml_criterion_free(&cr);
      dml_miner_free(&m);
      dml_train_cli_free(&tc);
      free(classes);
    }
  if (out) fclose(out);
  free(emb);
  free(grad);
  return 0;
}
