/* nir — the Non-Isotropy Regularisation criterion (Kirchhof et al., CVPR 2022) as the NIR reference computes it
 * (spec B4, N1 replicated literally):
 *   L = mean_i exp(½‖z_i‖² − logdet_i) + w_align · L_PA,
 * z_i, logdet_i = T(x_i | c_i), c_i = normalize(P)[y_i] (not detached), L_PA = ProxyAnchor (oproxy mode anchor with
 * the --loss_oproxy_* α/δ) on (x, P), w_align = --loss_nir_w_align. Parameters: "proxies" P (C, D), init N(0,1)/8,
 * lr = --lr · --loss_nir_proxy_lrmulti; "flow" (all flow weights, one flat tensor), lr = --lr · --loss_nir_lrmulti;
 * the two learning rates are given per parameter in c->param_lr. No miner.
 * Flow T (FrEIA GraphINN semantics): K = --loss_nir_nf_cblocks blocks of [fixed random permutation (numpy's
 * legacy RandomState(k).permutation(D), reproduced here with MT19937) → GLOW coupling]. Coupling: x₁ = first
 * ⌊D/2⌋ dims, x₂ the rest; [s₂,t₂] = net₂([x₂, c]); y₁ = exp(ŝ₂)⊙x₁ + t₂; [s₁,t₁] = net₁([y₁, c]);
 * y₂ = exp(ŝ₁)⊙x₂ + t₁; ŝ = clamp·0.636·atan(s), clamp = --loss_nir_nf_clamp_alpha; logdet += Σŝ₂ + Σŝ₁;
 * output [y₁, y₂]. Subnet: Linear(in, W), (depth−2)×[ReLU, Linear(W, W)], ReLU, Linear(W, out), W =
 * --loss_nir_nf_fc_width, depth = --loss_nir_nf_fc_depth; PyTorch default init (U(±1/√fan_in) for weights and
 * biases) or, with --loss_nir_nf_fc_init xavier, Xavier-uniform weights and zero biases except the first Linear.
 * Flat layout of "flow": block by block, net₂ then net₁, layer by layer, weight (out, in) then bias (out).
 * --loss_nir_nf_cond_mode: dense (every block conditioned on c), start / mid / end (only block 0 / K/2 / K−1);
 * the dense_embed* modes (an extra condition MLP) are not provided (an error names them).
 * --loss_nir_noise > 0: x ← normalize(x + noise·U[0,1)) first (counter RNG keyed by seed and call count).
 * Gradients from the float64 tape. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/criteria/ad.h"

struct nir_state {
  int n_classes, D, K, width, depth, l1, l2;
  int32_t *classes;
  int *perm;        /* (K, D) */
  int *cond;        /* (K) block k is conditioned */
  long *off;        /* (K·2·depth) offset of each layer's weight in "flow" */
  int *lin, *lout;  /* (K·2·depth) layer shapes */
  double clamp, w_align, noise, pa, na, pd, nd;
  uint64_t seed, calls;
  double lr[2];
  struct dml_backend *host;
};

// ---------------------------------------------------------------------------------------------- numpy legacy RNG
struct mt19937 {
  uint32_t key[624];
  int pos;
};

static void mt_seed(struct mt19937 *m, uint32_t seed) {
  m->key[0] = seed;
  for (int i = 1; i < 624; i++) m->key[i] = 1812433253u * (m->key[i - 1] ^ (m->key[i - 1] >> 30)) + (uint32_t)i;
  m->pos = 624;
}

