/* ad — float64 reverse-mode autodiff tape for the criteria (see ad.h for the contract), plus small helpers
 * the criteria share (label → class position, gradient copy-out, parameter declaration). */
#include "train/criteria/ad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ad_init(struct ad_tape *t) {
  memset(t, 0, sizeof *t);
}

static void free_aux(struct ad_tape *t) {
  for (int i = 0; i < t->nb; i++) {
    free(t->blk[i].aux);
    t->blk[i].aux = NULL;
  }
}

void ad_free(struct ad_tape *t) {
  free_aux(t);
  free(t->v);
  free(t->g);
  free(t->e0);
  free(t->ep);
  free(t->ed);
  free(t->blk);
  memset(t, 0, sizeof *t);
}

static void reserve_nodes(struct ad_tape *t, long k) {
  if (t->n + k <= t->cap) return;
  long cap = t->cap ? t->cap : 1024;
  while (cap < t->n + k) cap *= 2;
  DML_ASSERT(cap < INT32_MAX);
  t->v = xrealloc(t->v, (size_t)cap * sizeof *t->v);
  t->g = xrealloc(t->g, (size_t)cap * sizeof *t->g);
  t->e0 = xrealloc(t->e0, (size_t)(cap + 1) * sizeof *t->e0);
  t->cap = (int)cap;
}

static void reserve_edges(struct ad_tape *t, long k) {
  if (t->ne + k <= t->ecap) return;
  long cap = t->ecap ? t->ecap : 4096;
  while (cap < t->ne + k) cap *= 2;
  t->ep = xrealloc(t->ep, (size_t)cap * sizeof *t->ep);
  t->ed = xrealloc(t->ed, (size_t)cap * sizeof *t->ed);
  t->ecap = cap;
}

static int push(struct ad_tape *t, double v) {
  reserve_nodes(t, 1);
  int i = t->n++;
  t->v[i] = v;
  t->e0[i] = t->ne;
  t->e0[i + 1] = t->ne;
  return i;
}

static void edge(struct ad_tape *t, int node, int p, double d) {
  reserve_edges(t, 1);
  t->ep[t->ne] = p;
  t->ed[t->ne] = d;
  t->ne++;
  t->e0[node + 1] = t->ne;
}

int ad_const(struct ad_tape *t, double v) {
  return push(t, v);
}

int ad_leaves_f32(struct ad_tape *t, const float *v, long n) {
  reserve_nodes(t, n);
  int first = t->n;
  for (long i = 0; i < n; i++) push(t, v[i]);
  return first;
}

int ad_leaves_f64(struct ad_tape *t, const double *v, long n) {
  reserve_nodes(t, n);
  int first = t->n;
  for (long i = 0; i < n; i++) push(t, v[i]);
  return first;
}

int ad_node(struct ad_tape *t, double v, int k, const int *p, const double *d) {
  int i = push(t, v);
  reserve_edges(t, k);
  for (int j = 0; j < k; j++) edge(t, i, p[j], d[j]);
  return i;
}

static int un(struct ad_tape *t, double v, int a, double d) {
  int i = push(t, v);
  edge(t, i, a, d);
  return i;
}

static int bin(struct ad_tape *t, double v, int a, double da, int b, double db) {
  int i = push(t, v);
  edge(t, i, a, da);
  edge(t, i, b, db);
  return i;
}

