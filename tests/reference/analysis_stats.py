#!/usr/bin/python3
"""Reference values for tests/reports/test_stats.c (Welch's t-test, Student-t CDF, regularised incomplete beta,
Pearson/Spearman, singular values, rho_spectrum). Run with Debian's /usr/bin/python3 (scipy, numpy); paste the
printed C initialisers into the test when a case changes. scipy's values are the independent source."""
import numpy as np
from scipy import special, stats

print("/* betai: a, b, x, I_x(a, b) */")
for a, b, x in [(0.5, 0.5, 0.3), (2.0, 3.0, 0.4), (5.0, 0.5, 0.9), (10.0, 10.0, 0.5), (1.5, 20.0, 0.05), (30.0, 2.0, 0.99)]:
    print("{%r, %r, %r, %.17g}," % (a, b, x, special.betainc(a, b, x)))
print("/* student t cdf: t, dof, F(t) */")
for t, df in [(0.0, 3.0), (1.0, 1.0), (-2.5, 4.0), (2.0, 7.5), (3.7, 2.2), (-0.3, 50.0), (10.0, 5.0)]:
    print("{%r, %r, %.17g}," % (t, df, stats.t.cdf(t, df)))
print("/* welch: m1, s1, n1, m2, s2, n2, p (two-sided, s = sample std) */")
rng = np.random.default_rng(7)
for n1, n2, shift in [(5, 5, 0.01), (3, 4, 0.0), (5, 3, 0.05), (10, 10, 0.002)]:
    a = 0.6 + 0.01 * rng.standard_normal(n1)
    b = 0.6 + shift + 0.02 * rng.standard_normal(n2)
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    print("{%.17g, %.17g, %d, %.17g, %.17g, %d, %.17g}," % (a.mean(), a.std(ddof=1), n1, b.mean(), b.std(ddof=1), n2, p))
print("/* pearson / spearman of x, y (with ties) */")
x = np.array([0.61, 0.63, 0.58, 0.66, 0.63, 0.70])
y = np.array([0.30, 0.35, 0.31, 0.40, 0.29, 0.41])
print("pearson %.17g spearman %.17g" % (stats.pearsonr(x, y)[0], stats.spearmanr(x, y)[0]))
print("/* singular values of the 6x3 matrix M (float32 values) and rho_spectrum@2 on them (KL(u||s/sum s) without the largest) */")
M = np.array([[1, 2, 0.5], [0.3, -1, 2], [4, 0, 1], [-2, 1, 1], [0.5, 0.5, 0.5], [3, -1, 0]], dtype=np.float32).astype(np.float64)
s = np.linalg.svd(M, compute_uv=False)
print("sv", ", ".join("%.17g" % v for v in s))
t = s[1:] / s[1:].sum()
u = np.ones_like(t) / len(t)
print("rho2 %.17g  rho-1 %.17g" % (np.sum(u * np.log(u / t)), np.sum((s / s.sum()) * np.log((s / s.sum()) / (np.ones_like(s) / len(s))))))
