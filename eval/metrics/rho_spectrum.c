/* rho_spectrum — spectral decay ρ of the embedding space (spec A10). Singular values s of the UNCENTRED embedding
 * matrix F (n, d), from the eigenvalues of the d×d Gram matrix FᵀF (LAPACK dsyev, float64; s = √λ). The reference's
 * CPU path (sklearn TruncatedSVD with d−1 components) keeps the d−1 largest values; we do the same (definition
 * "rho_spectrum/top-(d-1)"); its GPU path keeps all d (not offered here).
 * m ≠ 0: drop the |m|−1 largest values; s̄ = s/Σs; u uniform of the same length; m > 0: KL(u‖s̄) = Σ u ln(u/s̄);
 * m < 0: KL(s̄‖u). m = 0: the normalised spectrum s̄ itself (largest first). */
#include <math.h>
#include <stdlib.h>

#include "eval/eval-impl.h"

void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
            const int *lwork, int *info);

double dml_metric_rho_spectrum(const struct dml_eval_ctx *c, int m, double **array, size_t *len, int *err) {
  int d = (int)c->d;
  double *g = xcalloc((size_t)d * d, sizeof *g), *w = xmalloc((size_t)d * sizeof *w);
  /* Gram matrix in float64, rows accumulated in order (deterministic) */
  for (size_t i = 0; i < c->n; i++) {
    const float *x = c->emb + i * c->d;
    for (int a = 0; a < d; a++) {
      double xa = x[a];
      for (int b = a; b < d; b++) g[(size_t)a * d + b] += xa * x[b];
    }
  }
  int lwork = -1, info = 0;
  double wq;
  dsyev_("N", "L", &d, g, &d, w, &wq, &lwork, &info); /* row-major upper = column-major lower */
  lwork = (int)wq;
  double *work = xmalloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work);
  dsyev_("N", "L", &d, g, &d, w, work, &lwork, &info);
  free(work);
  free(g);
  if (info) {
    free(w);
    *err = 1;
    return NAN;
  }
  /* eigenvalues ascending → singular values descending, top d−1 */
  int keep = d > 1 ? d - 1 : 1;
  double *s = xmalloc((size_t)keep * sizeof *s);
  for (int i = 0; i < keep; i++) s[i] = sqrt(fmax(w[d - 1 - i], 0));
  free(w);
  int skip = m ? abs(m) - 1 : 0;
  if (skip >= keep) skip = keep - 1;
  int len_s = keep - skip;
  double tot = 0;
  for (int i = skip; i < keep; i++) tot += s[i];
  double val = 0;
  if (m == 0) {
    *array = xmalloc((size_t)keep * sizeof **array);
    for (int i = 0; i < keep; i++) (*array)[i] = tot > 0 ? s[i] / tot : 0;
    *len = (size_t)keep;
    val = NAN;
  } else {
    double u = 1.0 / len_s;
    for (int i = skip; i < keep; i++) {
      double sb = s[i] / tot;
      if (m > 0) val += u * log(u / fmax(sb, 1e-300));
      else val += sb > 0 ? sb * log(sb / u) : 0;
    }
  }
  free(s);
  return val;
}
