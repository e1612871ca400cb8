/* flags — table-driven command-line parsing. See flags.h for the conventions. */
#include "common/flags.h"

#include <errno.h>
#include <math.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t dml_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  size_t *row = xmalloc((lb + 1) * sizeof *row);
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  size_t d = row[lb];
  free(row);
  return d;
}

static int is_list(enum dml_flag_type t) {
  return t == DML_FLAG_STRLIST || t == DML_FLAG_INTLIST || t == DML_FLAG_FLOATLIST;
}

static dml_status parse_long(const char *flag, const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (!*s || *end || errno) return dml_error(DML_ERR_ARG, "--%s expects an integer, got '%s'", flag, s);
  *out = v;
  return DML_OK;
}

static dml_status parse_double(const char *flag, const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (!*s || *end || errno) return dml_error(DML_ERR_ARG, "--%s expects a number, got '%s'", flag, s);
  /* NaN and Inf parse as numbers but no flag means them (--lr nan trained nothing and reported `finished`) */
  if (!isfinite(v)) return dml_error(DML_ERR_ARG, "--%s expects a finite number, got '%s'", flag, s);
  *out = v;
  return DML_OK;
}

static void free_value(const struct dml_flag *f) {
  switch (f->type) {
    case DML_FLAG_STR: free(*(char **)f->dst); *(char **)f->dst = NULL; break;
    case DML_FLAG_STRLIST: {
      struct dml_strlist *l = f->dst;
      for (int i = 0; i < l->n; i++) free(l->v[i]);
      free(l->v);
      l->v = NULL; l->n = 0;
      break;
    }
    case DML_FLAG_INTLIST: free(((struct dml_intlist *)f->dst)->v); ((struct dml_intlist *)f->dst)->v = NULL;
      ((struct dml_intlist *)f->dst)->n = 0; break;
    case DML_FLAG_FLOATLIST: free(((struct dml_floatlist *)f->dst)->v); ((struct dml_floatlist *)f->dst)->v = NULL;
      ((struct dml_floatlist *)f->dst)->n = 0; break;
    default: break;
  }
}

/* Set a scalar flag from text. */
static dml_status set_scalar(const struct dml_flag *f, const char *s) {
  long l = 0;
  double d = 0;
  dml_status st;
  switch (f->type) {
    case DML_FLAG_INT:
      if ((st = parse_long(f->name, s, &l))) return st;
      if (l < -2147483647L || l > 2147483647L) return dml_error(DML_ERR_ARG, "--%s: %s is out of range", f->name, s);
      *(int *)f->dst = (int)l;
      return DML_OK;
    case DML_FLAG_FLOAT:
      if ((st = parse_double(f->name, s, &d))) return st;
      *(double *)f->dst = d;
      return DML_OK;
    case DML_FLAG_STR:
      free(*(char **)f->dst);
      *(char **)f->dst = xstrdup(s);
      return DML_OK;
    case DML_FLAG_BOOL:
      if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "True")) *(int *)f->dst = 1;
      else if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "False") || !*s) *(int *)f->dst = 0;
      else return dml_error(DML_ERR_ARG, "--%s is a switch (0 or 1), got '%s'", f->name, s);
      return DML_OK;
    default: DML_ABORT("set_scalar on a list flag");
  }
}

/* Set a list flag from n tokens. */
static dml_status set_list(const struct dml_flag *f, char **tok, int n) {
  free_value(f);
  dml_status st;
  if (f->type == DML_FLAG_STRLIST) {
    struct dml_strlist *l = f->dst;
    l->v = xcalloc((size_t)n + 1, sizeof *l->v);
    for (int i = 0; i < n; i++) l->v[i] = xstrdup(tok[i]);
    l->n = n;
  } else if (f->type == DML_FLAG_INTLIST) {
    struct dml_intlist *l = f->dst;
    l->v = xcalloc((size_t)n + 1, sizeof *l->v);
    l->n = n;
    for (int i = 0; i < n; i++)
      if ((st = parse_long(f->name, tok[i], &l->v[i]))) return st;
  } else {
    struct dml_floatlist *l = f->dst;
    l->v = xcalloc((size_t)n + 1, sizeof *l->v);
    l->n = n;
    for (int i = 0; i < n; i++)
      if ((st = parse_double(f->name, tok[i], &l->v[i]))) return st;
  }
  return DML_OK;
}

/* Split a default like "e_recall@1 nmi" into tokens and set the list. */
static dml_status set_list_text(const struct dml_flag *f, const char *text) {
  char *copy = xstrdup(text ? text : "");
  char **tok = xcalloc(strlen(copy) / 2 + 2, sizeof *tok);
  int n = 0;
  for (char *s = strtok(copy, " ,"); s; s = strtok(NULL, " ,")) tok[n++] = s;
  dml_status st = set_list(f, tok, n);
  free(tok);
  free(copy);
  return st;
}

