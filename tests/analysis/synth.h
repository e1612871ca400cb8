/* synth — small synthetic run records for the analysis and reports tests, written with the run-record writer.
 *
 * Every value follows a closed form, so the tests can state expected aggregates by hand:
 *   test  e_recall@1 = base + 0.01 * seed + {0.00, 0.05, 0.03, 0.04}[epoch]  (max at epoch 1, last = epoch 3)
 *   test  nmi        = 0.2 * base + 0.02 * seed + {0.10, 0.20, 0.30, 0.25}[epoch]
 *   val   e_recall@1 = base + {0.00, 0.01, 0.02, 0.015}[epoch]                 (best at epoch 2)
 *   train dists@intra_over_inter = 1.5 - base + 0.001 * seed + 0.01 * epoch
 *   train rho_spectrum@2         = 0.8 - base + 0.002 * seed + 0.01 * epoch
 * epochs 0..3; embeddings of the test split: 40 × 4, a deterministic pattern scaled by (1 + seed). */
#ifndef DML_TEST_SYNTH_H
#define DML_TEST_SYNTH_H
#include "common/common.h"

struct synth_run {
  const char *dataset, *group; /* run name = "<group>_s<seed>" unless name is set */
  const char *name;
  long seed;
  double base;
  int status;                  /* enum dml_run_status */
  int epochs;                  /* 0: 4 */
  const char *extra_key;       /* an additional test-split key (hostile keys), value = base */
  const char *r1_definition;   /* definition of test e_recall@1 (NULL: "e_recall@k/v1") */
};

/* Write dir/<dataset>/<name>/run.h5. */
dml_status synth_write(const char *dir, const struct synth_run *r);
/* The standard set: cub200 × {CUB_Margin_b12_Distance (s0-2, base .60), CUB_Triplet_Random (s0-1, base .55),
 * CUB_ArcFace (s0-2, base .58; s3 failed)}, cars196 × CARS_Margin_b12_Distance (s0, s1, s3; base .75),
 * and a foreign file dir/cub200/foreign.h5 (text). */
dml_status synth_standard(const char *dir);
#endif
