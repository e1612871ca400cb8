/* analysis_escape — the one escaping function per target, exact outputs written by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "tests/testutil.h"

static int check(const char *what, char *got, const char *want) {
  int f = expect_true(what, !strcmp(got, want));
  if (f) fprintf(stderr, "  got  [%s]\n  want [%s]\n", got, want);
  free(got);
  return f;
}

int main(void) {
  int fails = 0;
  fails += check("latex specials", dml_escape_latex("a_b$c%d&e#f{g}h^i~j\\k"),
                 "a\\_b\\$c\\%d\\&e\\#f\\{g\\}h\\textasciicircum{}i\\textasciitilde{}j\\textbackslash{}k");
  fails += check("latex brackets, star, quotes, bars", dml_escape_latex("[x]*\"<|>"),
                 "{[}x{]}{*}\\textquotedbl{}\\textless{}\\textbar{}\\textgreater{}");
  fails += check("latex control characters", dml_escape_latex("a\nb\tc\rd"), "a b c d");
  fails += check("latex beta, pm, other UTF-8 and invalid bytes", dml_escape_latex("\xce\xb2=1 \xc2\xb1 \xe2\x82\xac \xff!"),
                 "$\\beta$=1 $\\pm$ ? ?!");
  fails += check("latex empty", dml_escape_latex(""), "");
  fails += check("gnuplot quote doubled", dml_escape_gnuplot("it's"), "it''s");
  fails += check("gnuplot system() stays text", dml_escape_gnuplot("x'; system(\"id\"); '"), "x''; system(\"id\"); ''");
  fails += check("gnuplot newline, backslash, backquote", dml_escape_gnuplot("a\nb\\`c`"), "a b\\`c`");
  fails += check("csv plain", dml_escape_csv("abc"), "\"abc\"");
  fails += check("csv quotes, comma, newline", dml_escape_csv("a\"b,c\nd"), "\"a\"\"b,c\nd\"");
  fails += check("csv formula guard", dml_escape_csv("=1+2"), "\"'=1+2\"");
  fails += check("csv minus guard", dml_escape_csv("-cmd"), "\"'-cmd\"");
  fails += check("json valid UTF-8 kept", dml_escape_json("\xce\xb2 \"q\" \\"), "\xce\xb2 \"q\" \\");
  fails += check("json invalid bytes replaced", dml_escape_json("a\xff" "b\xc3"), "a\xef\xbf\xbd" "b\xef\xbf\xbd");
  fails += check("json overlong / surrogate replaced", dml_escape_json("\xc0\xaf\xed\xa0\x80"),
                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  fails += check("markdown", dml_escape_markdown("a|b_c*d\n`e`<f"), "a\\|b\\_c\\*d \\`e\\`\\<f");
  fails += check("display name margin", dml_display_name("CUB_Margin_b06_Distance"), "Margin (D, \xce\xb2=0.6)");
  fails += check("display name regularised", dml_display_name("CUBreg_Margin_b12_Distance"), "R-Margin (D, \xce\xb2=1.2)");
  fails += check("display name MS", dml_display_name("SOP_MS"), "Multisimilarity");
  fails += check("display name fallback drops the first token", dml_display_name("CARS_ProxyNCA"), "ProxyNCA");
  fails += check("display name without underscore", dml_display_name("plain"), "plain");
  return test_report("analysis_escape", fails);
}
