/* escape — one escaping function per output target, and the reference's display names. See reports.h. */
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"

struct buf { char *s; size_t n, cap; };
static void put(struct buf *b, const char *t) {
  size_t l = strlen(t);
  if (b->n + l + 1 > b->cap) b->s = xrealloc(b->s, b->cap = 2 * (b->n + l + 1));
  memcpy(b->s + b->n, t, l + 1);
  b->n += l;
}

char *dml_escape_latex(const char *s) {
  struct buf b = {0};
  put(&b, "");
  for (; *s; s++) {
    char c[2] = {*s, 0};
    switch (*s) {
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
      default:
        if ((unsigned char)s[0] == 0xCE && (unsigned char)s[1] == 0xB2) { put(&b, "$\\beta$"); s++; }
        else if ((unsigned char)*s < 32 || *s == 127) put(&b, " ");
        else put(&b, c);
    }
  }
  return b.s;
}

char *dml_escape_gnuplot(const char *s) {
  struct buf b = {0};
  put(&b, "");
  for (; *s; s++) {
    char c[2] = {*s, 0};
    if (*s == '\'') put(&b, "''");
    else if ((unsigned char)*s < 32 || *s == 127) put(&b, " ");
    else put(&b, c);
  }
  return b.s;
}

char *dml_escape_markdown(const char *s) {
  struct buf b = {0};
  put(&b, "");
  for (; *s; s++) {
    char c[2] = {*s, 0};
    if (*s == '|' || *s == '\\' || *s == '*' || *s == '_' || *s == '`' || *s == '<') { put(&b, "\\"); put(&b, c); }
    else if ((unsigned char)*s < 32) put(&b, " ");
    else put(&b, c);
  }
  return b.s;
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
