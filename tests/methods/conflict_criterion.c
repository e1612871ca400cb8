/* conflict_criterion — a throwaway criterion that declares the margin loss's --loss_margin_beta with another
 * default: test_flag_conflict.c checks that building dml-train's table refuses it (one flag, one definition). */
#include "train/methods.h"

static dml_status conflict_create(const struct dml_opts *opt, const struct dml_criterion_shape *shape,
                                  struct dml_criterion *c) {
  (void)opt, (void)shape, (void)c;
  return dml_error(DML_ERR_ARG, "conflict: not meant to be built");
}

static const struct dml_flag conflict_flags[] = {
  DML_METHOD_FLAG(loss_margin_beta, FLOAT, "9", "conflict: margin's beta, another default"),
};

const struct dml_criterion_def dml_criterion_def_conflict = {
  .name = "conflict",
  .summary = "(test) a flag declared twice with different defaults",
  DML_METHOD_FLAGS(conflict_flags),
  .create = conflict_create,
};
