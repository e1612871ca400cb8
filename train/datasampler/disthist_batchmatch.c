/* disthist_batchmatch — batch matching by distance histograms on the embedding storage (spec A7). Per batch:
 * a class-balanced big batch of --data_batchmatch_bigbs items (class_random composition: bigbs/spc classes drawn
 * uniformly with replacement, spc samples each); --data_batchmatch_ncomps candidate batches, each bs/spc classes
 * drawn (with replacement) from the big batch's class groups and spc samples of that group without replacement
 * (with replacement when the group is smaller); the candidate minimising
 *   ‖μ_big − μ_cand‖ + ‖σ_big − σ_cand‖ + 75·(W₁(h_big, h_cand) + W₁(h_cand, h_big))
 * is returned, μ/σ = per-dimension mean / population std of the embeddings, h = 50-bin histograms (normalised to
 * sum 1) of the pairwise distances (i < j) over the big batch's distance range, and W₁ between the two lists of
 * 50 bin heights taken as samples (QUIRK of the reference: mean |sorted(h₁) − sorted(h₂)|, so the two terms are
 * equal). Falls back to class_random until the storage is complete. Randomness: (seed, SAMPLER, epoch, step). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/methods.h"

enum { NBINS = 50 };

struct disthist {
  int bigbs, ncomps;            /* --data_batchmatch_bigbs, --data_batchmatch_ncomps */
};

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

struct stats {
  double *mu, *sd, h[NBINS];
};

static double row_dist(const struct dml_sampler *s, int32_t a, int32_t b) {
  int D = s->storage_dim;
  double acc = 0;
  for (int k = 0; k < D; k++) {
    double u = (double)s->storage[(size_t)a * D + k] - s->storage[(size_t)b * D + k];
    acc += u * u;
  }
  return sqrt(acc);
}

static void stats_of(const struct dml_sampler *s, const int32_t *ids, int n, double lo, double hi, struct stats *st) {
  int D = s->storage_dim;
  for (int k = 0; k < D; k++) {
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += s->storage[(size_t)ids[i] * D + k] / n;
    for (int i = 0; i < n; i++) {
      double u = s->storage[(size_t)ids[i] * D + k] - m;
      v += u * u / n;
    }
    st->mu[k] = m;
    st->sd[k] = sqrt(v);
  }
  memset(st->h, 0, sizeof st->h);
  double tot = 0;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      double d = row_dist(s, ids[i], ids[j]);
      if (d < lo || d > hi) continue;
      int b = hi > lo ? (int)((d - lo) / (hi - lo) * NBINS) : 0;
      if (b >= NBINS) b = NBINS - 1;
      st->h[b] += 1;
      tot += 1;
    }
  for (int b = 0; b < NBINS && tot > 0; b++) st->h[b] /= tot;
}

static double w1_heights(const double *a, const double *b) {
  double x[NBINS], y[NBINS], acc = 0;
  memcpy(x, a, sizeof x);
  memcpy(y, b, sizeof y);
  qsort(x, NBINS, sizeof *x, cmp_double);
  qsort(y, NBINS, sizeof *y, cmp_double);
  for (int i = 0; i < NBINS; i++) acc += fabs(x[i] - y[i]);
  return acc / NBINS;
}

static void batchmatch_batch(const struct dml_sampler *s, long epoch, long step, int32_t *idx) {
  const struct disthist *st = s->state;
  if (!s->storage || s->storage_filled < s->data.n) {
    dml_sampler_class_random_batch(s, epoch, step, idx);
    return;
  }
  struct dml_rng r = dml_rng_init(s->seed, DML_RNG_SAMPLER, (uint64_t)epoch, (uint64_t)step);
  int spc = s->samples_per_class, G = st->bigbs / spc > 0 ? st->bigbs / spc : 1, nbig = G * spc, D = s->storage_dim;
  int32_t *big = xmalloc((size_t)nbig * sizeof *big), *cand = xmalloc((size_t)s->bs * sizeof *cand);
  int32_t *grp = xmalloc((size_t)spc * sizeof *grp);
  for (int g = 0; g < G; g++) {
    int c = (int)dml_rng_below(&r, (uint32_t)s->data.n_classes);
    for (int j = 0; j < spc; j++) big[g * spc + j] = s->by_class[c][dml_rng_below(&r, (uint32_t)s->class_count[c])];
  }
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < nbig; i++)
    for (int j = i + 1; j < nbig; j++) {
      double d = row_dist(s, big[i], big[j]);
      lo = fmin(lo, d), hi = fmax(hi, d);
    }
  struct stats sb, sc;
  sb.mu = xmalloc((size_t)D * sizeof(double)), sb.sd = xmalloc((size_t)D * sizeof(double));
  sc.mu = xmalloc((size_t)D * sizeof(double)), sc.sd = xmalloc((size_t)D * sizeof(double));
  stats_of(s, big, nbig, lo, hi, &sb);
  double best = INFINITY;
  int ncomps = st->ncomps > 0 ? st->ncomps : 1;
  for (int t = 0; t < ncomps; t++) {
    for (int g = 0; g < s->bs / spc; g++) {
      int bg = (int)dml_rng_below(&r, (uint32_t)G);
      /* the group's members are big[bg·spc …]; spc of them without replacement = a shuffle */
      for (int j = 0; j < spc; j++) grp[j] = big[bg * spc + j];
      dml_rng_shuffle_i32(&r, grp, (uint32_t)spc);
      for (int j = 0; j < spc; j++) cand[g * spc + j] = grp[j];
    }
    stats_of(s, cand, s->bs, lo, hi, &sc);
    double dm = 0, ds = 0;
    for (int k = 0; k < D; k++) {
      dm += (sb.mu[k] - sc.mu[k]) * (sb.mu[k] - sc.mu[k]);
      ds += (sb.sd[k] - sc.sd[k]) * (sb.sd[k] - sc.sd[k]);
    }
    double score = sqrt(dm) + sqrt(ds) + 75 * (w1_heights(sb.h, sc.h) + w1_heights(sc.h, sb.h));
    if (score < best) {
      best = score;
      memcpy(idx, cand, (size_t)s->bs * sizeof *idx);
    }
  }
  free(big);
  free(cand);
  free(grp);
  free(sb.mu), free(sb.sd), free(sc.mu), free(sc.sd);
}

static const struct dml_flag disthist_flags[] = {
  DML_METHOD_FLAG(data_batchmatch_bigbs, INT, "512", "big-batch size for the coreset / batch-match samplers"),
  DML_METHOD_FLAG(data_batchmatch_ncomps, INT, "10", "candidate batches compared (disthist_batchmatch)"),
};

static dml_status disthist_create(const struct dml_opts *opt, struct dml_sampler *s) {
  struct disthist d = {dml_opts_int(opt, "data_batchmatch_bigbs"), dml_opts_int(opt, "data_batchmatch_ncomps")};
  if (d.bigbs < s->samples_per_class)
    return dml_error(DML_ERR_ARG, "--data_batchmatch_bigbs must be >= --samples_per_class");
  struct disthist *p = xmalloc(sizeof *p);
  *p = d;
  s->state = p;
  return DML_OK;
}

const struct dml_sampler_def dml_sampler_def_disthist_batchmatch = {
  .name = "disthist_batchmatch",
  .summary = "candidate batches whose distance histogram best matches a big batch",
  DML_METHOD_FLAGS(disthist_flags),
  .needs_storage = 1,
  .create = disthist_create,
  .batch = batchmatch_batch,
};
