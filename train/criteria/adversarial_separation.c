/* adversarial_separation — DiVA's adversarial decorrelation criterion, the reference's intended behaviour (spec A9,
 * BUG C5: the reference lacks its flags and expects a dict of several embeddings; both resolved here). The
 * embedding (B, D) is cut into n equal chunks (n = largest chunk index in --diva_decorrelations + 1; D must be
 * divisible by n); chunk k stands for DiVA's k-th embedding. For every pair "s-t" with weight w
 * (--diva_rho_decorrelation, one value for all or one per pair):
 *   x̃_k = normalize(GR(chunk_k)), GR = gradient reversal (identity forward, −1 on the gradient),
 *   r = MLP_{s-t}(x̃_s) = W2·relu(W1·x̃_s + b1) + b2  (d → --diva_decorrnet_dim → d, nn.Linear default init),
 *   L += −w · mean_i mean_d (x̃_t ⊙ normalize(r))²
 * so the regressors learn to predict one chunk from another while the embedding is pushed to make that
 * impossible. Parameters: regressors.<s-t>.{0,2}.{weight,bias}, lr --diva_decorrnet_lr, no decay; no miner.
 * Gradients from the float64 tape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct advsep_state {
  int n_chunks, n_pairs, proj;
  int *src, *dst;
  double *w;
  struct dml_backend *host;
};

static int grad_reverse_rows(struct ad_tape *t, int a0, long n) {
  int first = t->n;
  for (long k = 0; k < n; k++) {
    int a = a0 + (int)k;
    double d = -1;
    ad_node(t, t->v[a], 1, &a, &d);
  }
  return first;
}

/* y (M, N) = x (M, K) · Wᵀ (W: N×K) + b (N) */
static int linear(struct ad_tape *t, int x, int M, int K, int W, int b, int N) {
  int y = ad_matmul_nt(t, x, M, W, N, K);
  int first = t->n;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) ad_add(t, y + i * N + j, b + j);
  return first;
}

static dml_status advsep_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                              const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)labels, (void)tu;
  struct advsep_state *s = c->state;
  if (D % s->n_chunks)
    return dml_error(DML_ERR_ARG, "adversarial_separation: embedding dim %d is not divisible into %d chunks", D,
                     s->n_chunks);
  int d = D / s->n_chunks, P = s->proj;
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int xr = grad_reverse_rows(&t, x, (long)B * D);
  /* chunks as contiguous (B, d) blocks, normalised */
  int *chunk = xmalloc((size_t)s->n_chunks * sizeof *chunk);
  for (int k = 0; k < s->n_chunks; k++) {
    int first = t.n;
    for (int i = 0; i < B; i++)
      for (int j = 0; j < d; j++) ad_addc(&t, xr + i * D + k * d + j, 0);
    chunk[k] = ad_normalize_rows(&t, first, B, d);
  }
  int *pleaf = xmalloc((size_t)c->params.n * sizeof *pleaf);
  for (int q = 0; q < c->params.n; q++) pleaf[q] = ad_leaves_f32(&t, c->params.p[q].t.data, (long)c->params.p[q].n);
  int L = ad_const(&t, 0);
  int *sq = xmalloc((size_t)B * d * sizeof *sq);
  for (int q = 0; q < s->n_pairs; q++) {
    int W1 = pleaf[4 * q], b1 = pleaf[4 * q + 1], W2 = pleaf[4 * q + 2], b2 = pleaf[4 * q + 3];
    int h = linear(&t, chunk[s->src[q]], B, d, W1, b1, P);
    int hr = t.n;
    for (long k = 0; k < (long)B * P; k++) ad_relu(&t, h + (int)k);
    int r = ad_normalize_rows(&t, linear(&t, hr, B, P, W2, b2, d), B, d);
    for (long k = 0; k < (long)B * d; k++) sq[k] = ad_square(&t, ad_mul(&t, chunk[s->dst[q]] + (int)k, r + (int)k));
    L = ad_add(&t, L, ad_scale(&t, ad_mean(&t, sq, B * d), -s->w[q]));
  }
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  for (int q = 0; q < c->params.n; q++) crit_grad_acc(&t, pleaf[q], (long)c->params.p[q].n, c->params.p[q].t.grad);
  free(chunk);
  free(pleaf);
  free(sq);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void advsep_destroy(struct dml_criterion *c) {
  struct advsep_state *s = c->state;
  dml_params_free(&c->params);
  dml_backend_free(s->host);
  free(s->src);
  free(s->dst);
  free(s->w);
  free(s);
}