static const char *type_hint(enum dml_flag_type t) {
  switch (t) {
    case DML_FLAG_INT: return "INT";
    case DML_FLAG_FLOAT: return "X";
    case DML_FLAG_STR: return "S";
    case DML_FLAG_BOOL: return "";
    case DML_FLAG_STRLIST: return "S ...";
    case DML_FLAG_INTLIST: return "INT ...";
    case DML_FLAG_FLOATLIST: return "X ...";
  }
  return "";
}

static void print_flag(const struct dml_flag *fl, FILE *f) {
  char left[96];
  snprintf(left, sizeof left, "--%s %s", fl->name, type_hint(fl->type));
  const char *def = fl->def ? fl->def : "";
  if (fl->type == DML_FLAG_BOOL) def = (fl->def && strcmp(fl->def, "0")) ? "on" : "off";
  fprintf(f, "  %-38s %s [%s]\n", left, fl->help ? fl->help : "", def);
}

static int in_a_group(const struct dml_cli *cli, const char *name) {
  for (size_t g = 0; g < cli->n_groups; g++)
    for (size_t i = 0; i < cli->groups[g].n; i++)
      if (!strcmp(cli->groups[g].flags[i].name, name)) return 1;
  return 0;
}

void dml_flags_print_help(const struct dml_cli *cli, FILE *f) {
  fprintf(f, "%s — %s\n\nusage: %s %s\n\nflags (default in brackets):\n", cli->prog, cli->summary ? cli->summary : "",
          cli->prog, cli->usage ? cli->usage : "[flags]");
  for (size_t i = 0; i < cli->n_flags; i++)
    if (!in_a_group(cli, cli->flags[i].name)) print_flag(&cli->flags[i], f);
  fprintf(f, "  %-38s %s\n", "--help, -h", "print this help and exit");
  for (size_t g = 0; g < cli->n_groups; g++) {
    fprintf(f, "\n%s%s\n", cli->groups[g].title, cli->groups[g].n ? ":" : "");
    for (size_t i = 0; i < cli->groups[g].n; i++) print_flag(&cli->groups[g].flags[i], f);
  }
}

/* Find a flag by exact name or unique prefix; returns index, -1 unknown, -2 ambiguous. */
static int find_flag(const struct dml_cli *cli, const char *name, size_t len) {
  int found = -1, count = 0;
  for (size_t i = 0; i < cli->n_flags; i++) {
    const char *fn = cli->flags[i].name;
    if (strlen(fn) == len && !strncmp(fn, name, len)) return (int)i;
    if (!strncmp(fn, name, len)) { found = (int)i; count++; }
  }
  return count == 1 ? found : count > 1 ? -2 : -1;
}

static dml_status unknown_flag(const struct dml_cli *cli, const char *name, size_t len, int ambiguous) {
  char buf[128];
  snprintf(buf, sizeof buf, "%.*s", (int)(len < 120 ? len : 120), name);
  if (ambiguous) {
    char cands[512] = "";
    for (size_t i = 0; i < cli->n_flags; i++)
      if (!strncmp(cli->flags[i].name, buf, strlen(buf)) && strlen(cands) < 400) {
        strcat(cands, " --");
        strcat(cands, cli->flags[i].name);
      }
    return dml_error(DML_ERR_ARG, "flag --%s is ambiguous; it could be:%s", buf, cands);
  }
  size_t best = (size_t)-1;
  const char *best_name = NULL;
  for (size_t i = 0; i < cli->n_flags; i++) {
    size_t d = dml_edit_distance(buf, cli->flags[i].name);
    if (d < best) { best = d; best_name = cli->flags[i].name; }
  }
  if (best_name)
    return dml_error(DML_ERR_ARG, "unknown flag --%s; did you mean --%s? (see %s --help)", buf, best_name, cli->prog);
  return dml_error(DML_ERR_ARG, "unknown flag --%s (see %s --help)", buf, cli->prog);
}

