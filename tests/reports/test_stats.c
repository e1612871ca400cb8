/* reports_stats — the statistics behind --significance and the figures, against scipy/numpy values printed by
 * tests/reference/analysis_stats.py (regenerate there and paste if a case changes). */
#include <math.h>
#include <stdio.h>

#include "eval/spectrum.h"
#include "reports/reports.h"
#include "tests/testutil.h"

int main(void) {
  int fails = 0;
  static const double betai[][4] = {
    {0.5, 0.5, 0.3, 0.36901011956554541},  {2.0, 3.0, 0.4, 0.52479999999999993},  {5.0, 0.5, 0.9, 0.31664291502001202},
    {10.0, 10.0, 0.5, 0.50000000000000022}, {1.5, 20.0, 0.05, 0.44342120168569049}, {30.0, 2.0, 0.99, 0.96161048540476446},
  };
  for (size_t i = 0; i < sizeof betai / sizeof *betai; i++) {
    char name[96];
    snprintf(name, sizeof name, "I_%g(%g, %g) vs scipy.special.betainc", betai[i][2], betai[i][0], betai[i][1]);
    fails += expect_scalar(name, dml_betai(betai[i][0], betai[i][1], betai[i][2]), betai[i][3], 1e-13, 1e-12);
  }
  static const double tcdf[][3] = {
    {0.0, 3.0, 0.5}, {1.0, 1.0, 0.75000000000000022}, {-2.5, 4.0, 0.033383272405994063}, {2.0, 7.5, 0.95855150235091691},
    {3.7, 2.2, 0.97156636142257247}, {-0.3, 50.0, 0.3827104401276516}, {10.0, 5.0, 0.99991452621212851},
  };
  for (size_t i = 0; i < sizeof tcdf / sizeof *tcdf; i++) {
    char name[96];
    snprintf(name, sizeof name, "t cdf(%g; %g) vs scipy.stats.t.cdf", tcdf[i][0], tcdf[i][1]);
    fails += expect_scalar(name, dml_student_t_cdf(tcdf[i][0], tcdf[i][1]), tcdf[i][2], 1e-13, 1e-12);
  }
  static const double welch[][7] = {
    {0.59736115042314952, 0.0045169264021251813, 5, 0.60718412349913697, 0.018196974747869826, 5, 0.29977171950838327},
    {0.6031738110244772, 0.0019523504045390575, 3, 0.59195684390000858, 0.018294123399638422, 4, 0.30827414336099118},
    {0.58854959518101491, 0.0077114118954087181, 5, 0.64440379309334817, 0.017144645524381115, 3, 0.020281426239143783},
    {0.59408807775366967, 0.0097103085362346166, 10, 0.60146636969596734, 0.015129799520529239, 10, 0.21352207992998878},
  };
  for (size_t i = 0; i < sizeof welch / sizeof *welch; i++) {
    const double *w = welch[i];
    char name[96];
    snprintf(name, sizeof name, "Welch p case %zu vs scipy.stats.ttest_ind(equal_var=False)", i);
    fails += expect_scalar(name, dml_welch_p(w[0], w[1], (size_t)w[2], w[3], w[4], (size_t)w[5]), w[6], 1e-12, 1e-10);
  }
  fails += expect_true("Welch needs two values per side", isnan(dml_welch_p(1, 0, 1, 1, 0.1, 3)));
  fails += expect_true("Welch with zero variance and equal means: p = 1", dml_welch_p(1, 0, 3, 1, 0, 3) == 1.0);

  const double x[] = {0.61, 0.63, 0.58, 0.66, 0.63, 0.70}, y[] = {0.30, 0.35, 0.31, 0.40, 0.29, 0.41};
  fails += expect_scalar("pearson vs scipy", dml_pearson(x, y, 6), 0.82737912599456831, 1e-14, 1e-12);
  fails += expect_scalar("spearman (ties) vs scipy", dml_spearman(x, y, 6), 0.69572524278293812, 1e-14, 1e-12);
  fails += expect_true("pearson of a constant is NaN", isnan(dml_pearson(x, (double[]){1, 1, 1, 1, 1, 1}, 6)));

  const float m[] = {1, 2, 0.5f, 0.3f, -1, 2, 4, 0, 1, -2, 1, 1, 0.5f, 0.5f, 0.5f, 3, -1, 0};
  double sv[3];
  /* the spectrum figure uses dml-eval's definition (eval/spectrum.h): check it here against numpy / scipy */
  fails += expect_true("singular values", dml_metric_singular_values(m, 6, 3, sv) == 0);
  const double sv_ref[] = {5.5834634643066128, 2.6904855756560933, 2.3824825533657652};
  fails += expect_close("singular values vs numpy.linalg.svd", sv, sv_ref, 3, 1e-12, 1e-11);
  fails += expect_scalar("rho over all 3 values, @2, vs numpy", dml_metric_rho(sv_ref, 3, 2, NULL, NULL),
                         0.0018465343269741495, 1e-15, 1e-11);
  fails += expect_scalar("rho over all 3 values, @-1, vs numpy", dml_metric_rho(sv_ref, 3, -1, NULL, NULL),
                         0.077519928515023193, 1e-15, 1e-11);
  /* the metric's (and the figure's) values: the top d − 1 (sklearn TruncatedSVD, n_components = d − 1) */
  fails += expect_true("rho_spectrum uses the top d - 1 values", dml_rho_spectrum_len(3) == 2 && dml_rho_spectrum_len(1) == 1);
  fails += expect_scalar("rho_spectrum@1 (top 2) vs scipy.stats.entropy(u, s)",
                         dml_metric_rho(sv, dml_rho_spectrum_len(3), 1, NULL, NULL), 0.06519924585774933, 1e-15, 1e-10);
  fails += expect_scalar("rho_spectrum@-1 (top 2) vs scipy.stats.entropy(s, u)",
                         dml_metric_rho(sv, dml_rho_spectrum_len(3), -1, NULL, NULL), 0.06243794634953609, 1e-15, 1e-10);
  return test_report("reports_stats", fails);
}
