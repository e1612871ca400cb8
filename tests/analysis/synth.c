/* synth — synthetic run records for tests (synth.h). */
#include "tests/analysis/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

dml_status synth_write(const char *dir, const struct synth_run *r) {
  static const double r1[] = {0.00, 0.05, 0.03, 0.04}, nm[] = {0.10, 0.20, 0.30, 0.25}, va[] = {0.00, 0.01, 0.02, 0.015};
  char *name = r->name ? xstrdup(r->name) : dml_strfmt("%s_s%ld", r->group, r->seed);
  char *path = dml_strfmt("%s/%s/%s_%ld/run.h5", dir, r->dataset, r->group, r->seed);
  /* folders: the writer creates the file only */
  char *d1 = dml_strfmt("%s/%s", dir, r->dataset), *d2 = dml_strfmt("%s/%s/%s_%ld", dir, r->dataset, r->group, r->seed);
  mkdir(dir, 0777); /* EEXIST is fine; a real failure shows at create */
  mkdir(d1, 0777);
  mkdir(d2, 0777);
  struct dml_run_meta m = {.seed = r->seed, .name = name, .group = (char *)r->group, .project = "synth",
                           .dataset = (char *)r->dataset, .arch = "mlp", .loss = "margin", .batch_mining = "distance",
                           .source = "local", .config_json = "{\"seed\": 0}"};
  dml_runrecord_t *rr;
  dml_status st = dml_runrecord_create(path, &m, &rr);
  int ne = r->epochs ? r->epochs : 4;
  for (int e = 0; e < ne && !st; e++) {
    struct dml_metric_value t[3] = {{"e_recall@1", r->base + 0.01 * r->seed + r1[e % 4],
                                     r->r1_definition ? r->r1_definition : "e_recall@k/v1"},
                                    {"nmi", 0.2 * r->base + 0.02 * r->seed + nm[e % 4], "nmi/v1"},
                                    {r->extra_key, r->base, NULL}};
    struct dml_metric_value v[1] = {{"e_recall@1", r->base + va[e % 4], "e_recall@k/v1"}};
    struct dml_metric_value tr[2] = {{"dists@intra_over_inter", 1.5 - r->base + 0.001 * r->seed + 0.01 * e, NULL},
                                     {"rho_spectrum@2", 0.8 - r->base + 0.002 * r->seed + 0.01 * e, NULL}};
    struct dml_train_row row = {.loss = 1.0 / (e + 1), .lr = 1e-3, .seconds = 1, .images_per_second = 100};
    if (!st) st = dml_runrecord_append_metrics(rr, "test", e, t, r->extra_key ? 3 : 2);
    if (!st) st = dml_runrecord_append_metrics(rr, "val", e, v, 1);
    if (!st) st = dml_runrecord_append_metrics(rr, "train", e, tr, 2);
    if (!st) st = dml_runrecord_append_train(rr, e, &row);
  }
  if (!st) {
    enum { N = 40, D = 4 };
    float emb[N * D];
    int32_t lab[N];
    for (int i = 0; i < N; i++) {
      lab[i] = i % 5;
      for (int j = 0; j < D; j++) emb[i * D + j] = (float)((1 + r->seed) * (sin(0.7 * i + 1.3 * j) + (j == lab[i] % D)));
    }
    st = dml_runrecord_put_embeddings(rr, "test", 0, emb, N, D, lab, NULL);
  }
  if (!st) st = dml_runrecord_set_status(rr, (enum dml_run_status)r->status);
  dml_status cst = dml_runrecord_close(rr);
  if (!st) st = cst;
  free(name);
  free(path);
  free(d1);
  free(d2);
  return st;
}

dml_status synth_standard(const char *dir) {
  const struct synth_run runs[] = {
    {"cub200", "CUB_Margin_b12_Distance", NULL, 0, 0.60, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cub200", "CUB_Margin_b12_Distance", NULL, 1, 0.60, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cub200", "CUB_Margin_b12_Distance", NULL, 2, 0.60, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cub200", "CUB_Triplet_Random", NULL, 0, 0.55, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cub200", "CUB_Triplet_Random", NULL, 1, 0.55, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cub200", "CUB_ArcFace", NULL, 0, 0.58, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cub200", "CUB_ArcFace", NULL, 1, 0.58, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cub200", "CUB_ArcFace", NULL, 2, 0.58, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cub200", "CUB_ArcFace", NULL, 3, 0.58, DML_RUN_FAILED, 2, NULL, NULL},
    {"cars196", "CARS_Margin_b12_Distance", NULL, 0, 0.75, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cars196", "CARS_Margin_b12_Distance", NULL, 1, 0.75, DML_RUN_FINISHED, 0, NULL, NULL},
    {"cars196", "CARS_Margin_b12_Distance", NULL, 3, 0.75, DML_RUN_RUNNING, 0, NULL, NULL},
  };
  for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
    dml_status st = synth_write(dir, &runs[i]);
    if (st) return st;
  }
  char *foreign = dml_strfmt("%s/cub200/foreign.h5", dir);
  FILE *f = fopen(foreign, "w");
  if (f) {
    fputs("not an HDF5 file\n", f);
    fclose(f);
  }
  free(foreign);
  return DML_OK;
}