dml_status dml_flags_parse(struct dml_cli *cli, int argc, char **argv) {
  dml_status st;
  cli->seen = xcalloc(cli->n_flags + 1, 1);
  cli->positional = xcalloc((size_t)argc + 1, sizeof *cli->positional);
  cli->n_positional = 0;
  for (size_t i = 0; i < cli->n_flags; i++) {
    const struct dml_flag *f = &cli->flags[i];
    /* destinations may hold garbage (an uninitialised options struct): clear before the first set */
    switch (f->type) {
      case DML_FLAG_STR: *(char **)f->dst = NULL; break;
      case DML_FLAG_STRLIST: memset(f->dst, 0, sizeof(struct dml_strlist)); break;
      case DML_FLAG_INTLIST: memset(f->dst, 0, sizeof(struct dml_intlist)); break;
      case DML_FLAG_FLOATLIST: memset(f->dst, 0, sizeof(struct dml_floatlist)); break;
      default: break;
    }
    if (is_list(f->type)) st = set_list_text(f, f->def);
    else if (f->type == DML_FLAG_STR && !f->def) { *(char **)f->dst = xstrdup(""); st = DML_OK; }
    else st = set_scalar(f, f->def ? f->def : "0");
    if (st) DML_ABORT("bad default for --%s: %s", f->name, dml_error_message());
  }
  int only_positional = 0;
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (only_positional || arg[0] != '-' || !strcmp(arg, "-") ||
        (arg[1] != '-' && arg[1] != 'h' && arg[1] != 'o')) {
      if (arg[0] == '-' && !only_positional && strcmp(arg, "-") && !(arg[1] >= '0' && arg[1] <= '9') && arg[1] != '.')
        return dml_error(DML_ERR_ARG, "unknown option '%s' (flags start with --; see %s --help)", arg, cli->prog);
      cli->positional[cli->n_positional++] = argv[a];
      continue;
    }
    if (!strcmp(arg, "--")) { only_positional = 1; continue; }
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      dml_flags_print_help(cli, stdout);
      exit(0);
    }
    /* "-o" is accepted as the short form of --out/-o style flags named "o" */
    const char *name = arg[1] == '-' ? arg + 2 : arg + 1;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int idx = find_flag(cli, name, len);
    if (idx < 0) return unknown_flag(cli, name, len, idx == -2);
    const struct dml_flag *f = &cli->flags[idx];
    cli->seen[idx] = 1;
    if (is_list(f->type)) {
      if (eq) {
        if ((st = set_list_text(f, eq + 1))) return st;
        continue;
      }
      int start = a + 1, end = start;
      while (end < argc && strncmp(argv[end], "--", 2)) end++;
      if (end == start) return dml_error(DML_ERR_ARG, "--%s expects at least one value", f->name);
      if ((st = set_list(f, argv + start, end - start))) return st;
      a = end - 1;
    } else if (f->type == DML_FLAG_BOOL) {
      if ((st = set_scalar(f, eq ? eq + 1 : "1"))) return st;
    } else {
      const char *val;
      if (eq) val = eq + 1;
      else if (a + 1 < argc) val = argv[++a];
      else return dml_error(DML_ERR_ARG, "--%s expects a value", f->name);
      if ((st = set_scalar(f, val))) return st;
    }
  }
  if (cli->n_positional < cli->min_positional)
    return dml_error(DML_ERR_ARG, "missing argument: usage: %s %s", cli->prog, cli->usage ? cli->usage : "[flags]");
  if (cli->max_positional >= 0 && cli->n_positional > cli->max_positional)
    return dml_error(DML_ERR_ARG, "unexpected argument '%s' (usage: %s %s)", cli->positional[cli->max_positional],
                     cli->prog, cli->usage ? cli->usage : "[flags]");
  return DML_OK;
}

int dml_flags_given(const struct dml_cli *cli, const char *name) {
  for (size_t i = 0; i < cli->n_flags; i++)
    if (!strcmp(cli->flags[i].name, name)) return cli->seen && cli->seen[i];
  return 0;
}

char *dml_flags_to_json(const struct dml_cli *cli) {
  json_t *o = json_object();
  for (size_t i = 0; i < cli->n_flags; i++) {
    const struct dml_flag *f = &cli->flags[i];
    json_t *v = NULL;
    switch (f->type) {
      case DML_FLAG_INT: v = json_integer(*(int *)f->dst); break;
      case DML_FLAG_FLOAT: v = json_real(*(double *)f->dst); break;
      case DML_FLAG_STR: v = json_string(*(char **)f->dst ? *(char **)f->dst : ""); break;
      case DML_FLAG_BOOL: v = json_boolean(*(int *)f->dst); break;
      case DML_FLAG_STRLIST: {
        const struct dml_strlist *l = f->dst;
        v = json_array();
        for (int k = 0; k < l->n; k++) json_array_append_new(v, json_string(l->v[k]));
        break;
      }
      case DML_FLAG_INTLIST: {
        const struct dml_intlist *l = f->dst;
        v = json_array();
        for (int k = 0; k < l->n; k++) json_array_append_new(v, json_integer(l->v[k]));
        break;
      }
      case DML_FLAG_FLOATLIST: {
        const struct dml_floatlist *l = f->dst;
        v = json_array();
        for (int k = 0; k < l->n; k++) json_array_append_new(v, json_real(l->v[k]));
        break;
      }
    }
    json_object_set_new(o, f->name, v ? v : json_null());
  }
  char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
  json_decref(o);
  char *r = xstrdup(s);
  free(s);
  return r;
}

