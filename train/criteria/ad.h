/* ad — a small float64 reverse-mode autodiff tape used by every criterion in train/criteria/ (module-private
 * header; method files include it instead of train/methods.h).
 *
 * Contract: nodes are scalars (value, gradient) numbered in creation order; a scalar op records its parents and
 * the local partial derivatives; "block" ops (row normalisation, A·Bᵀ) produce a contiguous range of output
 * nodes from contiguous input ranges and back-propagate with dense loops, so a B×C similarity matrix costs
 * B·C nodes, not B·C·D edges. ad_backward(t, loss) fills t->g for every node. All arithmetic is double.
 *
 *   struct ad_tape t; ad_init(&t);
 *   int x0 = ad_leaves_f32(&t, emb, B * D);             // leaves x0 … x0+B·D−1
 *   int xn = ad_normalize_rows(&t, x0, B, D);
 *   int s0 = ad_matmul_nt(&t, xn, B, xn, B, D);         // (B, B)
 *   int L  = ad_mean(&t, ids, n);
 *   ad_backward(&t, L);  t.g[x0 + k] is dL/demb[k]
 *   ad_free(&t);
 */
#ifndef DML_CRITERIA_AD_H
#define DML_CRITERIA_AD_H
#include <stdint.h>

#include "train/methods.h"

struct ad_tape;
struct ad_block {
  int o0, a0, b0, M, N, K;
  double eps, scale, shift;
  int32_t *aux;          /* block-owned data (row_lse: excluded column per row), freed with the tape */
  void (*back)(struct ad_tape *t, const struct ad_block *b);
};
struct ad_tape {
  int n, cap;            /* nodes */
  double *v, *g;         /* (cap) values, gradients */
  long *e0;              /* (cap+1) first edge of each node */
  long ne, ecap;         /* edges */
  int32_t *ep;           /* (ecap) parent of each edge */
  double *ed;            /* (ecap) d node / d parent */
  int nb, bcap;
  struct ad_block *blk;
};

void ad_init(struct ad_tape *t);
void ad_free(struct ad_tape *t);
int ad_const(struct ad_tape *t, double v);                      /* a leaf */
int ad_leaves_f32(struct ad_tape *t, const float *v, long n);   /* n leaves; returns the first */
int ad_leaves_f64(struct ad_tape *t, const double *v, long n);
/* generic node: value v, parents p (k), partials d (k) */
int ad_node(struct ad_tape *t, double v, int k, const int *p, const double *d);
int ad_add(struct ad_tape *t, int a, int b);
int ad_sub(struct ad_tape *t, int a, int b);
int ad_mul(struct ad_tape *t, int a, int b);
int ad_div(struct ad_tape *t, int a, int b);
int ad_scale(struct ad_tape *t, int a, double c);               /* c·a */
int ad_addc(struct ad_tape *t, int a, double c);                /* a + c */
int ad_exp(struct ad_tape *t, int a);
int ad_log(struct ad_tape *t, int a);
int ad_sqrt(struct ad_tape *t, int a);
int ad_square(struct ad_tape *t, int a);
int ad_relu(struct ad_tape *t, int a);                          /* derivative 0 at 0, as torch */
int ad_abs(struct ad_tape *t, int a);
int ad_acos(struct ad_tape *t, int a);
int ad_cos(struct ad_tape *t, int a);
int ad_atan(struct ad_tape *t, int a);
int ad_clamp(struct ad_tape *t, int a, double lo, double hi);   /* torch.clamp: gradient 1 inside [lo, hi] */
int ad_sum(struct ad_tape *t, const int *ids, int n);           /* 0-node const when n = 0 */
int ad_mean(struct ad_tape *t, const int *ids, int n);
int ad_sum_range(struct ad_tape *t, int first, int n);
/* ln Σ exp(x_i) (stable); n ≥ 1 */
int ad_lse(struct ad_tape *t, const int *ids, int n);
/* ln(1 + Σ exp(x_i)) (stable); 0 when n = 0 */
int ad_log1p_sum_exp(struct ad_tape *t, const int *ids, int n);
int ad_softplus(struct ad_tape *t, int a);                      /* ln(1 + e^a) */
/* ‖a − b + eps‖ over K coordinates of two rows a0, b0 (eps added to every coordinate; eps=0 for plain) */
int ad_pdist(struct ad_tape *t, int a0, int b0, int K, double eps);
int ad_sqdist(struct ad_tape *t, int a0, int b0, int K);        /* ‖a − b‖² */
int ad_dot(struct ad_tape *t, int a0, int b0, int K);
int ad_norm(struct ad_tape *t, int a0, int K);                  /* ‖a‖ */
/* block ops */
int ad_normalize_rows(struct ad_tape *t, int a0, int M, int K); /* F.normalize(dim=1, eps=1e-12) */
int ad_matmul_nt(struct ad_tape *t, int a0, int M, int b0, int N, int K); /* (M,K)·(N,K)ᵀ → (M,N) */
int ad_transpose(struct ad_tape *t, int a0, int M, int N);      /* (M,N) → (N,M) */
/* out_i = ln Σ_{j ≠ exclude[i]} exp(scale·a_ij + shift) over the rows of a (M, N); exclude NULL or −1 = none */
int ad_row_lse(struct ad_tape *t, int a0, int M, int N, double scale, double shift, const int *exclude);
/* out[i,j] = ‖a_i − b_j + eps‖ over K coordinates (torch PairwiseDistance with eps; eps = 0: torch.norm), (M,N) */
int ad_pdist_matrix(struct ad_tape *t, int a0, int M, int b0, int N, int K, double eps);
void ad_backward(struct ad_tape *t, int loss);

