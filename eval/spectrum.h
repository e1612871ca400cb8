/* spectrum — the ρ-spectrum definition shared by dml-eval's rho_spectrum@m metric and dml-plot's spectrum figure,
 * in its own small library (libdml_spectrum: LAPACK, no faiss) so that reports/ can link it.
 *
 *   double *s = xmalloc(d * sizeof *s);
 *   if (dml_metric_singular_values(emb, n, d, s)) ...;                 // all d values, largest first
 *   size_t len = dml_rho_spectrum_len(d);                              // the reference CPU path: top d − 1
 *   double rho = dml_metric_rho(s, len, 2, NULL, NULL);                // rho_spectrum@2, the paper's ρ(Φ)
 *
 * Definition (spec A10, eval/metrics/rho_spectrum.c): singular values of the uncentred F from the eigenvalues of
 * the float64 Gram matrix (dsyev); the d − 1 largest (sklearn TruncatedSVD's n_components = d − 1); m ≠ 0: drop
 * the |m| − 1 largest, KL(u‖s̄) for m > 0, KL(s̄‖u) for m < 0; m = 0: the normalised values s̄. */
#ifndef DML_EVAL_SPECTRUM_H
#define DML_EVAL_SPECTRUM_H
#include <stddef.h>

/* The singular values of the uncentred emb (n, d), largest first, in s (d entries). 0, or LAPACK's info. */
int dml_metric_singular_values(const float *emb, size_t n, size_t d, double *s);
/* How many of the d values the metric uses: d − 1 (the reference's CPU path), 1 when d = 1. */
size_t dml_rho_spectrum_len(size_t d);
/* ρ from the top `len` singular values s: m ≠ 0 → the KL value (scipy.stats.entropy semantics, +inf where the
 * reference divides by a zero); m == 0 → *array (heap, len entries) and NaN (array may then not be NULL). */
double dml_metric_rho(const double *s, size_t len, int m, double **array, size_t *array_len);
#endif