static uint32_t mt_next(struct mt19937 *m) {
  if (m->pos >= 624) {
    for (int i = 0; i < 624; i++) {
      uint32_t y = (m->key[i] & 0x80000000u) | (m->key[(i + 1) % 624] & 0x7fffffffu);
      m->key[i] = m->key[(i + 397) % 624] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
    }
    m->pos = 0;
  }
  uint32_t y = m->key[m->pos++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

/* numpy RandomState(seed).permutation(n): Fisher–Yates from the end with masked rejection sampling */
static void numpy_permutation(uint32_t seed, int n, int *out) {
  struct mt19937 m;
  mt_seed(&m, seed);
  for (int i = 0; i < n; i++) out[i] = i;
  for (int i = n - 1; i >= 1; i--) {
    uint32_t mask = (uint32_t)i, v;
    mask |= mask >> 1, mask |= mask >> 2, mask |= mask >> 4, mask |= mask >> 8, mask |= mask >> 16;
    while ((v = mt_next(&m) & mask) > (uint32_t)i) {
    }
    int t = out[i];
    out[i] = out[v];
    out[v] = t;
  }
}

// ---------------------------------------------------------------------------------------------- flow

/* subnet on the contiguous input in (B, nin); layers L0 … L0+depth−1 of the flat flow leaves f */
static int subnet(struct ad_tape *t, const struct nir_state *s, int f, int L0, int in, int B) {
  int h = in;
  for (int l = 0; l < s->depth; l++) {
    int li = L0 + l, nin = s->lin[li], nout = s->lout[li];
    if (l > 0) {
      int first = t->n;
      for (long k = 0; k < (long)B * nin; k++) ad_relu(t, h + (int)k);
      h = first;
    }
    int W = f + (int)s->off[li], b = W + nout * nin;
    int y = ad_matmul_nt(t, h, B, W, nout, nin);
    int first = t->n;
    for (int i = 0; i < B; i++)
      for (int j = 0; j < nout; j++) ad_add(t, y + i * nout + j, b + j);
    h = first;
  }
  return h;
}

/* [a (B, na) | c (B, nc)] → contiguous (B, na + nc); nc = 0 for no condition */
static int concat(struct ad_tape *t, int a, int na, int cnd, int nc, int B, int *buf) {
  int m = 0;
  for (int i = 0; i < B; i++) {
    for (int k = 0; k < na; k++) buf[m++] = a + i * na + k;
    for (int k = 0; k < nc; k++) buf[m++] = cnd + i * nc + k;
  }
  return ad_gather(t, buf, m);
}

static dml_status nir_loss(struct dml_criterion *c, const float *emb, const int32_t *labels, int B, int D,
                           const struct dml_tuples *tu, double *loss, float *grad_emb) {
  (void)tu;
  struct nir_state *s = c->state;
  if (D != s->D) return dml_error(DML_ERR_ARG, "nir: embedding dim %d, criterion built for %d", D, s->D);
  int C = s->n_classes;
  int *y = xmalloc((size_t)B * sizeof *y);
  dml_status st = crit_label_pos("nir", s->classes, C, labels, B, y);
  if (st) {
    free(y);
    return st;
  }
  struct ad_tape t = crit_tape_take(c);
  int x = ad_leaves_f32(&t, emb, (long)B * D);
  int P = ad_leaves_f32(&t, c->params.p[0].t.data, (long)C * D);
  int f = ad_leaves_f32(&t, c->params.p[1].t.data, (long)c->params.p[1].n);
  int LPA = crit_proxyanchor(&t, x, P, y, B, C, D, s->pa, s->na, s->pd, s->nd);
  int Pn = ad_normalize_rows(&t, P, C, D);
  long bufn = (long)B * (2 * D + D) + 4 * D + B + 16;
  int *buf = xmalloc((size_t)bufn * sizeof *buf), *rowbuf = xmalloc((size_t)(4 * D + B + 16) * sizeof *rowbuf);
  for (int i = 0; i < B; i++)
    for (int k = 0; k < D; k++) buf[i * D + k] = Pn + y[i] * D + k;
  int cnd = ad_gather(&t, buf, (long)B * D); /* (B, D) condition */
  int z = x;
  if (s->noise > 0) {
    struct dml_rng r = dml_rng_init(s->seed, DML_RNG_DROPOUT, s->calls++, 0x4e1);
    int first = t.n;
    for (long k = 0; k < (long)B * D; k++) ad_addc(&t, x + (int)k, s->noise * dml_rng_uniform(&r));
    z = ad_normalize_rows(&t, first, B, D);
  }
  int *ld = xmalloc((size_t)B * sizeof *ld);
  for (int i = 0; i < B; i++) ld[i] = ad_const(&t, 0);
  int l1 = s->l1, l2 = s->l2;
  for (int k = 0; k < s->K; k++) {
    const int *pm = s->perm + (size_t)k * D;
    int nc = s->cond[k] ? D : 0;
    /* permute, split */
    for (int i = 0; i < B; i++)
      for (int j = 0; j < D; j++) buf[i * D + j] = z + i * D + pm[j];
    for (int i = 0; i < B; i++)
      for (int j = 0; j < l1; j++) buf[(long)B * D + i * l1 + j] = buf[i * D + j];
    int x1 = ad_gather(&t, buf + (long)B * D, (long)B * l1);
    for (int i = 0; i < B; i++)
      for (int j = 0; j < l2; j++) buf[(long)B * D + i * l2 + j] = buf[i * D + l1 + j];
    int x2 = ad_gather(&t, buf + (long)B * D, (long)B * l2);
    int L0 = k * 2 * s->depth;
    /* y1 = exp(ŝ2)⊙x1 + t2, [s2, t2] = net2([x2, c]) */
    int a2 = subnet(&t, s, f, L0, concat(&t, x2, l2, cnd, nc, B, buf), B);
    for (int i = 0; i < B; i++) {
      for (int j = 0; j < l1; j++) rowbuf[j] = ad_scale(&t, ad_atan(&t, a2 + i * 2 * l1 + j), s->clamp * 0.636);
      ld[i] = ad_add(&t, ld[i], ad_sum(&t, rowbuf, l1));
      for (int j = 0; j < l1; j++)
        buf[i * l1 + j] = ad_add(&t, ad_mul(&t, ad_exp(&t, rowbuf[j]), x1 + i * l1 + j), a2 + i * 2 * l1 + l1 + j);
    }
    int y1 = ad_gather(&t, buf, (long)B * l1);
    /* y2 = exp(ŝ1)⊙x2 + t1, [s1, t1] = net1([y1, c]) */
    int a1 = subnet(&t, s, f, L0 + s->depth, concat(&t, y1, l1, cnd, nc, B, buf), B);
    for (int i = 0; i < B; i++) {
      for (int j = 0; j < l2; j++) rowbuf[j] = ad_scale(&t, ad_atan(&t, a1 + i * 2 * l2 + j), s->clamp * 0.636);
      ld[i] = ad_add(&t, ld[i], ad_sum(&t, rowbuf, l2));
      for (int j = 0; j < l2; j++)
        buf[i * l2 + j] = ad_add(&t, ad_mul(&t, ad_exp(&t, rowbuf[j]), x2 + i * l2 + j), a1 + i * 2 * l2 + l2 + j);
    }
    int y2 = ad_gather(&t, buf, (long)B * l2);
    for (int i = 0; i < B; i++) {
      for (int j = 0; j < l1; j++) buf[i * D + j] = y1 + i * l1 + j;
      for (int j = 0; j < l2; j++) buf[i * D + l1 + j] = y2 + i * l2 + j;
    }
    z = ad_gather(&t, buf, (long)B * D);
  }
  int *ell = xmalloc((size_t)B * sizeof *ell);
  for (int i = 0; i < B; i++) {
    for (int k = 0; k < D; k++) rowbuf[k] = ad_square(&t, z + i * D + k);
    ell[i] = ad_exp(&t, ad_sub(&t, ad_scale(&t, ad_sum(&t, rowbuf, D), 0.5), ld[i]));
  }
  int L = ad_add(&t, ad_mean(&t, ell, B), ad_scale(&t, LPA, s->w_align));
  crit_finish(&t, L, x, (long)B * D, loss, grad_emb);
  crit_grad_acc(&t, P, (long)C * D, c->params.p[0].t.grad);
  crit_grad_acc(&t, f, (long)c->params.p[1].n, c->params.p[1].t.grad);
  free(buf);
  free(rowbuf);
  free(ld);
  free(ell);
  free(y);
  crit_tape_give(c, &t);
  return DML_OK;
}

static void nir_destroy(struct dml_criterion *c) {
  struct nir_state *s = c->state;
  dml_params_free(&c->params);
  dml_backend_free(s->host);
  free(s->classes), free(s->perm), free(s->cond), free(s->off), free(s->lin), free(s->lout);
  free(s);
}

static const struct dml_flag nir_flags[] = {
  DML_METHOD_FLAG(loss_nir_w_align, FLOAT, "0.01", "nir: weight of the ProxyAnchor term"),
  DML_METHOD_FLAG(loss_nir_proxy_lrmulti, FLOAT, "4000", "nir: proxy lr = lr * proxy_lrmulti"),
  DML_METHOD_FLAG(loss_nir_lrmulti, FLOAT, "50", "nir: flow lr = lr * lrmulti"),
  DML_METHOD_FLAG(loss_nir_logmatch, FLOAT, "1.0", "nir: unused (as the reference)"),
  DML_METHOD_FLAG(loss_nir_pos_alpha, FLOAT, "1.0", "nir: unused (as the reference)"),
  DML_METHOD_FLAG(loss_nir_neg_alpha, FLOAT, "1.0", "nir: unused (as the reference)"),
  DML_METHOD_FLAG(loss_nir_margin, FLOAT, "0.1", "nir: unused (as the reference)"),
  DML_METHOD_FLAG(loss_nir_delta, FLOAT, "0.2", "nir: unused (as the reference)"),
  DML_METHOD_FLAG(loss_nir_pair_perc, FLOAT, "1.0", "nir: unused (as the reference)"),
  DML_METHOD_FLAG(loss_nir_noise, FLOAT, "0", "nir: if > 0, x <- normalize(x + noise * U[0,1)) before the flow"),
  DML_METHOD_FLAG(loss_nir_nf_cond_mode, STR, "dense", "nir: conditioned coupling blocks: dense, start, mid, end"),
  DML_METHOD_FLAG(loss_nir_nf_fc_depth, INT, "8", "nir: Linear layers per coupling subnet"),
  DML_METHOD_FLAG(loss_nir_nf_fc_width, INT, "128", "nir: hidden width of the subnets"),
  DML_METHOD_FLAG(loss_nir_nf_cblocks, INT, "5", "nir: (permute + coupling) blocks"),
  DML_METHOD_FLAG(loss_nir_nf_fc_dropout, FLOAT, "0", "nir: unused (no dropout layer is built, as the reference)"),
  DML_METHOD_FLAG(loss_nir_nf_clamp_alpha, FLOAT, "2.0", "nir: coupling soft clamp"),
  DML_METHOD_FLAG(loss_nir_nf_fc_init, STR, "none", "nir: none (PyTorch default) or xavier"),
  DML_METHOD_FLAG(loss_oproxy_pos_alpha, FLOAT, "32", "oproxy: positive scale"),
  DML_METHOD_FLAG(loss_oproxy_neg_alpha, FLOAT, "32", "oproxy: negative scale"),
  DML_METHOD_FLAG(loss_oproxy_pos_delta, FLOAT, "0.1", "oproxy: positive margin"),
  DML_METHOD_FLAG(loss_oproxy_neg_delta, FLOAT, "-0.1", "oproxy: negative margin"),
};

static dml_status nir_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                             struct dml_criterion *c) {
  const char *mode = dml_opts_str(opt, "loss_nir_nf_cond_mode");
  const char *init = dml_opts_str(opt, "loss_nir_nf_fc_init");
  int D = shape->embed_dim, K = dml_opts_int(opt, "loss_nir_nf_cblocks");
  int depth = dml_opts_int(opt, "loss_nir_nf_fc_depth"), W = dml_opts_int(opt, "loss_nir_nf_fc_width");
  if (strcmp(mode, "dense") && strcmp(mode, "start") && strcmp(mode, "mid") && strcmp(mode, "end"))
    return dml_error(DML_ERR_ARG, "--loss_nir_nf_cond_mode '%s': this build has dense, start, mid, end "
                     "(dense_embed, dense_embed_multi, dense_embed_multi_stacked are not implemented)", mode);
  if (strcmp(init, "none") && strcmp(init, "xavier"))
    return dml_error(DML_ERR_ARG, "--loss_nir_nf_fc_init '%s': expected none or xavier", init);
  if (D < 2 || K < 1 || depth < 2 || W < 1)
    return dml_error(DML_ERR_ARG, "nir: needs --embed_dim >= 2, --loss_nir_nf_cblocks >= 1, "
                     "--loss_nir_nf_fc_depth >= 2, --loss_nir_nf_fc_width >= 1");
  struct nir_state *s = xcalloc(1, sizeof *s);
  s->n_classes = shape->n_classes, s->D = D, s->K = K, s->width = W, s->depth = depth;
  s->l1 = D / 2, s->l2 = D - D / 2;
  s->classes = xmalloc((size_t)shape->n_classes * sizeof *s->classes);
  memcpy(s->classes, shape->classes, (size_t)shape->n_classes * sizeof *shape->classes);
  s->clamp = dml_opts_float(opt, "loss_nir_nf_clamp_alpha");
  s->w_align = dml_opts_float(opt, "loss_nir_w_align");
  s->noise = dml_opts_float(opt, "loss_nir_noise");
  s->pa = dml_opts_float(opt, "loss_oproxy_pos_alpha"), s->na = dml_opts_float(opt, "loss_oproxy_neg_alpha");
  s->pd = dml_opts_float(opt, "loss_oproxy_pos_delta"), s->nd = dml_opts_float(opt, "loss_oproxy_neg_delta");
  s->seed = (uint64_t)dml_opts_int(opt, "seed");
  s->perm = xmalloc((size_t)K * D * sizeof *s->perm);
  s->cond = xmalloc((size_t)K * sizeof *s->cond);
  for (int k = 0; k < K; k++) {
    numpy_permutation((uint32_t)k, D, s->perm + (size_t)k * D);
    s->cond[k] = !strcmp(mode, "dense") || (!strcmp(mode, "start") && k == 0) ||
                 (!strcmp(mode, "mid") && k == K / 2) || (!strcmp(mode, "end") && k == K - 1);
  }
  int nl = K * 2 * depth;
  s->off = xmalloc((size_t)nl * sizeof *s->off);
  s->lin = xmalloc((size_t)nl * sizeof *s->lin);
  s->lout = xmalloc((size_t)nl * sizeof *s->lout);
  long total = 0;
  for (int k = 0; k < K; k++)
    for (int net = 0; net < 2; net++) { /* net₂ (input x₂, output 2·l1), then net₁ (input y₁, output 2·l2) */
      int nc = s->cond[k] ? D : 0;
      int in = (net == 0 ? s->l2 : s->l1) + nc, out = 2 * (net == 0 ? s->l1 : s->l2);
      for (int l = 0; l < depth; l++) {
        int li = (k * 2 + net) * depth + l;
        s->lin[li] = l == 0 ? in : W;
        s->lout[li] = l == depth - 1 ? out : W;
        s->off[li] = total;
        total += (long)s->lout[li] * s->lin[li] + s->lout[li];
      }
    }
  s->host = dml_backend_cpu_new();
  dml_params_init(&c->params, s->host);
  dml_params_declare(&c->params, "proxies", 2, (int[]){shape->n_classes, D}, 0, 1);
  dml_params_declare(&c->params, "flow", 1, (int[]){(int)total}, 0, 1);
  dml_params_alloc(&c->params);
  struct dml_rng r = dml_rng_init((uint64_t)dml_opts_int(opt, "seed"), DML_RNG_INIT, 0xc417, 7);
  for (size_t i = 0; i < c->params.p[0].n; i++) c->params.p[0].t.data[i] = (float)(dml_rng_normal(&r) / 8);
  float *fl = c->params.p[1].t.data;
  int xavier = !strcmp(init, "xavier");
  for (int li = 0; li < nl; li++) {
    int nin = s->lin[li], nout = s->lout[li];
    double bw = xavier ? sqrt(6.0 / (nin + nout)) : 1 / sqrt((double)nin), bb = 1 / sqrt((double)nin);
    float *Wp = fl + s->off[li], *bp = Wp + (long)nout * nin;
    for (long k = 0; k < (long)nout * nin; k++) Wp[k] = (float)((2 * dml_rng_uniform(&r) - 1) * bw);
    int first_linear = li % depth == 0;
    for (int k = 0; k < nout; k++) bp[k] = xavier && !first_linear ? 0.0f : (float)((2 * dml_rng_uniform(&r) - 1) * bb);
  }
  s->lr[0] = dml_opts_float(opt, "lr") * dml_opts_float(opt, "loss_nir_proxy_lrmulti");
  s->lr[1] = dml_opts_float(opt, "lr") * dml_opts_float(opt, "loss_nir_lrmulti");
  c->state = s;
  c->params_lr = s->lr[1];
  c->param_lr = s->lr;
  c->loss = nir_loss;
  c->destroy = nir_destroy;
  return DML_OK;
}

const struct dml_criterion_def dml_criterion_def_nir = {
  .name = "nir",
  .summary = "non-isotropic regularisation (normalizing flow + ProxyAnchor)",
  DML_METHOD_FLAGS(nir_flags),
  .requires_miner = 0,
  .allowed_miners = "*",
  .create = nir_create,
};