static const struct dml_flag adversarial_separation_flags[] = {
  DML_METHOD_FLAG(diva_decorrnet_dim, INT, "512", "adversarial_separation: hidden width of each regressor MLP (flag missing in the reference, BUG C5)"),
  DML_METHOD_FLAG(diva_decorrnet_lr, FLOAT, "1e-5", "adversarial_separation: lr of the regressors"),
  DML_METHOD_FLAG(diva_decorrelations, STRLIST, "0-1", "adversarial_separation: source-target pairs of embedding chunks (the embedding is cut into max index + 1 equal chunks)"),
  DML_METHOD_FLAG(diva_rho_decorrelation, FLOATLIST, "1500", "adversarial_separation: weight per pair (one value = every pair)"),
};

static dml_status adversarial_separation_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                                struct dml_criterion *c) {
  const struct dml_strlist *pairs = dml_opts_strlist(opt, "diva_decorrelations");
  const struct dml_floatlist *rho = dml_opts_floatlist(opt, "diva_rho_decorrelation");
  int n = pairs->n, proj = dml_opts_int(opt, "diva_decorrnet_dim");
  if (n < 1) return dml_error(DML_ERR_ARG, "adversarial_separation needs --diva_decorrelations (e.g. 0-1)");
  if (rho->n != 1 && rho->n != n)
    return dml_error(DML_ERR_ARG, "--diva_rho_decorrelation: give one weight or one per pair (%d)", n);
  if (proj < 1) return dml_error(DML_ERR_ARG, "--diva_decorrnet_dim must be >= 1");
  struct advsep_state *s = xcalloc(1, sizeof *s);
  s->n_pairs = n;
  s->proj = proj;
  s->src = xmalloc((size_t)n * sizeof *s->src);
  s->dst = xmalloc((size_t)n * sizeof *s->dst);
  s->w = xmalloc((size_t)n * sizeof *s->w);
  for (int q = 0; q < n; q++) {
    int a, b, used = 0;
    if (sscanf(pairs->v[q], "%d-%d%n", &a, &b, &used) != 2 || pairs->v[q][used] ||
        a < 0 || b < 0 || a == b || a > 63 || b > 63) {
      dml_status st = dml_error(DML_ERR_ARG, "--diva_decorrelations '%s': expected SOURCE-TARGET chunk indices like 0-1",
                                pairs->v[q]);
      free(s->src), free(s->dst), free(s->w), free(s);
      return st;
    }
    s->src[q] = a, s->dst[q] = b;
    s->w[q] = rho->n == 1 ? rho->v[0] : rho->v[q];
    if (a + 1 > s->n_chunks) s->n_chunks = a + 1;
    if (b + 1 > s->n_chunks) s->n_chunks = b + 1;
  }
  if (shape->embed_dim % s->n_chunks) {
    dml_status st = dml_error(DML_ERR_ARG, "adversarial_separation: --embed_dim %d is not divisible into %d chunks",
                              shape->embed_dim, s->n_chunks);
    free(s->src), free(s->dst), free(s->w), free(s);
    return st;
  }
  int d = shape->embed_dim / s->n_chunks, P = s->proj;
  s->host = dml_backend_cpu_new();
  dml_params_init(&c->params, s->host);
  for (int q = 0; q < n; q++) {
    char name[96];
    snprintf(name, sizeof name, "regressors.%d-%d.0.weight", s->src[q], s->dst[q]);
    dml_params_declare(&c->params, name, 2, (int[]){P, d}, 0, 1);
    snprintf(name, sizeof name, "regressors.%d-%d.0.bias", s->src[q], s->dst[q]);
    dml_params_declare(&c->params, name, 1, (int[]){P}, 0, 1);
    snprintf(name, sizeof name, "regressors.%d-%d.2.weight", s->src[q], s->dst[q]);
    dml_params_declare(&c->params, name, 2, (int[]){d, P}, 0, 1);
    snprintf(name, sizeof name, "regressors.%d-%d.2.bias", s->src[q], s->dst[q]);
    dml_params_declare(&c->params, name, 1, (int[]){d}, 0, 1);
  }
  dml_params_alloc(&c->params);
  struct dml_rng r = dml_rng_init((uint64_t)dml_opts_int(opt, "seed"), DML_RNG_INIT, 0xc417, 6);
  for (int q = 0; q < c->params.n; q++) {
    double bound = 1 / sqrt((double)(q % 4 < 2 ? d : P)); /* nn.Linear: U(±1/√fan_in) for weight and bias */
    for (size_t k = 0; k < c->params.p[q].n; k++)
      c->params.p[q].t.data[k] = (float)((2 * dml_rng_uniform(&r) - 1) * bound);
  }
  c->state = s;
  c->params_lr = dml_opts_float(opt, "diva_decorrnet_lr");
  c->loss = advsep_loss;
  c->destroy = advsep_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_adversarial_separation = {
  .name = "adversarial_separation",
  .summary = "DiVA adversarial separation of embedding chunks",
  DML_METHOD_FLAGS(adversarial_separation_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = adversarial_separation_create,
};
