/* registry — the tables of every registered method, expanded from the per-folder lists (X-macros):
 * train/criteria/list.h, train/batchminer/list.h, train/datasampler/list.h. This file holds nothing else, so that a
 * test binary can compile its own copy with longer lists (-DDML_CRITERIA_LIST="…", -DDML_MINERS_LIST="…",
 * -DDML_SAMPLERS_LIST="…": a file that includes the real list and adds lines; tests/methods/) and link it before
 * libdml_train, whose copy is then not used. */
#include "train/train.h"

#ifndef DML_CRITERIA_LIST
#define DML_CRITERIA_LIST "train/criteria/list.h"
#endif

#define DML_CRITERION(n) extern const struct dml_criterion_def dml_criterion_def_##n;
#include DML_CRITERIA_LIST
#undef DML_CRITERION

const struct dml_criterion_def *const dml_criterion_defs[] = {
#define DML_CRITERION(n) &dml_criterion_def_##n,
#include DML_CRITERIA_LIST
#undef DML_CRITERION
  NULL,
};

#ifndef DML_MINERS_LIST
#define DML_MINERS_LIST "train/batchminer/list.h"
#endif

#define DML_MINER(n) extern const struct dml_miner_def dml_miner_def_##n;
#include DML_MINERS_LIST
#undef DML_MINER

const struct dml_miner_def *const dml_miner_defs[] = {
#define DML_MINER(n) &dml_miner_def_##n,
#include DML_MINERS_LIST
#undef DML_MINER
  NULL,
};

#ifndef DML_SAMPLERS_LIST
#define DML_SAMPLERS_LIST "train/datasampler/list.h"
#endif

#define DML_SAMPLER(n) extern const struct dml_sampler_def dml_sampler_def_##n;
#include DML_SAMPLERS_LIST
#undef DML_SAMPLER

const struct dml_sampler_def *const dml_sampler_defs[] = {
#define DML_SAMPLER(n) &dml_sampler_def_##n,
#include DML_SAMPLERS_LIST
#undef DML_SAMPLER
  NULL,
};
