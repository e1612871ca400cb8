/* rho_spectrum — spectral decay ρ of the embedding space (spec A10).
 *
 * Singular values of the UNCENTRED embedding matrix F (n, d), exact: the eigenvalues of the d×d Gram matrix FᵀF
 * accumulated in float64 (rows in order, parallel over Gram rows only, so deterministic whatever the thread
 * count) and decomposed by LAPACK dsyev; s = √max(λ, 0), largest first.
 * Which values: the reference CPU path (sklearn TruncatedSVD, n_components = d−1, n_iter 7, random_state 42) keeps
 * the d−1 largest; its GPU path (torch.svd) keeps all d (QUIRK E3). Default here: the CPU path, top d−1 values,
 * recorded as "rho_spectrum/cpu-top(d-1)". (With d+9 ≥ d random directions TruncatedSVD spans the whole row space,
 * so its values are the exact ones up to float32 rounding.)
 *
 * m ≠ 0: drop the |m|−1 largest values (if that leaves nothing, the smallest one is kept); s̄ = s/Σs, u uniform of
 * the same length; m > 0: KL(u‖s̄) = Σ u ln(u/s̄); m < 0: KL(s̄‖u) (scipy.stats.entropy: 0·ln0 = 0, +inf where a
 * positive term meets a zero). m = 0: the normalised spectrum s̄ itself (an array, largest first). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "common/error.h"
#include "eval/spectrum.h"

void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
            const int *lwork, int *info);

int dml_metric_singular_values(const float *emb, size_t n, size_t d, double *s) {
  int D = (int)d;
  double *g = xcalloc(d * d, sizeof *g); /* (d, d) row-major upper triangle of FᵀF */
  double *w = xmalloc(d * sizeof *w);
  /* rows of F in blocks converted to double; each Gram row a is owned by one thread */
  const size_t B = 512;
  double *blk = xmalloc(B * d * sizeof *blk); /* (B, d) */
  for (size_t i0 = 0; i0 < n; i0 += B) {
    size_t nb = n - i0 < B ? n - i0 : B;
    for (size_t i = 0; i < nb * d; i++) blk[i] = emb[i0 * d + i];
#pragma omp parallel for schedule(dynamic, 4)
    for (int a = 0; a < D; a++) {
      double *ga = g + (size_t)a * d;
      for (size_t i = 0; i < nb; i++) {
        const double *x = blk + i * d;
        double xa = x[a];
        for (int b = a; b < D; b++) ga[b] += xa * x[b];
      }
    }
  }
  free(blk);
  /* OpenBLAS's LAPACK reduces with threaded BLAS-2 kernels whose sums depend on the thread count: run the (tiny,
   * d×d) decomposition on one thread so the values are the same bits whatever the caller's setting */
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  int lwork = -1, info = 0;
  double wq = 0;
  dsyev_("N", "L", &D, g, &D, w, &wq, &lwork, &info); /* row-major upper = column-major lower */
  lwork = (int)wq > 1 ? (int)wq : 1;
  double *work = xmalloc((size_t)lwork * sizeof *work);
  if (!info) dsyev_("N", "L", &D, g, &D, w, work, &lwork, &info);
  omp_set_num_threads(saved);
  free(work);
  free(g);
  if (!info)
    for (size_t i = 0; i < d; i++) s[i] = sqrt(fmax(w[d - 1 - i], 0)); /* ascending eigenvalues → descending */
  free(w);
  return info;
}

size_t dml_rho_spectrum_len(size_t d) {
  return d > 1 ? d - 1 : 1;
}

double dml_metric_rho(const double *s, size_t len, int m, double **array, size_t *array_len) {
  if (m == 0) {
    double tot = 0;
    for (size_t i = 0; i < len; i++) tot += s[i];
    *array = xmalloc((len ? len : 1) * sizeof **array);
    for (size_t i = 0; i < len; i++) (*array)[i] = s[i] / tot;
    *array_len = len;
    return NAN;
  }
  size_t skip = (size_t)abs(m) - 1;
  if (skip >= len) skip = len ? len - 1 : 0;
  size_t L = len - skip;
  double tot = 0;
  for (size_t i = skip; i < len; i++) tot += s[i];
  double u = 1.0 / (double)L, kl = 0;
  for (size_t i = skip; i < len; i++) {
    double sb = s[i] / tot;
    if (m > 0) kl += sb > 0 ? u * log(u / sb) : INFINITY;
    else kl += sb > 0 ? sb * log(sb / u) : 0;
  }
  return kl;
}
