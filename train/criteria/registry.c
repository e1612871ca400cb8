/* registry (criteria) — criterion name → constructor; checks the miner against the criterion's allowed list. */
#include <string.h>

#include "train/train.h"

static const struct {
  const char *name;
  dml_status (*create)(const struct dml_train_opts *, int, const int32_t *, struct dml_criterion *);
} criteria[] = {
  {"margin", dml_criterion_margin},
};

dml_status dml_criterion_create(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                struct dml_criterion *c) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < sizeof criteria / sizeof *criteria; i++)
    if (!strcmp(o->loss, criteria[i].name)) {
      c->name = criteria[i].name;
      return criteria[i].create(o, n_classes, classes, c);
    }
  return dml_error(DML_ERR_ARG, "unknown --loss '%s' (known in this build: margin)", o->loss);
}

void dml_criterion_free(struct dml_criterion *c) {
  if (c->destroy) c->destroy(c);
  memset(c, 0, sizeof *c);
}
