/* trainer — the training loop of dml-train as a library call, so tests can drive it without a process. */
#ifndef DML_TRAINER_H
#define DML_TRAINER_H
#include "train/train.h"

/* Run one training as configured: o holds the loop's flags, opt views every flag (the methods read theirs from
 * it, dml_train_cli_opts); config_json is the full flag set for the record. With resume_dir (a run
 * folder of an earlier, interrupted run) the record and the checkpoint there are continued from the epoch after
 * the checkpoint; the result is the same as an unbroken run's. On success, when run_path is non-NULL it
 * receives the path of the run.h5 (heap). */
dml_status dml_train_run(const struct dml_train_opts *o, const struct dml_opts *opt, const char *config_json,
                         const char *resume_dir, char **run_path);
/* --dry_run: check a run line without training or writing anything: the option values, every method name (dataset,
 * architecture, loss and its miner, sampler, optimizer), the dataset layout (by loading its index, unless
 * o->dry_run_skip_data), and that the pretrained weights file exists; prints what it checked and the run record's
 * path a run would write now. run_path (may be NULL) receives that path (heap). */
dml_status dml_train_dry_run(const struct dml_train_opts *o, const struct dml_opts *opt, char **run_path);
/* Checks of the option values shared by a run and a dry run (epochs, optimizer, metric names). */
dml_status dml_train_check_opts(const struct dml_train_opts *o);
/* The run folder <save_path>/<dataset>/<savename>[_N] a run would use now (heap): created when create != 0. */
dml_status dml_train_run_dir(const struct dml_train_opts *o, int create, char **dir);
#endif
