/* reports_injection — hostile group names, run names, datasets and metric keys (quotes, backslashes, newlines,
 * $ % & _ # { }, backquotes, gnuplot macros and system() calls) through every output: aggregate JSON and CSV,
 * LaTeX / Markdown tables, and all four gnuplot figures. A successful injection would create a marker file; a
 * positive control shows that an unescaped system() call does create it. Figures skip (the rest still runs)
 * without gnuplot. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reports/reports.h"
#include "tests/analysis/synth.h"
#include "tests/testutil.h"

#define NH 5

static int exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

/* RFC 4180 records: count records and check each has `fields` fields; the field list of record r is returned. */
static int csv_records(const char *text, int fields, int *records) {
  int ok = 1, nf = 1;
  *records = 0;
  for (const char *p = text; *p;) {
    if (*p == '"') {
      for (p++; *p && !(*p == '"' && p[1] != '"'); p += *p == '"' ? 2 : 1) {}
      if (*p) p++;
    } else if (*p == ',') {
      nf++;
      p++;
    } else if (*p == '\n') {
      ok &= nf == fields;
      (*records)++;
      nf = 1;
      p++;
    } else p++;
  }
  return ok;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return xstrdup("");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = xcalloc((size_t)n + 1, 1);
  if (fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
  fclose(f);
  return s;
}

int main(void) {
  int fails = 0;
  char *dir = test_tmpdir("reports_injection");
  char *mark = dml_strfmt("%s/pwned", dir);
  char *h[NH] = {
    dml_strfmt("x'; system(\"touch %s\"); print '", mark),
    dml_strfmt("y\"; system(\"touch %s\"); \" '", mark),
    dml_strfmt("`touch %s` @GPVAL_TERM \\ line\nbreak", mark),
    xstrdup("$%&_#{}^~|<>[]* \\textbf{x}\\input{/etc/passwd} \xc3\xa9 \xce\xb2 ' \" -- end\\"),
    xstrdup("=cmd|' /C calc'!A0,\"a\",b\r\n<!-- x -->"),
  };
  char *key = dml_strfmt("k'; system(\"touch %s\"); '", mark);
  for (int i = 0; i < NH; i++)
    for (long s = 0; s < 3; s++) {
      char *name = dml_strfmt("%s_s%ld", h[i], s), *grp = dml_strfmt("g%d", i);
      struct synth_run r = {.dataset = i == 3 ? "cub'200\"$x" : "cub200", .group = grp, .name = name, .seed = s,
                            .base = 0.5 + 0.02 * i, .status = DML_RUN_FINISHED, .extra_key = i == 1 ? key : NULL};
      if (synth_write(dir, &r)) {
        fprintf(stderr, "synth: %s\n", dml_error_message());
        fails++;
      }
      free(name);
      free(grp);
    }
  struct dml_runset rs = {0};
  dml_runset_scan(&rs, dir, NULL);
  fails += expect_true("15 hostile runs read", rs.n == 15);
  struct dml_agg_opts ao = {.rule = DML_RULE_MAX, .split = "test"};
  struct dml_aggregate a;
  fails += expect_true("aggregate", dml_aggregate_compute(&rs, &ao, &a) == DML_OK);
  fails += expect_true("5 groups", a.n_groups == NH);
  for (int i = 0; i < NH; i++) {
    int found = 0;
    for (size_t g = 0; g < a.n_groups; g++) found |= !strcmp(a.groups[g].name, h[i]);
    char nm[64];
    snprintf(nm, sizeof nm, "hostile name %d grouped intact", i);
    fails += expect_true(nm, found);
  }

  /* JSON: jansson reads every name back byte for byte */
  char *js = dml_strfmt("%s/agg.json", dir);
  fails += expect_true("write json", dml_aggregate_write_json(&a, js) == DML_OK);
  json_error_t je;
  json_t *root = json_load_file(js, 0, &je);
  fails += expect_true("json parses", root != NULL);
  int names = 0, keyed = 0;
  json_t *gs = json_object_get(root, "groups"), *jg;
  size_t gi;
  json_array_foreach(gs, gi, jg) {
    const char *nm = json_string_value(json_object_get(jg, "group"));
    for (int i = 0; i < NH; i++) names += nm && !strcmp(nm, h[i]);
    keyed += json_object_get(json_object_get(jg, "metrics"), key) != NULL;
  }
  fails += expect_true("json: every hostile name intact", names == NH);
  fails += expect_true("json: the hostile metric key intact", keyed == 1);
  json_decref(root);
  struct dml_aggregate b;
  fails += expect_true("json reads back", dml_aggregate_read_json(js, &b) == DML_OK && b.n_groups == NH);
  dml_aggregate_free(&b);

  /* CSV: RFC 4180 structure holds (10 fields per record), a formula-looking name is guarded */
  char *csv = dml_strfmt("%s/agg.csv", dir);
  dml_aggregate_write_csv(&a, csv);
  char *text = slurp(csv);
  int records = 0;
  fails += expect_true("csv: 10 fields in every record", csv_records(text, 10, &records));
  fails += expect_true("csv: header + 5 groups × 2 metrics + 1 hostile key", records == 1 + 2 * NH + 1);
  fails += expect_true("csv: a leading = is guarded", strstr(text, "\"'=cmd|") != NULL);
  free(text);

  /* LaTeX and Markdown tables with raw (hostile) names */
  const char *metrics[] = {"e_recall@1", "nmi", key};
  for (int fmt = 0; fmt < 2; fmt++) {
    char *buf = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&buf, &n);
    struct dml_table_opts o = {.format = fmt ? DML_TABLE_MARKDOWN : DML_TABLE_LATEX, .metrics = metrics, .n_metrics = 3,
                               .scale = 100, .decimals = 2, .raw_names = 1, .significance = 1, .alpha = 0.05};
    fails += expect_true(fmt ? "markdown table" : "latex table", dml_table_write(&a, &o, mem) == DML_OK);
    fclose(mem);
    int rows = 0, bad = 0;
    char *save = NULL;
    int body = fmt ? 0 : -1;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      if (!fmt) { /* LaTeX: every body line is a whole row ending in \\ with 6 cells (2 datasets × 3 metrics), no bare % */
        if (!strcmp(line, "\\midrule")) { body = 1; continue; }
        if (!strcmp(line, "\\bottomrule")) body = 0;
        if (body != 1) continue;
        rows++;
        size_t l = strlen(line);
        int amp = 0;
        for (size_t k = 0; k < l; k++) {
          if (line[k] == '&' && (k == 0 || line[k - 1] != '\\')) amp++;
          if (line[k] == '%' && (k == 0 || line[k - 1] != '\\')) bad++;
        }
        bad += amp != 6 || l < 3 || strcmp(line + l - 3, " \\\\");
      } else { /* Markdown: 2 + 6 unescaped | per row */
        if (strncmp(line, "| ", 2) || !strncmp(line, "| Method", 8)) continue;
        rows++;
        int bars = 0;
        for (size_t k = 0; line[k]; k++) bars += line[k] == '|' && (k == 0 || line[k - 1] != '\\');
        bad += bars != 8;
      }
    }
    fails += expect_true(fmt ? "markdown: one intact row per group" : "latex: one intact row per group", rows == NH && !bad);
    free(buf);
  }

  /* gnuplot: a positive control, then the escaping against the real interpreter, then every figure */
  if (system("command -v gnuplot > /dev/null 2>&1") == 0) {
    char *ctl = dml_strfmt("%s/control.gp", dir), *ctl_mark = dml_strfmt("%s/control-marker", dir);
    FILE *f = fopen(ctl, "w");
    fprintf(f, "print \"\" . system(\"touch %s\")\n", ctl_mark);
    fclose(f);
    dml_gnuplot_run(ctl, NULL);
    fails += expect_true("control: unescaped system() does create its marker", exists(ctl_mark));
    f = fopen(ctl, "w");
    for (int i = 0; i < NH; i++) {
      char *e = dml_escape_gnuplot(h[i]);
      fprintf(f, "set title '%s'\nprint '%s'\n", e, e);
      free(e);
    }
    fclose(f);
    fails += expect_true("escaped strings are valid gnuplot", dml_gnuplot_run(ctl, NULL) == DML_OK);
    fails += expect_true("escaped strings run nothing", !exists(mark));
    for (int raw = 0; raw < 2; raw++) {
      char *p = dml_strfmt("%s/curves%d.png", dir, raw);
      fails += expect_true("curves with hostile names", dml_plot_curves(&rs, key, "test", p, raw) == DML_OK);
      free(p);
      const char *xs[] = {"dists@intra_over_inter", key};
      struct dml_relation_opts ro = {.x_metrics = xs, .n_x = 1, .x_split = "train", .y_metric = "e_recall@1",
                                     .y_split = "test", .rule = ao, .raw_names = raw};
      p = dml_strfmt("%s/relation%d.png", dir, raw);
      fails += expect_true("relation with hostile names", dml_plot_relation(&rs, &ro, p) == DML_OK);
      free(p);
    }
    const char *cm[] = {"e_recall@1", "nmi", key};
    struct dml_aggregate hostile_only = a;
    char *p = dml_strfmt("%s/corr.png", dir);
    fails += expect_true("correlation with hostile names", dml_plot_correlation(&hostile_only, cm, 2, p) == DML_OK);
    free(p);
    p = dml_strfmt("%s/spec'\"trum`x`.png", dir);
    fails += expect_true("spectrum with hostile run names and file name", dml_plot_spectrum(&rs, "test", 0, p) == DML_OK);
    free(p);
    fails += expect_true("no figure ran a command", !exists(mark));
    free(ctl);
    free(ctl_mark);
  } else fprintf(stderr, "reports_injection: gnuplot not found, figure checks skipped\n");

  fails += expect_true("the marker file was never created", !exists(mark));
  dml_aggregate_free(&a);
  dml_runset_free(&rs);
  for (int i = 0; i < NH; i++) free(h[i]);
  free(key);
  free(js);
  free(csv);
  free(mark);
  free(dir);
  return test_report("reports_injection", fails);
}