/* Copy nodes ids (n) into a new contiguous range (one edge each); returns its first node. */
int ad_gather(struct ad_tape *t, const int *ids, long n);

// ---------------------------------------------------------------------------------------------- helpers
/* ProxyAnchor as oproxy mode "anchor" (spec B3) on leaves x (B, D) and proxies p (C, D), y = class positions;
 * returns the loss node. Shared by oproxy and nir. */
int crit_proxyanchor(struct ad_tape *t, int x, int p, const int *y, int B, int C, int D, double pos_alpha,
                     double neg_alpha, double pos_delta, double neg_delta);
/* Position of label y in the ascending classes list, −1 if absent. */
int crit_class_pos(const int32_t *classes, int n_classes, int32_t y);
/* Map every label to its class position; error naming the criterion if one is unknown. */
dml_status crit_label_pos(const char *name, const int32_t *classes, int n_classes, const int32_t *labels, int B,
                          int *out);
/* Check that every tuple holds valid anchor, positive and negative positions (a triplet miner ran). */
dml_status crit_check_triplets(const char *name, const struct dml_tuples *tu, int B);
/* histogram's QUIRK H1 tests for a similarity in bin k of R: is the share to bin k kept, the share to bin k+1? */
void crit_histogram_h1(int R, long k, int *keep_own, int *keep_up);
/* Backward from L, loss value out, dL/demb of the leaves x0 … x0+B·D−1 into grad_emb (overwritten). */
void crit_finish(struct ad_tape *t, int L, int x0, long n, double *loss, float *grad_emb);
/* The criterion's tape, emptied (memory kept from earlier calls); hand it back with crit_tape_give. */
struct ad_tape crit_tape_take(struct dml_criterion *c);
void crit_tape_give(struct dml_criterion *c, struct ad_tape *t);
/* Free the kept tape (dml_criterion_free calls it). */
void crit_tape_free(struct dml_criterion *c);
/* Copy the gradient of leaves x0 … x0+n−1 into grad (float, overwritten). */
void crit_grad_out(const struct ad_tape *t, int x0, long n, float *grad);
/* Accumulate the gradient of leaves into a float parameter gradient (+=). */
void crit_grad_acc(const struct ad_tape *t, int x0, long n, float *grad);
/* Declare one host parameter tensor of shape (rows, cols) (cols 0 = 1-d) on a new CPU backend; returns the
 * backend (the criterion frees it after dml_params_free). */
struct dml_backend *crit_params_one(struct dml_criterion *c, const char *name, int rows, int cols);
/* The common end of a class-parameter criterion: frees its parameters, their host backend, the class table and
 * the state itself. */
void crit_release(struct dml_criterion *c, struct dml_backend *host, int32_t *classes, void *state);
#endif
