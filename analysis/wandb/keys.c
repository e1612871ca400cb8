/* keys.c — the reference's W&B key scheme (spec A4) both ways, and path-safe run names.
 *
 *   metric (split s, key k):  "<S>: discriminative_<k before '@'>: <k>"   S = s with a capital first letter
 *   train row field f:        "Train: loss" | "Train: lr" | "Train: time" (seconds) | "Train: images_per_second"
 *   anything else fetched:    split "other", key = the raw W&B name (round-trips unchanged)
 */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/wandb/wandb.h"

static const char *const train_fields[][2] = {
    {"loss", "loss"}, {"lr", "lr"}, {"seconds", "time"}, {"images_per_second", "images_per_second"}};

char *dml_wandb_reference_key(const char *split, const char *key) {
  if (!split || !key) return xstrdup("");
  if (!strcmp(split, "other")) return xstrdup(key);
  if (!strcmp(split, "train"))
    for (size_t i = 0; i < sizeof train_fields / sizeof *train_fields; i++)
      if (!strcmp(key, train_fields[i][0])) return dml_strfmt("Train: %s", train_fields[i][1]);
  char *S = xstrdup(split);
  if (*S) S[0] = (char)toupper((unsigned char)S[0]);
  size_t base = strcspn(key, "@");
  char *r = dml_strfmt("%s: discriminative_%.*s: %s", S, (int)base, key, key);
  free(S);
  return r;
}

int dml_wandb_parse_key(const char *ref, char **split, char **key, int *is_train_row) {
  *split = *key = NULL;
  *is_train_row = 0;
  if (!ref || !*ref || ref[0] == '_') return 0;
  const char *c1 = strstr(ref, ": ");
  if (c1) {
    size_t sl = (size_t)(c1 - ref);
    const char *rest = c1 + 2;
    const char *c2 = strstr(rest, ": ");
    int is_train = sl == 5 && !strncmp(ref, "Train", 5);
    int known = is_train || (sl == 4 && !strncmp(ref, "Test", 4)) || (sl == 3 && !strncmp(ref, "Val", 3));
    if (is_train && !c2) {
      for (size_t i = 0; i < sizeof train_fields / sizeof *train_fields; i++)
        if (!strcmp(rest, train_fields[i][1])) {
          *split = xstrdup("train");
          *key = xstrdup(train_fields[i][0]);
          *is_train_row = 1;
          return 1;
        }
    }
    if (known && c2) {
      /* group must be discriminative_<segment before '@'> */
      const char *seg = c2 + 2;
      size_t gl = (size_t)(c2 - rest), base = strcspn(seg, "@");
      static const char pre[] = "discriminative_";
      if (gl == sizeof pre - 1 + base && !strncmp(rest, pre, sizeof pre - 1) &&
          !strncmp(rest + sizeof pre - 1, seg, base) && *seg && !strstr(seg, ": ")) {
        *split = xmalloc(sl + 1);
        for (size_t i = 0; i < sl; i++) (*split)[i] = (char)tolower((unsigned char)ref[i]);
        (*split)[sl] = 0;
        *key = xstrdup(seg);
        return 1;
      }
    }
  }
  *split = xstrdup("other");
  *key = xstrdup(ref);
  return 1;
}

char *dml_wandb_safe_name(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n > 200) n = 200;
  char *s = xmalloc(n + 2);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)name[i];
    s[i] = (isalnum(ch) || strchr("._@+=-", ch)) && ch < 128 ? (char)ch : '_';
  }
  s[n] = 0;
  if (n == 0) strcpy(s, "_");
  if (s[0] == '.') s[0] = '_';
  return s;
}

char *dml_wandb_row_add(char *row, const char *split, const char *key, double value) {
  char *ref = dml_wandb_reference_key(split, key);
  json_t *ks = json_string(ref);
  char *kq = ks ? json_dumps(ks, JSON_ENCODE_ANY) : NULL; /* the key quoted and escaped */
  json_decref(ks);
  char num[40];
  if (isnan(value)) snprintf(num, sizeof num, "NaN");
  else if (isinf(value)) snprintf(num, sizeof num, value > 0 ? "Infinity" : "-Infinity");
  else snprintf(num, sizeof num, "%.17g", value);
  size_t n = row ? strlen(row) : 0;
  char *out;
  if (n < 2 || row[n - 1] != '}') /* NULL or not an object yet */
    out = dml_strfmt("{%s: %s}", kq ? kq : "\"\"", num);
  else if (n == 2)
    out = dml_strfmt("{%s: %s}", kq ? kq : "\"\"", num);
  else
    out = dml_strfmt("%.*s, %s: %s}", (int)(n - 1), row, kq ? kq : "\"\"", num);
  free(kq);
  free(ref);
  free(row);
  return out;
}
