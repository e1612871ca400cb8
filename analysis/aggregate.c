/* aggregate — per-run selection rules and seed statistics; JSON and CSV output. See analysis.h. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "common/output.h"

size_t dml_stats(const double *v, size_t n, int population, double *mean, double *std, double *min, double *max) {
  size_t k = 0;
  double s = 0, lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++)
    if (!isnan(v[i])) {
      s += v[i];
      k++;
      if (v[i] < lo) lo = v[i];
      if (v[i] > hi) hi = v[i];
    }
  *mean = k ? s / k : NAN;
  double ss = 0;
  for (size_t i = 0; i < n; i++)
    if (!isnan(v[i])) ss += (v[i] - *mean) * (v[i] - *mean);
  size_t dof = population ? k : k - 1;
  *std = k && dof > 0 ? sqrt(ss / dof) : (k == 1 ? 0 : NAN);
  *min = k ? lo : NAN;
  *max = k ? hi : NAN;
  return k;
}

char *dml_group_name_of(const char *name) {
  char *g = xstrdup(name);
  size_t n = strlen(g);
  /* strip a "_<digits>" duplicate suffix that follows "_s<digits>" */
  char *u = strrchr(g, '_');
  if (u && u[1] && isdigit((unsigned char)u[1])) {
    char *e = u + 1;
    while (isdigit((unsigned char)*e)) e++;
    if (!*e) {
      char keep = *u;
      *u = 0;
      char *v = strrchr(g, '_');
      int is_seed = v && v[1] == 's' && v[2] && isdigit((unsigned char)v[2]);
      if (is_seed) for (char *c = v + 2; *c; c++) is_seed &= isdigit((unsigned char)*c) != 0;
      if (!is_seed) *u = keep;
    }
  }
  n = strlen(g);
  char *v = strrchr(g, '_');
  if (v && v[1] == 's' && v[2]) {
    int digits = 1;
    for (char *c = v + 2; *c; c++) digits &= isdigit((unsigned char)*c) != 0;
    if (digits && v != g) *v = 0;
  }
  (void)n;
  return g;
}

/* Index of the epoch selected by the BEST rule, or -1. */
static long best_index(const struct dml_run *r, const struct dml_agg_opts *o, const char **used_split) {
  const char *sp = o->select_split && *o->select_split ? o->select_split : "val";
  const struct dml_series *s = dml_run_series(r, sp, o->best_metric);
  if (!s) {
    sp = o->split;
    s = dml_run_series(r, sp, o->best_metric);
  }
  *used_split = sp;
  if (!s) return -1;
  long bi = -1;
  for (size_t i = 0; i < s->n; i++)
    if (!isnan(s->value[i]) && (bi < 0 || s->value[i] > s->value[bi])) bi = (long)i;
  return bi < 0 ? -1 : (long)s->epoch[bi];
}

/* Value of series s by the rule; *epoch receives the epoch it was read at. */
static double select_value(const struct dml_series *s, enum dml_rule rule, long best_epoch, long *epoch) {
  *epoch = -1;
  if (!s || !s->n) return NAN;
  if (rule == DML_RULE_LAST) {
    for (size_t i = s->n; i-- > 0;)
      if (!isnan(s->value[i])) { *epoch = (long)s->epoch[i]; return s->value[i]; }
    return NAN;
  }
  if (rule == DML_RULE_BEST) {
    for (size_t i = 0; i < s->n; i++)
      if ((long)s->epoch[i] == best_epoch) { *epoch = best_epoch; return s->value[i]; }
    return NAN;
  }
  double m = NAN;
  for (size_t i = 0; i < s->n; i++)
    if (!isnan(s->value[i]) && (isnan(m) || s->value[i] > m)) { m = s->value[i]; *epoch = (long)s->epoch[i]; }
  return m;
}

static int cmp_run_idx(const void *a, const void *b, void *ctx) {
  const struct dml_run *runs = ctx;
  const struct dml_run *x = &runs[*(const size_t *)a], *y = &runs[*(const size_t *)b];
  return x->meta.seed < y->meta.seed ? -1 : x->meta.seed > y->meta.seed ? 1 : strcmp(x->path, y->path);
}

