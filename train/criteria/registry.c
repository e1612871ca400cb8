/* registry (criteria) — criterion name → constructor; checks the miner against the criterion's allowed list. */
#include <string.h>

#include "train/criteria/ad.h"

static const struct {
  const char *name;
  dml_status (*create)(const struct dml_train_opts *, int, const int32_t *, struct dml_criterion *);
} criteria[] = {
  {"triplet", dml_criterion_triplet},
  {"margin", dml_criterion_margin},
  {"contrastive", dml_criterion_contrastive},
  {"lifted", dml_criterion_lifted},
  {"npair", dml_criterion_npair},
  {"angular", dml_criterion_angular},
  {"snr", dml_criterion_snr},
  {"quadruplet", dml_criterion_quadruplet},
  {"proxynca", dml_criterion_proxynca},
  {"softmax", dml_criterion_softmax},
  {"arcface", dml_criterion_arcface},
  {"softtriplet", dml_criterion_softtriplet},
  {"histogram", dml_criterion_histogram},
  {"multisimilarity", dml_criterion_multisimilarity},
  {"adversarial_separation", dml_criterion_adversarial_separation},
  {"oproxy", dml_criterion_oproxy},
  {"nir", dml_criterion_nir},
};

const char *dml_criterion_name(int i) {
  return i >= 0 && (size_t)i < sizeof criteria / sizeof *criteria ? criteria[i].name : NULL;
}

dml_status dml_criterion_create(const struct dml_train_opts *o, int n_classes, const int32_t *classes,
                                struct dml_criterion *c) {
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < sizeof criteria / sizeof *criteria; i++)
    if (!strcmp(o->loss, criteria[i].name)) {
      c->name = criteria[i].name;
      return criteria[i].create(o, n_classes, classes, c);
    }
  char known[512] = "";
  for (size_t i = 0; i < sizeof criteria / sizeof *criteria; i++) {
    strncat(known, i ? " " : "", sizeof known - strlen(known) - 1);
    strncat(known, criteria[i].name, sizeof known - strlen(known) - 1);
  }
  return dml_error(DML_ERR_ARG, "unknown --loss '%s' (known: %s)", o->loss, known);
}

void dml_criterion_free(struct dml_criterion *c) {
  if (c->destroy) c->destroy(c);
  crit_tape_free(c);
  memset(c, 0, sizeof *c);
}