int ad_add(struct ad_tape *t, int a, int b) { return bin(t, t->v[a] + t->v[b], a, 1, b, 1); }
int ad_sub(struct ad_tape *t, int a, int b) { return bin(t, t->v[a] - t->v[b], a, 1, b, -1); }
int ad_mul(struct ad_tape *t, int a, int b) { return bin(t, t->v[a] * t->v[b], a, t->v[b], b, t->v[a]); }
int ad_div(struct ad_tape *t, int a, int b) {
  double x = t->v[a], y = t->v[b];
  return bin(t, x / y, a, 1 / y, b, -x / (y * y));
}
int ad_scale(struct ad_tape *t, int a, double c) { return un(t, c * t->v[a], a, c); }
int ad_addc(struct ad_tape *t, int a, double c) { return un(t, t->v[a] + c, a, 1); }
int ad_exp(struct ad_tape *t, int a) {
  double e = exp(t->v[a]);
  return un(t, e, a, e);
}
int ad_log(struct ad_tape *t, int a) { return un(t, log(t->v[a]), a, 1 / t->v[a]); }
int ad_sqrt(struct ad_tape *t, int a) {
  double s = sqrt(t->v[a]);
  return un(t, s, a, 0.5 / s);
}
int ad_square(struct ad_tape *t, int a) { return un(t, t->v[a] * t->v[a], a, 2 * t->v[a]); }
int ad_relu(struct ad_tape *t, int a) {
  double x = t->v[a];
  return un(t, x > 0 ? x : 0, a, x > 0 ? 1 : 0);
}
int ad_abs(struct ad_tape *t, int a) {
  double x = t->v[a];
  return un(t, fabs(x), a, x > 0 ? 1 : x < 0 ? -1 : 0);
}
int ad_acos(struct ad_tape *t, int a) {
  double x = t->v[a];
  return un(t, acos(x), a, -1 / sqrt(1 - x * x));
}
int ad_cos(struct ad_tape *t, int a) { return un(t, cos(t->v[a]), a, -sin(t->v[a])); }
int ad_clamp(struct ad_tape *t, int a, double lo, double hi) {
  double x = t->v[a];
  if (x < lo) return un(t, lo, a, 0);
  if (x > hi) return un(t, hi, a, 0);
  return un(t, x, a, 1);
}

int ad_sum(struct ad_tape *t, const int *ids, int n) {
  double s = 0;
  for (int j = 0; j < n; j++) s += t->v[ids[j]];
  int i = push(t, s);
  reserve_edges(t, n);
  for (int j = 0; j < n; j++) edge(t, i, ids[j], 1);
  return i;
}

int ad_mean(struct ad_tape *t, const int *ids, int n) {
  if (!n) return push(t, NAN); /* torch: mean of an empty tensor */
  double s = 0;
  for (int j = 0; j < n; j++) s += t->v[ids[j]];
  int i = push(t, s / n);
  reserve_edges(t, n);
  for (int j = 0; j < n; j++) edge(t, i, ids[j], 1.0 / n);
  return i;
}

int ad_sum_range(struct ad_tape *t, int first, int n) {
  double s = 0;
  for (int j = 0; j < n; j++) s += t->v[first + j];
  int i = push(t, s);
  reserve_edges(t, n);
  for (int j = 0; j < n; j++) edge(t, i, first + j, 1);
  return i;
}

int ad_lse(struct ad_tape *t, const int *ids, int n) {
  DML_ASSERT(n > 0);
  double m = -INFINITY, s = 0;
  for (int j = 0; j < n; j++) m = fmax(m, t->v[ids[j]]);
  for (int j = 0; j < n; j++) s += exp(t->v[ids[j]] - m);
  double val = m + log(s);
  int i = push(t, val);
  reserve_edges(t, n);
  for (int j = 0; j < n; j++) edge(t, i, ids[j], exp(t->v[ids[j]] - val));
  return i;
}

int ad_log1p_sum_exp(struct ad_tape *t, const int *ids, int n) {
  double m = 0, s;
  for (int j = 0; j < n; j++) m = fmax(m, t->v[ids[j]]);
  s = exp(-m);
  for (int j = 0; j < n; j++) s += exp(t->v[ids[j]] - m);
  double val = m + log(s);
  int i = push(t, val);
  reserve_edges(t, n);
  for (int j = 0; j < n; j++) edge(t, i, ids[j], exp(t->v[ids[j]] - val));
  return i;
}

int ad_softplus(struct ad_tape *t, int a) { return ad_log1p_sum_exp(t, &a, 1); }