static int cmp_keys(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_warning(struct dml_agg_group *g, char *w) {
  g->warnings = xrealloc(g->warnings, (g->n_warnings + 1) * sizeof *g->warnings);
  g->warnings[g->n_warnings++] = w;
}

dml_status dml_aggregate_compute(const struct dml_runset *rs, const struct dml_agg_opts *o, struct dml_aggregate *out) {
  memset(out, 0, sizeof *out);
  const char *split = o->split && *o->split ? o->split : "test";
  if (o->rule == DML_RULE_BEST && (!o->best_metric || !*o->best_metric))
    return dml_error(DML_ERR_ARG, "--select best:<metric> needs a metric name");
  out->split = xstrdup(split);
  out->population_std = o->population_std;
  out->rule = o->rule == DML_RULE_MAX ? xstrdup("max") : o->rule == DML_RULE_LAST ? xstrdup("last")
            : dml_strfmt("best:%s@%s", o->best_metric, o->select_split && *o->select_split ? o->select_split : "val");
  /* group keys per run */
  size_t n = rs->n;
  char **gkey = xcalloc(n + 1, sizeof *gkey);
  for (size_t i = 0; i < n; i++) {
    const struct dml_run_meta *m = &rs->runs[i].meta;
    const char *nm = !o->by_group_attr && m->name && *m->name ? m->name : (m->group ? m->group : "");
    gkey[i] = !o->by_group_attr && m->name && *m->name ? dml_group_name_of(nm) : xstrdup(nm);
  }
  int *done = xcalloc(n + 1, sizeof *done);
  size_t *members = xmalloc((n + 1) * sizeof *members);
  for (size_t i = 0; i < n; i++) {
    if (done[i]) continue;
    const char *ds = rs->runs[i].meta.dataset ? rs->runs[i].meta.dataset : "";
    size_t nm = 0;
    for (size_t j = i; j < n; j++) {
      const char *dj = rs->runs[j].meta.dataset ? rs->runs[j].meta.dataset : "";
      if (!done[j] && !strcmp(gkey[j], gkey[i]) && !strcmp(dj, ds)) {
        done[j] = 1;
        members[nm++] = j;
      }
    }
    qsort_r(members, nm, sizeof *members, cmp_run_idx, rs->runs);
    out->groups = xrealloc(out->groups, (out->n_groups + 1) * sizeof *out->groups);
    struct dml_agg_group *g = &out->groups[out->n_groups++];
    memset(g, 0, sizeof *g);
    g->dataset = xstrdup(ds);
    g->name = xstrdup(gkey[i]);
    /* runs that qualify: status and history length */
    size_t *use = xmalloc((nm + 1) * sizeof *use);
    size_t nu = 0;
    for (size_t k = 0; k < nm; k++) {
      const struct dml_run *r = &rs->runs[members[k]];
      const char *stt = r->meta.status ? r->meta.status : "unknown";
      if (!strcmp(stt, "failed")) {
        add_warning(g, dml_strfmt("seed %ld failed (%s): excluded", r->meta.seed, r->path));
        continue;
      }
      if (strcmp(stt, "finished")) add_warning(g, dml_strfmt("seed %ld is %s (%s)", r->meta.seed, stt, r->path));
      size_t hist = 0;
      for (size_t s = 0; s < r->n_series; s++)
        if (!strcmp(r->series[s].split, split) && r->series[s].n > hist) hist = r->series[s].n;
      if ((int)hist < o->min_epochs) {
        add_warning(g, dml_strfmt("seed %ld has %zu evaluated epochs < --min-epochs %d: excluded", r->meta.seed, hist,
                                  o->min_epochs));
        continue;
      }
      if (nu && rs->runs[use[nu - 1]].meta.seed == r->meta.seed)
        add_warning(g, dml_strfmt("seed %ld appears more than once (%s)", r->meta.seed, r->path));
      use[nu++] = members[k];
    }
    g->n_runs = nu;
    g->seeds = xcalloc(nu + 1, sizeof *g->seeds);
    g->paths = xcalloc(nu + 1, sizeof *g->paths);
    for (size_t k = 0; k < nu; k++) {
      g->seeds[k] = rs->runs[use[k]].meta.seed;
      g->paths[k] = xstrdup(rs->runs[use[k]].path);
    }
    /* seeds 0..max missing? (a gap in a contiguous seed range) */
    for (size_t k = 1; k < nu; k++)
      if (g->seeds[k] > g->seeds[k - 1] + 1)
        add_warning(g, dml_strfmt("seeds %ld..%ld are missing", g->seeds[k - 1] + 1, g->seeds[k] - 1));
    /* the union of metric keys of the split */
    char **keys = NULL;
    size_t nk = 0;
    for (size_t k = 0; k < nu; k++) {
      const struct dml_run *r = &rs->runs[use[k]];
      for (size_t s = 0; s < r->n_series; s++) {
        if (strcmp(r->series[s].split, split)) continue;
        int seen = 0;
        for (size_t q = 0; q < nk && !seen; q++) seen = !strcmp(keys[q], r->series[s].key);
        if (!seen) {
          keys = xrealloc(keys, (nk + 1) * sizeof *keys);
          keys[nk++] = r->series[s].key;
        }
      }
    }
    qsort(keys, nk, sizeof *keys, cmp_keys);
    g->n_metrics = nk;
    g->metrics = xcalloc(nk + 1, sizeof *g->metrics);
    for (size_t q = 0; q < nk; q++) {
      struct dml_agg_metric *am = &g->metrics[q];
      am->key = xstrdup(keys[q]);
      am->values = xcalloc(nu + 1, sizeof *am->values);
      am->seeds = xcalloc(nu + 1, sizeof *am->seeds);
      am->epochs = xcalloc(nu + 1, sizeof *am->epochs);
      const char *def = NULL;
      int def_mixed = 0;
      for (size_t k = 0; k < nu; k++) {
        const struct dml_run *r = &rs->runs[use[k]];
        long be = -1;
        const char *used = NULL;
        if (o->rule == DML_RULE_BEST) be = best_index(r, o, &used);
        const struct dml_series *ser = dml_run_series(r, split, keys[q]);
        /* never average numbers of different metric definitions silently */
        if (ser && ser->definition && *ser->definition) {
          if (!def) def = ser->definition;
          else if (strcmp(def, ser->definition) && !def_mixed) {
            def_mixed = 1;
            add_warning(g, dml_strfmt("metric %s has different definitions across seeds (%s, %s)", keys[q], def,
                                      ser->definition));
          }
        }
        am->values[am->n] = select_value(ser, o->rule, be, &am->epochs[am->n]);
        am->seeds[am->n] = r->meta.seed;
        am->n++;
      }
      dml_stats(am->values, am->n, o->population_std, &am->mean, &am->std, &am->min, &am->max);
      am->definition = def && !def_mixed ? xstrdup(def) : def_mixed ? xstrdup("mixed") : NULL;
    }
    free(keys);
    free(use);
  }
  for (size_t i = 0; i < n; i++) free(gkey[i]);
  free(gkey);
  free(done);
  free(members);
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- output

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* Every user string reaches the JSON through dml_escape_json (jansson refuses invalid UTF-8). */
static json_t *jstr(const char *s) {
  char *e = dml_escape_json(s ? s : "");
  json_t *j = json_string(e);
  free(e);
  return j;
}

static void jset_key(json_t *obj, const char *key, json_t *v) {
  char *e = dml_escape_json(key);
  json_object_set_new(obj, e, v);
  free(e);
}

dml_status dml_aggregate_write_json(const struct dml_aggregate *a, const char *path) {
  json_t *root = json_object(), *groups = json_array();
  json_object_set_new(root, "format", json_string("dml-aggregate/1"));
  json_object_set_new(root, "rule", jstr(a->rule));
  json_object_set_new(root, "split", jstr(a->split));
  json_object_set_new(root, "std", json_string(a->population_std ? "population" : "sample"));
  for (size_t i = 0; i < a->n_groups; i++) {
    const struct dml_agg_group *g = &a->groups[i];
    json_t *jg = json_object(), *seeds = json_array(), *paths = json_array(), *warn = json_array(), *ms = json_object();
    json_object_set_new(jg, "dataset", jstr(g->dataset));
    json_object_set_new(jg, "group", jstr(g->name));
    json_object_set_new(jg, "n_runs", json_integer((json_int_t)g->n_runs));
    for (size_t k = 0; k < g->n_runs; k++) {
      json_array_append_new(seeds, json_integer(g->seeds[k]));
      json_array_append_new(paths, jstr(g->paths[k]));
    }
    for (size_t k = 0; k < g->n_warnings; k++) json_array_append_new(warn, jstr(g->warnings[k]));
    for (size_t q = 0; q < g->n_metrics; q++) {
      const struct dml_agg_metric *m = &g->metrics[q];
      json_t *jm = json_object(), *vals = json_array(), *eps = json_array(), *sd = json_array();
      size_t used = 0;
      for (size_t k = 0; k < m->n; k++) {
        json_array_append_new(vals, num(m->values[k]));
        json_array_append_new(eps, json_integer(m->epochs[k]));
        json_array_append_new(sd, json_integer(m->seeds[k]));
        used += !isnan(m->values[k]);
      }
      json_object_set_new(jm, "n", json_integer((json_int_t)used));
      if (m->definition) json_object_set_new(jm, "definition", jstr(m->definition));
      json_object_set_new(jm, "mean", num(m->mean));
      json_object_set_new(jm, "std", num(m->std));
      json_object_set_new(jm, "min", num(m->min));
      json_object_set_new(jm, "max", num(m->max));
      json_object_set_new(jm, "values", vals);
      json_object_set_new(jm, "epochs", eps);
      json_object_set_new(jm, "seeds", sd);
      jset_key(ms, m->key, jm);
    }
    json_object_set_new(jg, "seeds", seeds);
    json_object_set_new(jg, "runs", paths);
    json_object_set_new(jg, "warnings", warn);
    json_object_set_new(jg, "metrics", ms);
    json_array_append_new(groups, jg);
  }
  json_object_set_new(root, "groups", groups);
  int to_stdout = !path || !strcmp(path, "-");
  dml_status st = DML_OK; /* written in place, not renamed: /dev/null or a FIFO are fine, /dev/full fails below */
  FILE *f = to_stdout ? stdout : fopen(path, "w");
  if (!st && !f) st = dml_error(DML_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  if (f) {
    int rc = json_dumpf(root, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    fputc('\n', f);
    st = dml_output_close(f, to_stdout ? "stdout" : path); /* a full disk or /dev/full is an error */
    if (!st && rc) st = dml_error(DML_ERR_IO, "cannot write %s", to_stdout ? "stdout" : path);
  }
  json_decref(root);
  return st;
}

static void csv_field(FILE *f, const char *s) {
  char *e = dml_escape_csv(s);
  fputs(e, f);
  free(e);
}

dml_status dml_aggregate_write_csv(const struct dml_aggregate *a, const char *path) {
  int to_stdout = !strcmp(path, "-");
  FILE *f = to_stdout ? stdout : fopen(path, "w");
  if (!f) return dml_error(DML_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  fprintf(f, "dataset,group,metric,n,mean,std,min,max,rule,split\n");
  for (size_t i = 0; i < a->n_groups; i++)
    for (size_t q = 0; q < a->groups[i].n_metrics; q++) {
      const struct dml_agg_group *g = &a->groups[i];
      const struct dml_agg_metric *m = &g->metrics[q];
      csv_field(f, g->dataset);
      fputc(',', f);
      csv_field(f, g->name);
      fputc(',', f);
      csv_field(f, m->key);
      size_t used = 0;
      for (size_t k = 0; k < m->n; k++) used += !isnan(m->values[k]);
      fprintf(f, ",%zu,%.17g,%.17g,%.17g,%.17g,", used, m->mean, m->std, m->min, m->max);
      csv_field(f, a->rule);
      fputc(',', f);
      csv_field(f, a->split);
      fputc('\n', f);
    }
  return dml_output_close(f, to_stdout ? "stdout" : path); /* every write and the close checked */
}

static double jnum(json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

dml_status dml_aggregate_read_json(const char *path, struct dml_aggregate *out) {
  memset(out, 0, sizeof *out);
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) return dml_error(DML_ERR_FORMAT, "%s: not JSON (%s, line %d)", path, je.text, je.line);
  const char *fmt = json_string_value(json_object_get(root, "format"));
  json_t *groups = json_object_get(root, "groups");
  if (!fmt || strcmp(fmt, "dml-aggregate/1") || !json_is_array(groups)) {
    json_decref(root);
    return dml_error(DML_ERR_FORMAT, "%s is not a dml-aggregate file (write one with dml-aggregate --out)", path);
  }
  const char *rule = json_string_value(json_object_get(root, "rule")), *split = json_string_value(json_object_get(root, "split"));
  const char *sd = json_string_value(json_object_get(root, "std"));
  out->rule = xstrdup(rule ? rule : "?");
  out->split = xstrdup(split ? split : "?");
  out->population_std = sd && !strcmp(sd, "population");
  out->n_groups = json_array_size(groups);
  out->groups = xcalloc(out->n_groups + 1, sizeof *out->groups);
  for (size_t i = 0; i < out->n_groups; i++) {
    json_t *jg = json_array_get(groups, i);
    struct dml_agg_group *g = &out->groups[i];
    const char *ds = json_string_value(json_object_get(jg, "dataset")), *nm = json_string_value(json_object_get(jg, "group"));
    g->dataset = xstrdup(ds ? ds : "");
    g->name = xstrdup(nm ? nm : "");
    json_t *seeds = json_object_get(jg, "seeds"), *runs = json_object_get(jg, "runs"), *w = json_object_get(jg, "warnings");
    g->n_runs = json_array_size(seeds);
    g->seeds = xcalloc(g->n_runs + 1, sizeof *g->seeds);
    g->paths = xcalloc(g->n_runs + 1, sizeof *g->paths);
    for (size_t k = 0; k < g->n_runs; k++) {
      g->seeds[k] = (long)json_integer_value(json_array_get(seeds, k));
      const char *p = json_string_value(json_array_get(runs, k));
      g->paths[k] = xstrdup(p ? p : "");
    }
    g->n_warnings = json_array_size(w);
    g->warnings = xcalloc(g->n_warnings + 1, sizeof *g->warnings);
    for (size_t k = 0; k < g->n_warnings; k++) {
      const char *s = json_string_value(json_array_get(w, k));
      g->warnings[k] = xstrdup(s ? s : "");
    }
    json_t *ms = json_object_get(jg, "metrics");
    g->n_metrics = json_object_size(ms);
    g->metrics = xcalloc(g->n_metrics + 1, sizeof *g->metrics);
    const char *key;
    json_t *jm;
    size_t q = 0;
    json_object_foreach(ms, key, jm) {
      struct dml_agg_metric *m = &g->metrics[q++];
      m->key = xstrdup(key);
      const char *def = json_string_value(json_object_get(jm, "definition"));
      m->definition = def ? xstrdup(def) : NULL;
      m->mean = jnum(json_object_get(jm, "mean"));
      m->std = jnum(json_object_get(jm, "std"));
      m->min = jnum(json_object_get(jm, "min"));
      m->max = jnum(json_object_get(jm, "max"));
      json_t *vals = json_object_get(jm, "values"), *eps = json_object_get(jm, "epochs"), *sds = json_object_get(jm, "seeds");
      m->n = json_array_size(vals);
      m->values = xcalloc(m->n + 1, sizeof *m->values);
      m->epochs = xcalloc(m->n + 1, sizeof *m->epochs);
      m->seeds = xcalloc(m->n + 1, sizeof *m->seeds);
      for (size_t k = 0; k < m->n; k++) {
        m->values[k] = jnum(json_array_get(vals, k));
        m->epochs[k] = (long)json_integer_value(json_array_get(eps, k));
        m->seeds[k] = (long)json_integer_value(json_array_get(sds, k));
      }
    }
  }
  json_decref(root);
  return DML_OK;
}

void dml_aggregate_free(struct dml_aggregate *a) {
  for (size_t i = 0; i < a->n_groups; i++) {
    struct dml_agg_group *g = &a->groups[i];
    for (size_t q = 0; q < g->n_metrics; q++) {
      free(g->metrics[q].key); free(g->metrics[q].definition); free(g->metrics[q].values); free(g->metrics[q].seeds); free(g->metrics[q].epochs);
    }
    for (size_t k = 0; k < g->n_runs; k++) free(g->paths[k]);
    for (size_t k = 0; k < g->n_warnings; k++) free(g->warnings[k]);
    free(g->metrics); free(g->paths); free(g->seeds); free(g->warnings); free(g->dataset); free(g->name);
  }
  free(a->groups);
  free(a->rule);
  free(a->split);
  memset(a, 0, sizeof *a);
}
