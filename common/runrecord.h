/* runrecord — the run record: one HDF5 file per run, the contract between training and analysis.
 * This module is the only code that writes or reads it; docs/run-format.md is its specification
 * (schema_version 1). Readable with h5py or h5dump without this code.
 *
 * Writing (dml-train, dml-fetch):
 *   struct dml_run_meta m = {.seed = 0, .group = "demo", .dataset = "fashion_mnist", ...,
 *                            .config_json = json, .source = "local"};
 *   dml_runrecord_t *rr;
 *   if ((st = dml_runrecord_create("runs/fashion_mnist/demo_s0/run.h5", &m, &rr))) ...
 *   per epoch:
 *     struct dml_metric_value v[] = {{"e_recall@1", 0.71, "e_recall@k v1"}, ...};
 *     dml_runrecord_append_metrics(rr, "test", epoch, v, n);
 *     dml_runrecord_append_train(rr, epoch, &(struct dml_train_row){.loss=..., .lr=..., ...});
 *     dml_runrecord_put_embeddings(rr, "test", 0, emb, n, d, labels, paths);   // latest
 *     dml_runrecord_commit(rr);        // durable: a kill after this keeps the epoch
 *   dml_runrecord_set_status(rr, DML_RUN_FINISHED);
 *   dml_runrecord_close(rr);            // commits what is pending
 *
 * Durability: the file is never left open between commits. Each commit applies the pending
 * changes to a copy (`run.h5.tmp`) and renames it over `run.h5`, so a process killed at any
 * moment leaves either the previous or the new complete file.
 *
 * Reading (dml-aggregate, dml-table, dml-plot, dml-eval): dml_runrecord_read() gives the metadata
 * and every metric series without embeddings; dml_runrecord_read_embeddings() loads one split.
 */
#ifndef DML_RUNRECORD_H
#define DML_RUNRECORD_H
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

#define DML_RUNRECORD_SCHEMA_VERSION 1

typedef struct dml_runrecord dml_runrecord_t;

enum dml_run_status { DML_RUN_RUNNING, DML_RUN_FINISHED, DML_RUN_FAILED, DML_RUN_INTERRUPTED };
const char *dml_run_status_name(enum dml_run_status s); /* "running", "finished", ... */

/* Root attributes. Strings may be NULL when writing (stored as ""). */
struct dml_run_meta {
  int schema_version;         /* read only; written as DML_RUNRECORD_SCHEMA_VERSION */
  char *dml_version;          /* read only; written as DML_VERSION */
  char *status;               /* read only; set with dml_runrecord_set_status */
  char *created, *finished;   /* ISO 8601 UTC; `created` written at create, `finished` at a terminal status */
  long seed;
  char *name;                 /* run name, e.g. "<group>_s<seed>" */
  char *group, *project, *dataset, *arch, *loss, *batch_mining;
  char *source;               /* "local" or "wandb:<entity>/<project>/<id>" */
  char *config_json;          /* the full parameter set, every flag with its value */
};

struct dml_metric_value {
  const char *key;            /* reference name: "e_recall@1", "nmi", "dists@intra_over_inter" ... */
  double value;
  const char *definition;     /* definition version, e.g. "mAP_c/v1"; NULL = unspecified */
};

struct dml_train_row { double loss, lr, seconds, images_per_second; };

dml_status dml_runrecord_create(const char *path, const struct dml_run_meta *meta, dml_runrecord_t **out);
/* Reopen an existing record to continue it (resume, incremental fetch). */
dml_status dml_runrecord_open(const char *path, dml_runrecord_t **out);
/* Append one value per key at `epoch` to metrics/<split>/<key> and metrics/<split>/epoch.
 * A key first seen at a later epoch is back-filled with NaN; a key missing this epoch gets NaN. */
dml_status dml_runrecord_append_metrics(dml_runrecord_t *rr, const char *split, long epoch,
                                        const struct dml_metric_value *v, size_t n);
/* Array-valued metric (rho_spectrum@0): stored whole, replacing the previous epoch's array. */
dml_status dml_runrecord_put_metric_array(dml_runrecord_t *rr, const char *split, const char *key,
                                          long epoch, const double *v, size_t n, const char *definition);
dml_status dml_runrecord_append_train(dml_runrecord_t *rr, long epoch, const struct dml_train_row *row);
/* embeddings/<split> (best = 0) or embeddings/best/<split> (best = 1): (n, d) float32, labels (n) int32,
 * paths (n) strings (paths may be NULL). Replaces what was there. */
dml_status dml_runrecord_put_embeddings(dml_runrecord_t *rr, const char *split, int best, const float *emb,
                                        size_t n, size_t d, const int32_t *labels, const char *const *paths);
/* Free-form string attribute on the root (e.g. "resumed_from", "wandb_unsent"). */
dml_status dml_runrecord_set_attr(dml_runrecord_t *rr, const char *name, const char *value);
dml_status dml_runrecord_set_status(dml_runrecord_t *rr, enum dml_run_status s);
/* Replace the `config` attribute (reserved for set_attr): how a resume records an allowed flag change. */
dml_status dml_runrecord_set_config(dml_runrecord_t *rr, const char *config_json);
dml_status dml_runrecord_commit(dml_runrecord_t *rr);
/* Drop the pending rows, arrays and embeddings, keeping the pending attributes and status: when a commit failed
 * (a full disk), what still fits is the record saying that the run failed and why. */
void dml_runrecord_drop_data(dml_runrecord_t *rr);
/* Commits pending changes, frees the handle. Returns the commit's status. */
dml_status dml_runrecord_close(dml_runrecord_t *rr);

/* ---- reading ---- */
struct dml_series {
  char *split;                /* "test", "train", "val" */
  char *key;                  /* "e_recall@1" */
  char *definition;           /* may be NULL */
  size_t n;
  double *epoch;              /* (n) */
  double *value;              /* (n), NaN where not evaluated */
};

struct dml_run {
  char *path;
  struct dml_run_meta meta;
  size_t n_series;
  struct dml_series *series;  /* metrics, sorted by (split, key) */
  size_t n_train;             /* train/ rows */
  double *train_epoch, *train_loss, *train_lr, *train_seconds, *train_ips; /* (n_train) */
};

dml_status dml_runrecord_read(const char *path, struct dml_run *out);
void dml_run_free(struct dml_run *run);
/* The series for (split, key), or NULL. */
const struct dml_series *dml_run_series(const struct dml_run *run, const char *split, const char *key);
dml_status dml_runrecord_read_embeddings(const char *path, const char *split, int best, float **emb,
                                         size_t *n, size_t *d, int32_t **labels, char ***paths);
/* One string root attribute (e.g. "run_id", "config_history"): *value = heap copy, or NULL when absent. */
dml_status dml_runrecord_read_attr(const char *path, const char *name, char **value);
/* Is this file a run record (HDF5 with a schema_version root attribute)? Cheap. */
int dml_runrecord_is_record(const char *path);
#endif
