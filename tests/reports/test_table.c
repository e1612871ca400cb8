/* reports_table — dml-table output against golden files in tests/fixtures/analysis/ (made from the hand-written
 * aggregate agg_small.json and checked by hand: bold = best mean per column; underlined = Welch p >= 0.05 against
 * the best, e.g. CUB R@1 65.5±1.0 vs 66.0±1.0 (n 3, p ≈ 0.57) but not 61.0±1.0 (p ≈ 0.004); "Margin (D, β=1.2)"
 * joins the CUB and CARS groups as the reference's display names do; R- rows last).
 * table_small_single.tex: dml-table agg_small.json --per-dataset --metrics e_recall@1,nmi --significance.
 * On a deliberate change: rerun the dml-table lines in the comment at each case and review the diff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"
#include "tests/testutil.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = calloc((size_t)n + 1, 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
  fclose(f);
  return s;
}

static int golden(const char *name, const struct dml_aggregate *a, const struct dml_table_opts *o, const char *file) {
  char *buf = NULL;
  size_t n = 0;
  FILE *mem = open_memstream(&buf, &n);
  dml_status st = dml_table_write(a, o, mem);
  fclose(mem);
  char *path = dml_strfmt("tests/fixtures/analysis/%s", file), *want = slurp(path);
  int fails = expect_true(name, st == DML_OK && want && !strcmp(buf, want));
  if (fails) fprintf(stderr, "--- %s differs from %s; got:\n%s\n", name, path, buf);
  free(buf);
  free(want);
  free(path);
  return fails;
}

int main(void) {
  int fails = 0;
  struct dml_aggregate a;
  fails += expect_true("read agg_small.json", dml_aggregate_read_json("tests/fixtures/analysis/agg_small.json", &a) == DML_OK);
  if (fails) return test_report("reports_table", fails);
  const char *metrics[] = {"e_recall@1", "nmi"};
  /* dml-table agg_small.json --latex --metrics e_recall@1,nmi --significance -o table_small.tex */
  struct dml_table_opts o = {.format = DML_TABLE_LATEX, .metrics = metrics, .n_metrics = 2, .scale = 100, .decimals = 2,
                             .significance = 1, .alpha = 0.05};
  fails += golden("latex", &a, &o, "table_small.tex");
  o.format = DML_TABLE_MARKDOWN; /* --markdown */
  fails += golden("markdown", &a, &o, "table_small.md");
  o.format = DML_TABLE_CSV; /* --csv */
  fails += golden("csv", &a, &o, "table_small.csv");
  /* --latex --standalone --raw-names --metrics e_recall@1 --datasets cars196,cub200 --decimals 1 */
  const char *ds[] = {"cars196", "cub200"};
  struct dml_table_opts s = {.format = DML_TABLE_LATEX, .metrics = metrics, .n_metrics = 1, .datasets = ds, .n_datasets = 2,
                             .scale = 100, .decimals = 1, .standalone = 1, .raw_names = 1, .alpha = 0.05};
  fails += golden("latex standalone", &a, &s, "table_small_standalone.tex");

  /* --per-dataset --metrics e_recall@1,nmi --significance: the reference's single_table with Max_Epoch */
  struct dml_table_opts pd = o;
  pd.format = DML_TABLE_LATEX;
  pd.per_dataset = 1;
  fails += golden("latex per dataset", &a, &pd, "table_small_single.tex");

  /* a display-name map: first contained substring wins, names are escaped */
  const char *map[] = {"Triplet", "T_R $1", "CUBreg", "Regularised"};
  struct dml_table_opts nm = {.format = DML_TABLE_MARKDOWN, .metrics = metrics, .n_metrics = 1, .scale = 1, .decimals = 3,
                              .name_map = map, .n_name_map = 2};
  char *mb = NULL;
  size_t mn = 0;
  FILE *mm = open_memstream(&mb, &mn);
  dml_table_write(&a, &nm, mm);
  fclose(mm);
  fails += expect_true("name map: mapped, escaped rows", strstr(mb, "| T\\_R $1 | 0.610 ± 0.010 |") != NULL &&
                                                         strstr(mb, "| Regularised | 0.655 ± 0.010 |") != NULL);
  fails += expect_true("name map: unmapped rows keep the reference names", strstr(mb, "| Margin (D, \xce\xb2=1.2) |") != NULL);
  free(mb);

  /* cells checked by hand, independent of the golden files */
  char *buf = NULL;
  size_t n = 0;
  FILE *mem = open_memstream(&buf, &n);
  o.format = DML_TABLE_LATEX;
  dml_table_write(&a, &o, mem);
  fclose(mem);
  fails += expect_true("best CUB R@1 in bold", strstr(buf, "$\\mathbf{66.00 \\pm 1.00}$") != NULL);
  fails += expect_true("R-Margin within noise underlined", strstr(buf, "$\\underline{65.50 \\pm 1.00}$") != NULL);
  fails += expect_true("Triplet R@1 plain", strstr(buf, "Triplet (R) & $61.00 \\pm 1.00$") != NULL);
  fails += expect_true("missing method: $-\\pm-$", strstr(buf, "& $-\\pm-$ & $-\\pm-$ \\\\") != NULL);
  fails += expect_true("the rule is stated", strstr(buf, "% dml-table: rule max on split test, sample std") == buf);
  fails += expect_true("R- rows after plain rows", strstr(buf, "R-Margin") > strstr(buf, "Triplet (R)"));
  free(buf);
  o.n_metrics = 0;
  mem = open_memstream(&buf, &n);
  fails += expect_true("no metrics is an argument error", dml_table_write(&a, &o, mem) == DML_ERR_ARG);
  fclose(mem);
  free(buf);
  dml_aggregate_free(&a);
  return test_report("reports_table", fails);
}