dml_status dml_flags_from_json(struct dml_cli *cli, const char *json) {
  json_error_t je;
  json_t *o = json_loads(json, 0, &je);
  if (!o || !json_is_object(o)) {
    json_decref(o);
    return dml_error(DML_ERR_FORMAT, "stored configuration is not a JSON object (%s)", je.text);
  }
  dml_status st = DML_OK;
  for (size_t i = 0; i < cli->n_flags && !st; i++) {
    const struct dml_flag *f = &cli->flags[i];
    json_t *v = json_object_get(o, f->name);
    if (!v || (cli->seen && cli->seen[i])) continue;
    if (json_is_array(v)) {
      size_t n = json_array_size(v);
      char **tok = xcalloc(n + 1, sizeof *tok);
      for (size_t k = 0; k < n; k++) {
        json_t *e = json_array_get(v, k);
        tok[k] = json_is_string(e) ? xstrdup(json_string_value(e))
                 : json_is_integer(e) ? dml_strfmt("%lld", (long long)json_integer_value(e))
                                      : dml_strfmt("%.17g", json_number_value(e));
      }
      st = is_list(f->type) ? set_list(f, tok, (int)n) : dml_error(DML_ERR_FORMAT, "stored --%s is a list", f->name);
      for (size_t k = 0; k < n; k++) free(tok[k]);
      free(tok);
    } else {
      char *txt = json_is_string(v) ? xstrdup(json_string_value(v))
                  : json_is_boolean(v) ? xstrdup(json_is_true(v) ? "1" : "0")
                  : json_is_integer(v) ? dml_strfmt("%lld", (long long)json_integer_value(v))
                                       : dml_strfmt("%.17g", json_number_value(v));
      st = is_list(f->type) ? set_list_text(f, txt) : set_scalar(f, txt);
      free(txt);
    }
  }
  json_decref(o);
  return st;
}

void dml_flags_free(struct dml_cli *cli) {
  for (size_t i = 0; i < cli->n_flags; i++) free_value(&cli->flags[i]);
  free(cli->seen);
  free(cli->positional);
  cli->seen = NULL;
  cli->positional = NULL;
}

void *dml_flag_slot(union dml_flag_value *v, enum dml_flag_type t) {
  switch (t) {
    case DML_FLAG_INT:
    case DML_FLAG_BOOL: return &v->i;
    case DML_FLAG_FLOAT: return &v->f;
    case DML_FLAG_STR: return &v->s;
    case DML_FLAG_STRLIST: return &v->sl;
    case DML_FLAG_INTLIST: return &v->il;
    case DML_FLAG_FLOATLIST: return &v->fl;
  }
  DML_ABORT("flag type %d", (int)t);
}

const struct dml_flag *dml_opts_find(const struct dml_opts *o, const char *name) {
  for (size_t i = 0; i < o->n; i++)
    if (!strcmp(o->flags[i].name, name)) return &o->flags[i];
  return NULL;
}

static const struct dml_flag *opts_get(const struct dml_opts *o, const char *name, enum dml_flag_type t) {
  const struct dml_flag *f = dml_opts_find(o, name);
  if (!f) DML_ABORT("flag --%s is not in the table (a method reads a flag it did not declare)", name);
  int ok = f->type == t || (t == DML_FLAG_INT && f->type == DML_FLAG_BOOL);
  if (!ok) DML_ABORT("flag --%s is read as type %d but declared as type %d", name, (int)t, (int)f->type);
  return f;
}

int dml_opts_int(const struct dml_opts *o, const char *name) {
  return *(const int *)opts_get(o, name, DML_FLAG_INT)->dst;
}

double dml_opts_float(const struct dml_opts *o, const char *name) {
  return *(const double *)opts_get(o, name, DML_FLAG_FLOAT)->dst;
}

const char *dml_opts_str(const struct dml_opts *o, const char *name) {
  const char *s = *(char *const *)opts_get(o, name, DML_FLAG_STR)->dst;
  return s ? s : "";
}

const struct dml_strlist *dml_opts_strlist(const struct dml_opts *o, const char *name) {
  return opts_get(o, name, DML_FLAG_STRLIST)->dst;
}

const struct dml_intlist *dml_opts_intlist(const struct dml_opts *o, const char *name) {
  return opts_get(o, name, DML_FLAG_INTLIST)->dst;
}

const struct dml_floatlist *dml_opts_floatlist(const struct dml_opts *o, const char *name) {
  return opts_get(o, name, DML_FLAG_FLOATLIST)->dst;
}