int ad_pdist(struct ad_tape *t, int a0, int b0, int K, double eps) {
  double s = 0;
  for (int k = 0; k < K; k++) {
    double u = t->v[a0 + k] - t->v[b0 + k] + eps;
    s += u * u;
  }
  double d = sqrt(s);
  int i = push(t, d);
  reserve_edges(t, 2L * K);
  for (int k = 0; k < K; k++) {
    double u = t->v[a0 + k] - t->v[b0 + k] + eps;
    double g = d > 0 ? u / d : 0;
    edge(t, i, a0 + k, g);
    edge(t, i, b0 + k, -g);
  }
  return i;
}

int ad_sqdist(struct ad_tape *t, int a0, int b0, int K) {
  double s = 0;
  for (int k = 0; k < K; k++) {
    double u = t->v[a0 + k] - t->v[b0 + k];
    s += u * u;
  }
  int i = push(t, s);
  reserve_edges(t, 2L * K);
  for (int k = 0; k < K; k++) {
    double u = t->v[a0 + k] - t->v[b0 + k];
    edge(t, i, a0 + k, 2 * u);
    edge(t, i, b0 + k, -2 * u);
  }
  return i;
}

int ad_dot(struct ad_tape *t, int a0, int b0, int K) {
  double s = 0;
  for (int k = 0; k < K; k++) s += t->v[a0 + k] * t->v[b0 + k];
  int i = push(t, s);
  reserve_edges(t, 2L * K);
  for (int k = 0; k < K; k++) {
    edge(t, i, a0 + k, t->v[b0 + k]);
    edge(t, i, b0 + k, t->v[a0 + k]);
  }
  return i;
}

int ad_norm(struct ad_tape *t, int a0, int K) {
  double s = 0;
  for (int k = 0; k < K; k++) s += t->v[a0 + k] * t->v[a0 + k];
  double d = sqrt(s);
  int i = push(t, d);
  reserve_edges(t, K);
  for (int k = 0; k < K; k++) edge(t, i, a0 + k, d > 0 ? t->v[a0 + k] / d : 0);
  return i;
}

// ---------------------------------------------------------------------------------------------- blocks

static void add_block(struct ad_tape *t, struct ad_block b) {
  if (t->nb == t->bcap) {
    t->bcap = t->bcap ? 2 * t->bcap : 16;
    t->blk = xrealloc(t->blk, (size_t)t->bcap * sizeof *t->blk);
  }
  t->blk[t->nb++] = b;
}

static void normalize_back(struct ad_tape *t, const struct ad_block *b) {
  for (int i = 0; i < b->M; i++) {
    const double *x = t->v + b->a0 + (size_t)i * b->K, *y = t->v + b->o0 + (size_t)i * b->K;
    const double *gy = t->g + b->o0 + (size_t)i * b->K;
    double *gx = t->g + b->a0 + (size_t)i * b->K;
    double s = 0, yg = 0;
    for (int k = 0; k < b->K; k++) s += x[k] * x[k], yg += y[k] * gy[k];
    double nrm = sqrt(s);
    if (nrm > 1e-12)
      for (int k = 0; k < b->K; k++) gx[k] += (gy[k] - y[k] * yg) / nrm;
    else
      for (int k = 0; k < b->K; k++) gx[k] += gy[k] / 1e-12;
  }
}

int ad_normalize_rows(struct ad_tape *t, int a0, int M, int K) {
  reserve_nodes(t, (long)M * K);
  int o0 = t->n;
  for (int i = 0; i < M; i++) {
    double s = 0;
    for (int k = 0; k < K; k++) s += t->v[a0 + (size_t)i * K + k] * t->v[a0 + (size_t)i * K + k];
    double nrm = fmax(sqrt(s), 1e-12);
    for (int k = 0; k < K; k++) push(t, t->v[a0 + (size_t)i * K + k] / nrm);
  }
  add_block(t, (struct ad_block){.o0 = o0, .a0 = a0, .M = M, .K = K, .back = normalize_back});
  return o0;
}

