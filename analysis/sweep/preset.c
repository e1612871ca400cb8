/* preset — a preset file of dml-train lines → the runs of a study (sweep.h): shell-like words without a shell,
 * seed lists expanded, every run's folder and record path fixed before anything starts. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/sweep/sweep.h"

// ---------------------------------------------------------------------------------------------- words

struct words { char **v; int n, cap; };
struct buf { char *s; size_t n, cap; };

static void buf_put(struct buf *b, char c) {
  if (b->n + 2 > b->cap) {
    b->cap = b->cap ? 2 * b->cap : 64;
    b->s = xrealloc(b->s, b->cap);
  }
  b->s[b->n++] = c;
  b->s[b->n] = 0;
}

static void words_put(struct words *w, const char *s) {
  if (w->n + 2 > w->cap) {
    w->cap = w->cap ? 2 * w->cap : 16;
    w->v = xrealloc(w->v, (size_t)w->cap * sizeof *w->v);
  }
  w->v[w->n++] = xstrdup(s);
  w->v[w->n] = NULL;
}

static void words_free(struct words *w) {
  for (int i = 0; i < w->n; i++) free(w->v[i]);
  free(w->v);
  memset(w, 0, sizeof *w);
}

/* One logical line (its first physical line number, its words). */
struct pline { int line; struct words w; };

/* Tokenize text into logical lines. Shell rules kept: unquoted '\' escapes the next character ('\'+newline joins
 * lines), '...' is literal, "..." keeps \" \\ \$ \` escapes; '#' at the start of a word starts a comment. Refused:
 * the characters a shell would expand or treat as an operator. */
static dml_status tokenize(const char *text, int first_line, struct pline **out, size_t *n_out) {
  struct pline *L = NULL;
  size_t nl = 0, capl = 0;
  struct words cur = {0};
  struct buf b = {0};
  int in_word = 0, line = first_line, start_line = first_line;
  dml_status st = DML_OK;
#define FAIL(...) do { st = dml_error(DML_ERR_ARG, __VA_ARGS__); goto done; } while (0)
  for (const char *p = text;; p++) {
    char c = *p;
    if (c == '\\') {
      if (p[1] == '\n') { p++; line++; continue; }   /* continuation */
      if (!p[1]) FAIL("line %d: a '\\' at the end of the file", line);
      buf_put(&b, p[1]);
      in_word = 1;
      p++;
      continue;
    }
    if (c == '\'') {
      in_word = 1;
      const char *q = p + 1;
      for (; *q && *q != '\''; q++) {
        if (*q == '\n') line++;
        buf_put(&b, *q);
      }
      if (!*q) FAIL("line %d: unterminated single quote", start_line);
      p = q;
      continue;
    }
    if (c == '"') {
      in_word = 1;
      const char *q = p + 1;
      for (; *q && *q != '"'; q++) {
        if (*q == '\\' && q[1] && strchr("\"\\$`\n", q[1])) {
          if (q[1] == '\n') { line++; q++; continue; }
          buf_put(&b, q[1]);
          q++;
          continue;
        }
        if (*q == '$' || *q == '`')
          FAIL("line %d: '%c' inside double quotes would be expanded by a shell; a preset is never run by one "
               "(write it as \\%c or use single quotes)", line, *q, *q);
        if (*q == '\n') line++;
        buf_put(&b, *q);
      }
      if (!*q) FAIL("line %d: unterminated double quote", start_line);
      p = q;
      continue;
    }
    int end_line = c == '\n' || c == 0;
    if (c == ' ' || c == '\t' || c == '\r' || end_line) {
      if (in_word) {
        words_put(&cur, b.s ? b.s : "");
        b.n = 0;
        if (b.s) b.s[0] = 0;
        in_word = 0;
      }
      if (end_line) {
        if (cur.n) {
          if (nl == capl) {
            capl = capl ? 2 * capl : 16;
            L = xrealloc(L, capl * sizeof *L);
          }
          L[nl++] = (struct pline){start_line, cur};
          memset(&cur, 0, sizeof cur);
        }
        if (!c) break;
        line++;
        start_line = line;
      }
      continue;
    }
    if (c == '#' && !in_word) {
      while (p[1] && p[1] != '\n') p++;
      continue;
    }
    if (strchr("$`;&|<>(){}", c)) {
      if (c == '{' || c == '}') { /* literal unless a whole word (a shell group) */
        if (in_word || (p[1] && !isspace((unsigned char)p[1]))) { buf_put(&b, c); in_word = 1; continue; }
      }
      FAIL("line %d: '%c' is shell syntax; a preset is a list of dml-train lines and is never run by a shell "
           "(quote it if it is part of a value)", line, c);
    }
    if (c == '=' && !cur.n && in_word) FAIL("line %d: variable assignments (VAR=value) are not supported in a preset", line);
    buf_put(&b, c);
    in_word = 1;
  }
#undef FAIL
done:
  free(b.s);
  if (st) {
    words_free(&cur);
    for (size_t i = 0; i < nl; i++) words_free(&L[i].w);
    free(L);
    return st;
  }
  *out = L;
  *n_out = nl;
  return DML_OK;
}

