/* escape — one escaping function per output target. Every string that reaches an output file comes from users
 * (group and run names, metric keys, W&B config values) and passes through exactly one of these, for the target
 * it is written to. Each returns a new heap string and accepts any bytes (invalid UTF-8 included).
 *
 *   dml_escape_latex    LaTeX text mode: \ { } $ & # % _ ^ ~ < > | " [ ] * escaped, control characters → space,
 *                       "β" → $\beta$, other non-ASCII bytes → '?' (pdflatex stops on characters it lacks);
 *   dml_escape_gnuplot  the body of a single-quoted gnuplot string: ' doubled, control characters → space
 *                       (single-quoted strings expand neither backquotes, macros nor escapes, so
 *                       `system("...")` stays text);
 *   dml_escape_csv      one RFC 4180 field, always quoted, " doubled, a leading = + - @ guarded with ' so
 *                       spreadsheets do not evaluate it;
 *   dml_escape_json     valid UTF-8 for jansson (invalid bytes → U+FFFD); jansson then writes the JSON escapes;
 *   dml_escape_markdown a table cell: | \ * _ ` < escaped, control characters → space. */
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"

struct buf { char *s; size_t n, cap; };

static void putn(struct buf *b, const char *t, size_t l) {
  if (b->n + l + 1 > b->cap) b->s = xrealloc(b->s, b->cap = 2 * (b->n + l + 1));
  memcpy(b->s + b->n, t, l);
  b->n += l;
  b->s[b->n] = 0;
}
static void put(struct buf *b, const char *t) { putn(b, t, strlen(t)); }
static void putc1(struct buf *b, char c) { putn(b, &c, 1); }
static char *finish(struct buf *b) {
  if (!b->s) put(b, "");
  return b->s;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not valid UTF-8. */
static size_t utf8_len(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
  if (!n || (s[0] >= 0xF8)) return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  if (n == 3 && s[0] == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
  if (n == 3 && s[0] == 0xED && s[1] >= 0xA0) return 0; /* surrogates */
  if (n == 4 && s[0] == 0xF0 && s[1] < 0x90) return 0;
  if (n == 4 && s[0] == 0xF4 && s[1] >= 0x90) return 0;
  return n;
}

char *dml_escape_latex(const char *s) {
  struct buf b = {0};
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    switch (*p) {
      case '\\': put(&b, "\\textbackslash{}"); break;
      case '{': put(&b, "\\{"); break;
      case '}': put(&b, "\\}"); break;
      case '$': put(&b, "\\$"); break;
      case '&': put(&b, "\\&"); break;
      case '#': put(&b, "\\#"); break;
      case '%': put(&b, "\\%"); break;
      case '_': put(&b, "\\_"); break;
      case '^': put(&b, "\\textasciicircum{}"); break;
      case '~': put(&b, "\\textasciitilde{}"); break;
      case '<': put(&b, "\\textless{}"); break;
      case '>': put(&b, "\\textgreater{}"); break;
      case '|': put(&b, "\\textbar{}"); break;
      case '"': put(&b, "\\textquotedbl{}"); break;
      case '[': put(&b, "{[}"); break; /* after \\ a [ would be read as a row-spacing argument */
      case ']': put(&b, "{]}"); break;
      case '*': put(&b, "{*}"); break;
      default:
        if (p[0] == 0xCE && p[1] == 0xB2) {
          put(&b, "$\\beta$");
          p += 2;
          continue;
        }
        if (p[0] == 0xC2 && p[1] == 0xB1) {
          put(&b, "$\\pm$");
          p += 2;
          continue;
        }
        if (*p < 32 || *p == 127) putc1(&b, ' ');
        else if (*p >= 128) {
          size_t n = utf8_len(p);
          putc1(&b, '?');
          p += n ? n : 1;
          continue;
        } else putc1(&b, (char)*p);
    }
    p++;
  }
  return finish(&b);
}

char *dml_escape_gnuplot(const char *s) {
  struct buf b = {0};
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '\'') put(&b, "''");
    else if (*p < 32 || *p == 127) putc1(&b, ' ');
    else putc1(&b, (char)*p);
  }
  return finish(&b);
}

char *dml_escape_csv(const char *s) {
  struct buf b = {0};
  putc1(&b, '"');
  if (*s == '=' || *s == '+' || *s == '-' || *s == '@') putc1(&b, '\'');
  for (; *s; s++) {
    if (*s == '"') putc1(&b, '"');
    putc1(&b, *s);
  }
  putc1(&b, '"');
  return finish(&b);
}

char *dml_escape_json(const char *s) {
  struct buf b = {0};
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    size_t n = utf8_len(p);
    if (n) putn(&b, (const char *)p, n);
    else put(&b, "\xEF\xBF\xBD");
    p += n ? n : 1;
  }
  return finish(&b);
}

char *dml_escape_markdown(const char *s) {
  struct buf b = {0};
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '|' || *p == '\\' || *p == '*' || *p == '_' || *p == '`' || *p == '<') {
      putc1(&b, '\\');
      putc1(&b, (char)*p);
    } else if (*p < 32 || *p == 127) putc1(&b, ' ');
    else putc1(&b, (char)*p);
  }
  return finish(&b);
}

char *dml_display_name(const char *g) {
  static const struct { const char *sub, *name; } map[] = {
    {"Margin_b06_Distance", "Margin (D, β=0.6)"}, {"Margin_b12_Distance", "Margin (D, β=1.2)"},
    {"ArcFace", "ArcFace"}, {"Histogram", "Histogram"}, {"SoftTriple", "SoftTriple"},
    {"Contrastive", "Contrastive (D)"}, {"Triplet_Distance", "Triplet (D)"}, {"Quadruplet_Distance", "Quadruplet (D)"},
    {"SNR_Distance", "SNR (D)"}, {"Triplet_Random", "Triplet (R)"}, {"Triplet_Semihard", "Triplet (S)"},
    {"Triplet_Softhard", "Triplet (H)"}, {"Softmax", "Softmax"}, {"MS", "Multisimilarity"},
  };
  const char *name = NULL;
  for (size_t i = 0; i < sizeof map / sizeof *map && !name; i++)
    if (strstr(g, map[i].sub)) name = map[i].name;
  char *base;
  if (name) base = xstrdup(name);
  else {
    const char *u = strchr(g, '_');
    base = xstrdup(u && u[1] ? u + 1 : g);
  }
  if (strstr(g, "reg_")) {
    char *r = dml_strfmt("R-%s", base);
    free(base);
    return r;
  }
  return base;
}