/* dot product with four partial sums in a fixed order (vectorisable, identical for any thread count) */
static double dot4(const double *a, const double *b, int K) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    s0 += a[k] * b[k];
    s1 += a[k + 1] * b[k + 1];
    s2 += a[k + 2] * b[k + 2];
    s3 += a[k + 3] * b[k + 3];
  }
  for (; k < K; k++) s0 += a[k] * b[k];
  return (s0 + s1) + (s2 + s3);
}

/* Each gradient row is owned by one thread and accumulated in a fixed order, so the result does not depend on
 * the thread count (STYLE 10). */
static void matmul_back(struct ad_tape *t, const struct ad_block *b) {
  int M = b->M, N = b->N, K = b->K;
  const double *A = t->v + b->a0, *Bm = t->v + b->b0, *G = t->g + b->o0;
  double *gA = t->g + b->a0, *gB = t->g + b->b0;
  if (b->a0 == b->b0 && M == N) { /* A·Aᵀ: both gradients land in the same rows; one pass in a fixed order */
#pragma omp parallel for schedule(static) if ((long)M * N * K > 20000000L)
    for (int i = 0; i < M; i++) {
      double *ga = gA + (size_t)i * K;
      for (int j = 0; j < N; j++) {
        double gij = G[(size_t)i * N + j] + G[(size_t)j * N + i];
        if (gij == 0) continue;
        const double *br = Bm + (size_t)j * K;
        for (int k = 0; k < K; k++) ga[k] += gij * br[k];
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if ((long)M * N * K > 20000000L)
  for (int i = 0; i < M; i++) {
    double *ga = gA + (size_t)i * K;
    for (int j = 0; j < N; j++) {
      double gij = G[(size_t)i * N + j];
      if (gij == 0) continue;
      const double *br = Bm + (size_t)j * K;
      for (int k = 0; k < K; k++) ga[k] += gij * br[k];
    }
  }
#pragma omp parallel for schedule(static) if ((long)M * N * K > 20000000L)
  for (int j = 0; j < N; j++) {
    double *gb = gB + (size_t)j * K;
    for (int i = 0; i < M; i++) {
      double gij = G[(size_t)i * N + j];
      if (gij == 0) continue;
      const double *ar = A + (size_t)i * K;
      for (int k = 0; k < K; k++) gb[k] += gij * ar[k];
    }
  }
}

int ad_matmul_nt(struct ad_tape *t, int a0, int M, int b0, int N, int K) {
  reserve_nodes(t, (long)M * N);
  int o0 = t->n;
  for (long i = 0; i < (long)M * N; i++) push(t, 0);
  double *out = t->v + o0;
  const double *A = t->v + a0, *Bm = t->v + b0;
#pragma omp parallel for schedule(static) if ((long)M * N * K > 20000000L)
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) out[(size_t)i * N + j] = dot4(A + (size_t)i * K, Bm + (size_t)j * K, K);
  add_block(t, (struct ad_block){.o0 = o0, .a0 = a0, .b0 = b0, .M = M, .N = N, .K = K, .back = matmul_back});
  return o0;
}

/* out[i,j] = ‖a_i − b_j + eps‖; gradient (a_i − b_j + eps)/d (0 where d = 0, as torch.norm's subgradient) */
static void pdist_back(struct ad_tape *t, const struct ad_block *b) {
  int M = b->M, N = b->N, K = b->K;
  double eps = b->eps;
  const double *A = t->v + b->a0, *Bm = t->v + b->b0, *G = t->g + b->o0, *O = t->v + b->o0;
  double *gA = t->g + b->a0, *gB = t->g + b->b0;
  int same = b->a0 == b->b0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double gij = G[(size_t)i * N + j], d = O[(size_t)i * N + j];
      if (gij == 0 || d <= 0) continue;
      const double *ar = A + (size_t)i * K, *br = Bm + (size_t)j * K;
      double *ga = gA + (size_t)i * K, *gb = gB + (size_t)j * K;
      double c = gij / d;
      for (int k = 0; k < K; k++) {
        double u = (ar[k] - br[k] + eps) * c;
        ga[k] += u;
        gb[k] -= u;
      }
    }
  (void)same;
}

int ad_pdist_matrix(struct ad_tape *t, int a0, int M, int b0, int N, int K, double eps) {
  reserve_nodes(t, (long)M * N);
  int o0 = t->n;
  for (long i = 0; i < (long)M * N; i++) push(t, 0);
  double *out = t->v + o0;
  const double *A = t->v + a0, *Bm = t->v + b0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      const double *ar = A + (size_t)i * K, *br = Bm + (size_t)j * K;
      double s = 0;
      for (int k = 0; k < K; k++) {
        double u = ar[k] - br[k] + eps;
        s += u * u;
      }
      out[(size_t)i * N + j] = sqrt(s);
    }
  add_block(t, (struct ad_block){.o0 = o0, .a0 = a0, .b0 = b0, .M = M, .N = N, .K = K, .eps = eps, .back = pdist_back});
  return o0;
}