dml_status dml_sweep_split_words(const char *text, int line, char ***words, int *n) {
  struct pline *L = NULL;
  size_t nl = 0;
  dml_status st = tokenize(text, line, &L, &nl);
  if (st) return st;
  if (nl > 1) {
    for (size_t i = 0; i < nl; i++) words_free(&L[i].w);
    free(L);
    return dml_error(DML_ERR_ARG, "line %d: more than one command", line);
  }
  if (nl == 1) {
    *words = L[0].w.v;
    *n = L[0].w.n;
  } else {
    *words = xcalloc(1, sizeof **words);
    *n = 0;
  }
  free(L);
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- seeds

dml_status dml_sweep_parse_seeds(const char *s, long **v, size_t *n) {
  const char *p = s;
  if (!*p) return dml_error(DML_ERR_ARG, "empty seed list");
  while (*p) {
    char *e;
    errno = 0;
    long a = strtol(p, &e, 10), b = a;
    if (e == p || errno || a < 0 || a > INT_MAX) return dml_error(DML_ERR_ARG, "bad seed list '%s' (want e.g. 0-4 or 0,1,2)", s);
    p = e;
    if (*p == '-') {
      p++;
      errno = 0;
      b = strtol(p, &e, 10);
      if (e == p || errno || b < a || b > INT_MAX) return dml_error(DML_ERR_ARG, "bad seed range in '%s'", s);
      if (b - a > 100000) return dml_error(DML_ERR_ARG, "seed range too long in '%s'", s);
      p = e;
    }
    for (long x = a; x <= b; x++) {
      *v = xrealloc(*v, (*n + 1) * sizeof **v);
      (*v)[(*n)++] = x;
    }
    if (*p == ',') p++;
    else if (*p) return dml_error(DML_ERR_ARG, "bad seed list '%s' (want e.g. 0-4 or 0,1,2)", s);
  }
  return DML_OK;
}

// ---------------------------------------------------------------------------------------------- preset → runs

/* Is word w the flag `name` (as --name or --name=value)? Sets *val to the inline value or NULL. */
static int is_flag(const char *w, const char *name, const char **val) {
  if (strncmp(w, "--", 2)) return 0;
  size_t k = strlen(name);
  if (strncmp(w + 2, name, k)) return 0;
  if (w[2 + k] == 0) { *val = NULL; return 1; }
  if (w[2 + k] == '=') { *val = w + 3 + k; return 1; }
  return 0;
}

static int seedish(const char *w) {
  if (!*w) return 0;
  for (const char *c = w; *c; c++)
    if (!isdigit((unsigned char)*c) && *c != ',' && *c != '-') return 0;
  return isdigit((unsigned char)w[0]);
}

static dml_status check_name(int line, const char *what, const char *s) {
  if (!*s) return dml_error(DML_ERR_ARG, "line %d: %s is empty", line, what);
  if (strchr(s, '/') || s[0] == '.')
    return dml_error(DML_ERR_ARG, "line %d: %s '%s' cannot be a folder name (no '/', no leading '.')", line, what, s);
  for (const char *c = s; *c; c++)
    if ((unsigned char)*c < 32) return dml_error(DML_ERR_ARG, "line %d: %s contains a control character", line, what);
  return DML_OK;
}

static char *absolute(const char *p) {
  if (p[0] == '/') return xstrdup(p);
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return xstrdup(p);
  while (p[0] == '.' && p[1] == '/') p += 2;
  if (!strcmp(p, ".")) return xstrdup(cwd);
  return dml_strfmt("%s/%s", cwd, p);
}

static dml_status mkdir_p(const char *path) {
  char *p = xstrdup(path);
  dml_status st = DML_OK;
  for (char *c = p + 1;; c++) {
    if (*c && *c != '/') continue;
    char save = *c;
    *c = 0;
    if (mkdir(p, 0777) && errno != EEXIST) st = dml_error(DML_ERR_IO, "cannot create folder %s: %s", p, strerror(errno));
    *c = save;
    if (!save || st) break;
  }
  free(p);
  return st;
}

/* One preset line → runs (one per seed). */
static dml_status expand_line(struct dml_sweep *s, const struct pline *pl, const long *force_seeds, size_t n_force) {
  const struct words *w = &pl->w;
  int line = pl->line;
  const char *prog = strrchr(w->v[0], '/') ? strrchr(w->v[0], '/') + 1 : w->v[0];
  if (strcmp(prog, "dml-train"))
    return dml_error(DML_ERR_ARG, "line %d: '%s' is not a dml-train line (a preset is a list of dml-train lines; "
                                  "print one from a script, e.g. PRINT=1 runs/presets/revisit_icml2020.sh > study.txt)",
                     line, w->v[0]);
  const char *dataset = NULL, *group = NULL, *savename = NULL, *v;
  long *seeds = NULL;
  size_t n_seeds = 0;
  struct words keep = {0};
  dml_status st = DML_OK;
  for (int i = 1; i < w->n && !st; i++) {
    const char *a = w->v[i];
    if (is_flag(a, "seed", &v)) {
      if (v) st = dml_sweep_parse_seeds(v, &seeds, &n_seeds);
      else {
        int k = i + 1;
        for (; k < w->n && seedish(w->v[k]) && !st; k++) st = dml_sweep_parse_seeds(w->v[k], &seeds, &n_seeds);
        if (k == i + 1 && !st) st = dml_error(DML_ERR_ARG, "line %d: --seed needs a value", line);
        i = k - 1;
      }
      if (st) dml_error_prefix(st, "line %d", line);
      continue;
    }
    if (is_flag(a, "resume", &v)) {
      st = dml_error(DML_ERR_ARG, "line %d: --resume has no place in a preset (dml-sweep resumes by itself)", line);
      break;
    }
    if (is_flag(a, "save_path", &v) || is_flag(a, "kernels", &v)) {
      if (!v) i++; /* the sweep sets these itself */
      continue;
    }
    const char **slot = is_flag(a, "dataset", &v) ? &dataset : is_flag(a, "group", &v) ? &group
                        : is_flag(a, "savename", &v) ? &savename : NULL;
    words_put(&keep, a);
    if (slot) {
      if (!v) {
        if (i + 1 >= w->n || !strncmp(w->v[i + 1], "--", 2)) {
          st = dml_error(DML_ERR_ARG, "line %d: %s needs a value", line, a);
          break;
        }
        v = w->v[++i];
        words_put(&keep, v);
      }
      *slot = v;
    }
  }
  if (!st && !dataset)
    st = dml_error(DML_ERR_ARG, "line %d: give --dataset (the sweep must know each run's folder "
                                "<save_path>/<dataset>/<group>_s<seed> before it starts)", line);
  if (!st && !group && !savename) st = dml_error(DML_ERR_ARG, "line %d: give --group (the study's method name)", line);
  if (!st && savename && !strcmp(savename, "group_plus_seed")) savename = NULL;
  if (!st && savename && !group) group = savename;
  if (!st) st = check_name(line, "--dataset", dataset);
  if (!st) st = check_name(line, "--group", group);
  if (n_force) {
    free(seeds);
    seeds = xmalloc(n_force * sizeof *seeds);
    memcpy(seeds, force_seeds, n_force * sizeof *seeds);
    n_seeds = n_force;
  }
  if (!st && !n_seeds) {
    seeds = xmalloc(sizeof *seeds);
    seeds[0] = 1; /* dml-train's default --seed */
    n_seeds = 1;
  }
  if (!st && savename && n_seeds > 1)
    st = dml_error(DML_ERR_ARG, "line %d: --savename with %zu seeds would put them all in one folder", line, n_seeds);
  for (size_t k = 0; k < n_seeds && !st; k++) {
    struct dml_sweep_run r = {.line = line, .seed = seeds[k], .index = s->n};
    r.dataset = xstrdup(dataset);
    r.group = xstrdup(group);
    r.name = savename ? xstrdup(savename) : dml_strfmt("%s_s%ld", group, seeds[k]);
    if ((st = check_name(line, "run name", r.name))) {
      free(r.dataset); free(r.group); free(r.name);
      break;
    }
    r.dir = dml_strfmt("%s/%s/%s", s->save_path, dataset, r.name);
    r.record = dml_strfmt("%s/run.h5", r.dir);
    r.argc = keep.n + 4;
    r.argv = xcalloc((size_t)r.argc + 1, sizeof *r.argv);
    for (int j = 0; j < keep.n; j++) r.argv[j] = xstrdup(keep.v[j]);
    r.argv[keep.n] = xstrdup("--seed");
    r.argv[keep.n + 1] = dml_strfmt("%ld", seeds[k]);
    r.argv[keep.n + 2] = xstrdup("--save_path");
    r.argv[keep.n + 3] = xstrdup(s->save_path);
    for (size_t j = 0; j < s->n; j++)
      if (!strcmp(s->runs[j].dir, r.dir)) {
        st = dml_error(DML_ERR_ARG, "line %d and line %d both make the run %s", s->runs[j].line, line, r.dir);
        break;
      }
    s->runs = xrealloc(s->runs, (s->n + 1) * sizeof *s->runs);
    s->runs[s->n++] = r;
  }
  free(seeds);
  words_free(&keep);
  return st;
}

dml_status dml_sweep_from_preset(struct dml_sweep *s, const char *preset_path, const struct dml_sweep_opts *o) {
  memset(s, 0, sizeof *s);
  FILE *f = !strcmp(preset_path, "-") ? stdin : fopen(preset_path, "rb");
  if (!f) return dml_error(DML_ERR_IO, "cannot open preset %s: %s", preset_path, strerror(errno));
  struct buf text = {0};
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
    for (size_t i = 0; i < got; i++) {
      if (!chunk[i]) {
        if (f != stdin) fclose(f);
        free(text.s);
        return dml_error(DML_ERR_FORMAT, "preset %s: a NUL byte (not a text file)", preset_path);
      }
      buf_put(&text, chunk[i]);
    }
    if (text.n > (64u << 20)) break;
  }
  if (f != stdin) fclose(f);
  if (!o->save_path || !*o->save_path) {
    free(text.s);
    return dml_error(DML_ERR_ARG, "--save_path is empty");
  }
  dml_status st = o->no_create ? DML_OK : mkdir_p(o->save_path);
  if (st) {
    free(text.s);
    return st;
  }
  char real[PATH_MAX];
  s->save_path = realpath(o->save_path, real) ? xstrdup(real) : absolute(o->save_path);
  s->preset = xstrdup(preset_path);
  long *force = NULL;
  size_t n_force = 0;
  if (o->seeds && (st = dml_sweep_parse_seeds(o->seeds, &force, &n_force))) {
    free(text.s);
    return dml_error_prefix(st, "--seeds");
  }
  struct pline *L = NULL;
  size_t nl = 0;
  st = tokenize(text.s ? text.s : "", 1, &L, &nl);
  free(text.s);
  if (st) {
    free(force);
    return dml_error_prefix(st, "preset %s", preset_path);
  }
  for (size_t i = 0; i < nl; i++) {
    if (!st) st = expand_line(s, &L[i], force, n_force);
    words_free(&L[i].w);
  }
  free(L);
  free(force);
  if (!st && !s->n) st = dml_error(DML_ERR_ARG, "preset %s has no dml-train lines", preset_path);
  if (st) dml_error_prefix(st, "preset %s", preset_path);
  return st;
}

void dml_sweep_free(struct dml_sweep *s) {
  for (size_t i = 0; i < s->n; i++) {
    struct dml_sweep_run *r = &s->runs[i];
    free(r->dataset); free(r->group); free(r->name); free(r->dir); free(r->record);
    for (int j = 0; j < r->argc; j++) free(r->argv[j]);
    free(r->argv);
  }
  free(s->runs);
  free(s->save_path);
  free(s->preset);
  memset(s, 0, sizeof *s);
}
