/* wandb — Weights & Biases both ways, from C: fetch whole projects into run records (dml-fetch), log a
 * training run online from a background thread (dml-train --log_online), upload what was not sent
 * later (dml-sync). libcurl and jansson are used only inside this module.
 *
 * Server: $WANDB_BASE_URL (default https://api.wandb.ai, trailing '/' stripped).
 * Key: $WANDB_API_KEY, else the `password` of the $NETRC (else ~/.netrc) entry for the server's host.
 * The key is held in memory only and handed to libcurl as HTTP Basic credentials (user "api"); it never
 * appears in a URL, a file, a log line, an error message or a process argument list.
 *
 * Online logging (the thread never makes training wait; every call below returns at once except finish):
 *   struct dml_wandb_run_opts o = {.project = "P", .group = "G", .name = "G_s0",
 *                                  .config_json = flags_json, .run_dir = "runs/x/G_s0"};
 *   dml_wandb_logger_t *wl;
 *   if ((st = dml_wandb_logger_start(&o, &wl))) ...              // DML_ERR_AUTH: no key found
 *   per epoch: dml_wandb_logger_log(wl, epoch, "{\"Test: discriminative_e_recall: e_recall@1\": 0.61}");
 *   dml_wandb_logger_finish(wl, 0, 30.0, &unsent);               // rows not sent stay in the pending file
 *
 * Files the logger keeps in run_dir: wandb-run.json (entity, project, run id, display name, group, config,
 * lines delivered, whether the completion was sent) and wandb-pending.jsonl (rows not delivered, one JSON
 * object per line with "_step"). `dml-sync RUN_DIR` uploads them (dml_wandb_sync).
 */
#ifndef DML_WANDB_H
#define DML_WANDB_H
#include <stddef.h>
#include <stdio.h>

#include "common/error.h"

struct dml_wandb_run_opts {
  const char *entity;       /* NULL: the key's default entity (viewer query) */
  const char *project, *group, *name;
  const char *config_json;  /* the full flag set as a JSON object */
  const char *run_dir;      /* the run's folder: unsent rows are kept in <run_dir>/wandb-pending.jsonl for dml-sync */
};
typedef struct dml_wandb_logger dml_wandb_logger_t;

/* Resolves the key, starts the background thread; never blocks on the network.
 * Returns DML_ERR_AUTH when no key is found, DML_ERR_ARG for missing project/run_dir, DML_ERR_IO when
 * run_dir is not writable. */
dml_status dml_wandb_logger_start(const struct dml_wandb_run_opts *o, dml_wandb_logger_t **out);
/* Queue one history row (a JSON object string without _step; the logger adds "_step": step, "_runtime" and
 * "_timestamp"). NaN / Infinity / -Infinity tokens are allowed as values. Never blocks (bounded queue; on
 * overflow rows go to the pending file, and so do all later rows, to keep their order). */
void dml_wandb_logger_log(dml_wandb_logger_t *l, long step, const char *row_json);
/* Flush with a deadline (seconds from now), send summary + completion (exit code), join the thread, free l.
 * *unsent (may be NULL) = rows not delivered (kept in the pending file). Returns DML_ERR_NET when something
 * was left unsent (the message says what and that dml-sync uploads it), DML_OK otherwise. */
dml_status dml_wandb_logger_finish(dml_wandb_logger_t *l, int exit_code, double deadline_s, size_t *unsent);

/* Reference key for a (split, key) pair, as the reference's W&B logger names it (spec A4):
 *   ("test","e_recall@1") -> "Test: discriminative_e_recall: e_recall@1"; ("val","nmi") -> "Val: discriminative_nmi: nmi"
 *   train rows: ("train","loss") -> "Train: loss", ("train","lr") -> "Train: lr", ("train","seconds") -> "Train: time",
 *   ("train","images_per_second") -> "Train: images_per_second";
 *   ("other", k) -> k (unknown keys fetched from W&B round-trip unchanged). Caller frees. */
char *dml_wandb_reference_key(const char *split, const char *key);
/* Build a history row: returns `row` (a heap JSON object string, NULL = "{}") with "<reference key>": value
 * appended, using dml_wandb_reference_key; NaN/±Inf are written as NaN/Infinity/-Infinity, finite values with
 * 17 significant digits (exact round trip). The old string is freed.
 *   char *row = NULL;
 *   row = dml_wandb_row_add(row, "test", "e_recall@1", 0.61);
 *   row = dml_wandb_row_add(row, "train", "loss", 0.18);
 *   dml_wandb_logger_log(wl, epoch, row); free(row); */
char *dml_wandb_row_add(char *row, const char *split, const char *key, double value);
/* The inverse, for dml-fetch: *split and *key are heap strings (caller frees). Unknown names give split "other"
 * and the raw name as key; train-row names give split "train" and the row field ("loss", "lr", "seconds",
 * "images_per_second") with *is_train_row = 1. Internal keys ("_step", "_runtime", "_timestamp", "_wandb")
 * return 0 (not a metric); otherwise 1. */
int dml_wandb_parse_key(const char *ref_key, char **split, char **key, int *is_train_row);

/* A run name made safe as one path component: characters other than [A-Za-z0-9._@+=-] become '_', a leading
 * '.' becomes '_', empty becomes "_", at most 200 bytes. "../../x" -> "_._.._x". Caller frees. */
char *dml_wandb_safe_name(const char *name);

/* ---- dml-fetch ---- */
struct dml_wandb_fetch_opts {
  const char *entity, *project;
  const char *out_dir;      /* records go to <out_dir>/<dataset or project>/<safe run name>/run.h5 */
  const char *group;        /* NULL: all groups */
  const char *filter_json;  /* extra MongoDB-style filter (JSON object), ANDed with group; NULL: none */
  int per_page;             /* runs per list page (default 50) */
  int jobs;                 /* histories downloaded concurrently (default 4) */
  int full;                 /* 1: ignore the fetch state, fetch every run again */
  FILE *log;                /* progress + one line per skipped value kind; NULL: silent */
};
struct dml_wandb_fetch_stats { size_t listed, fetched_new, fetched_changed, unchanged, failed, rows, skipped_values; };
/* Fetches every matching run of entity/project. Incremental: <out_dir>/.dml-fetch-state.json remembers each
 * run's heartbeatAt and historyLineCount; unchanged runs are skipped, changed ones rewritten; it is saved after
 * every run, so an interrupted fetch resumes. */
dml_status dml_wandb_fetch(const struct dml_wandb_fetch_opts *o, struct dml_wandb_fetch_stats *stats);

/* ---- dml-sync ---- */
/* Uploads what the logger could not deliver for run_dir (wandb-run.json + wandb-pending.jsonl): creates or
 * resumes the run, skips rows the server already holds (its historyLineCount), sends the rest, the summary
 * and the completion; removes the pending file when everything is delivered. *sent (may be NULL) = rows sent. */
dml_status dml_wandb_sync(const char *run_dir, size_t *sent, FILE *log);
#endif