void ad_backward(struct ad_tape *t, int loss) {
  memset(t->g, 0, (size_t)t->n * sizeof *t->g);
  t->g[loss] = 1;
  int bi = t->nb - 1;
  for (int i = t->n - 1; i >= 0; i--) {
    double gi = t->g[i];
    if (gi != 0)
      for (long e = t->e0[i]; e < t->e0[i + 1]; e++) t->g[t->ep[e]] += gi * t->ed[e];
    while (bi >= 0 && t->blk[bi].o0 == i) {
      t->blk[bi].back(t, &t->blk[bi]);
      bi--;
    }
  }
}

// ---------------------------------------------------------------------------------------------- helpers

int crit_class_pos(const int32_t *classes, int n_classes, int32_t y) {
  int lo = 0, hi = n_classes - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (classes[mid] == y) return mid;
    if (classes[mid] < y) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

dml_status crit_label_pos(const char *name, const int32_t *classes, int n_classes, const int32_t *labels, int B,
                          int *out) {
  for (int i = 0; i < B; i++) {
    out[i] = crit_class_pos(classes, n_classes, labels[i]);
    if (out[i] < 0) return dml_error(DML_ERR_ARG, "%s loss: label %d is not a training class", name, labels[i]);
  }
  return DML_OK;
}

void crit_grad_out(const struct ad_tape *t, int x0, long n, float *grad) {
  for (long i = 0; i < n; i++) grad[i] = (float)t->g[x0 + i];
}

void crit_grad_acc(const struct ad_tape *t, int x0, long n, float *grad) {
  for (long i = 0; i < n; i++) grad[i] += (float)t->g[x0 + i];
}

struct dml_backend *crit_params_one(struct dml_criterion *c, const char *name, int rows, int cols) {
  struct dml_backend *host = dml_backend_cpu_new();
  dml_params_init(&c->params, host);
  if (cols > 0) dml_params_declare(&c->params, name, 2, (int[]){rows, cols}, 0, 1);
  else dml_params_declare(&c->params, name, 1, (int[]){rows}, 0, 1);
  dml_params_alloc(&c->params);
  return host;
}

static void transpose_back(struct ad_tape *t, const struct ad_block *b) {
  for (int i = 0; i < b->M; i++)
    for (int j = 0; j < b->N; j++) t->g[b->a0 + (size_t)i * b->N + j] += t->g[b->o0 + (size_t)j * b->M + i];
}

int ad_transpose(struct ad_tape *t, int a0, int M, int N) {
  reserve_nodes(t, (long)M * N);
  int o0 = t->n;
  for (int j = 0; j < N; j++)
    for (int i = 0; i < M; i++) push(t, t->v[a0 + (size_t)i * N + j]);
  add_block(t, (struct ad_block){.o0 = o0, .a0 = a0, .M = M, .N = N, .back = transpose_back});
  return o0;
}

dml_status crit_check_triplets(const char *name, const struct dml_tuples *tu, int B) {
  for (int i = 0; i < tu->n; i++)
    for (int k = 0; k < 3; k++)
      if (tu->t[i][k] < 0 || tu->t[i][k] >= B)
        return dml_error(DML_ERR_ARG, "%s loss needs (anchor, positive, negative) triplets; tuple %d holds %d", name,
                         i, tu->t[i][k]);
  return DML_OK;
}

void crit_finish(struct ad_tape *t, int L, int x0, long n, double *loss, float *grad_emb) {
  *loss = t->v[L];
  ad_backward(t, L);
  crit_grad_out(t, x0, n, grad_emb);
}

int ad_atan(struct ad_tape *t, int a) {
  double x = t->v[a];
  return un(t, atan(x), a, 1 / (1 + x * x));
}

int ad_gather(struct ad_tape *t, const int *ids, long n) {
  reserve_nodes(t, n);
  int first = t->n;
  for (long k = 0; k < n; k++) un(t, t->v[ids[k]], ids[k], 1);
  return first;
}

struct ad_tape crit_tape_take(struct dml_criterion *c) {
  struct ad_tape t;
  if (c->scratch) {
    t = *(struct ad_tape *)c->scratch;
    free(c->scratch);
    c->scratch = NULL;
  } else {
    ad_init(&t);
  }
  free_aux(&t);
  t.n = 0;
  t.ne = 0;
  t.nb = 0;
  return t;
}

void crit_tape_give(struct dml_criterion *c, struct ad_tape *t) {
  if (c->scratch) { /* a tape is already kept (nested use): drop this one */
    ad_free(t);
    return;
  }
  c->scratch = xmalloc(sizeof *t);
  *(struct ad_tape *)c->scratch = *t;
  memset(t, 0, sizeof *t);
}

void crit_tape_free(struct dml_criterion *c) {
  if (!c->scratch) return;
  ad_free(c->scratch);
  free(c->scratch);
  c->scratch = NULL;
}

static void row_lse_back(struct ad_tape *t, const struct ad_block *b) {
  int M = b->M, N = b->N;
#pragma omp parallel for schedule(static) if ((long)M * N > 2000000L)
  for (int i = 0; i < M; i++) {
    double gi = t->g[b->o0 + i], out = t->v[b->o0 + i];
    if (gi == 0) continue;
    const double *a = t->v + b->a0 + (size_t)i * N;
    double *ga = t->g + b->a0 + (size_t)i * N;
    int ex = b->aux ? b->aux[i] : -1;
    for (int j = 0; j < N; j++)
      if (j != ex) ga[j] += gi * b->scale * exp(b->scale * a[j] + b->shift - out);
  }
}

int ad_row_lse(struct ad_tape *t, int a0, int M, int N, double scale, double shift, const int *exclude) {
  reserve_nodes(t, M);
  int o0 = t->n;
  for (int i = 0; i < M; i++) push(t, 0);
  double *out = t->v + o0;
#pragma omp parallel for schedule(static) if ((long)M * N > 2000000L)
  for (int i = 0; i < M; i++) {
    const double *a = t->v + a0 + (size_t)i * N;
    int ex = exclude ? exclude[i] : -1;
    double m = -INFINITY, acc = 0;
    for (int j = 0; j < N; j++)
      if (j != ex) m = fmax(m, scale * a[j] + shift);
    for (int j = 0; j < N; j++)
      if (j != ex) acc += exp(scale * a[j] + shift - m);
    out[i] = m + log(acc);
  }
  int32_t *aux = NULL;
  if (exclude) {
    aux = xmalloc((size_t)M * sizeof *aux);
    for (int i = 0; i < M; i++) aux[i] = exclude[i];
  }
  add_block(t, (struct ad_block){.o0 = o0, .a0 = a0, .M = M, .N = N, .scale = scale, .shift = shift, .aux = aux,
                                 .back = row_lse_back});
  return o0;
}

void crit_release(struct dml_criterion *c, struct dml_backend *host, int32_t *classes, void *state) {
  dml_params_free(&c->params);
  dml_backend_free(host);
  free(classes);
  free(state);
}
