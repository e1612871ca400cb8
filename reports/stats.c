/* stats — Welch's two-sample t-test for `dml-table --significance`: the Student-t CDF through the regularised
 * incomplete beta function, evaluated with Lentz's continued fraction. */
#include <math.h>

#include "reports/reports.h"

static double betacf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-15;
  double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
  if (fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 300; m++) {
    int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (fabs(c) < tiny) c = tiny;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1) < eps) break;
  }
  return h;
}

double dml_betai(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return exp(lbt) * betacf(a, b, x) / a;
  return 1 - exp(lbt) * betacf(b, a, 1 - x) / b;
}

double dml_student_t_cdf(double t, double dof) {
  double x = dof / (dof + t * t);
  double tail = 0.5 * dml_betai(dof / 2, 0.5, x);
  return t > 0 ? 1 - tail : tail;
}

double dml_welch_p(double m1, double s1, size_t n1, double m2, double s2, size_t n2) {
  if (n1 < 2 || n2 < 2) return NAN;
  double v1 = s1 * s1 / n1, v2 = s2 * s2 / n2;
  if (v1 + v2 <= 0) return m1 == m2 ? 1.0 : 0.0;
  double t = (m1 - m2) / sqrt(v1 + v2);
  double dof = (v1 + v2) * (v1 + v2) / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1));
  return 2 * (1 - dml_student_t_cdf(fabs(t), dof));
}
