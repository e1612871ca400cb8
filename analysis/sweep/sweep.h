/* sweep — a study as a list of runs: a preset's dml-train lines × seeds, each run's record path known before it
 * starts, launched on this machine (N at a time) or as one Slurm job array, and its state read back from the
 * records. dml-sweep drives dml-train, dml-aggregate and dml-report as processes; it never links the engine.
 *
 *   struct dml_sweep s = {0};
 *   struct dml_sweep_opts so = {.save_path = "runs/study", .seeds = NULL};
 *   if ((st = dml_sweep_from_preset(&s, "runs/presets/demo_study.sh", &so))) ...     // parse + expand seeds
 *   dml_sweep_write_manifest(&s);                      // <save_path>/.sweep/manifest.json
 *   struct dml_sweep_state rs;
 *   dml_sweep_state_of(&s, i, &rs);                     // finished / running / interrupted / failed / missing
 *   dml_sweep_free(&s);
 *
 * A preset is a text file of dml-train lines, shell-like but never given to a shell: '#' comments, '\' line
 * continuations, 'single' and "double" quotes and backslash escapes; anything a shell would expand or run
 * ($, `, ;, &, |, <, >, (, ), VAR=value prefixes) is refused with the line number. The first word of each line
 * must be dml-train (any path ending in it); the sweep replaces it by the dml-train beside dml-sweep.
 * Every line names its --dataset and --group (or --savename): together with the seed they are the run's folder
 * <save_path>/<dataset>/<group>_s<seed>. `--seed` takes a list (0,1,2 or 0-4 or 0 1 2); the sweep's own
 * --seeds replaces every line's seeds. The sweep sets --save_path (and --seed) itself.
 *
 * Bookkeeping beside the runs, in <save_path>/.sweep/ (hidden, so dml-aggregate never scans it):
 *   manifest.json            every run: index, preset line, name, record path, argv for dml-train
 *   logs/<index>_<name>.log  each run's dml-train output, appended by every attempt
 *   locks/<index>.lock       flock held by the dml-train process of a run while it lives
 *   exit/<index>             exit status of the last attempt (a run that died before writing a record)
 *   attic/                   folders moved aside (a failed run retried, a run killed before its first epoch)
 *   slurm.json               the job ids of the last Slurm submission
 */
#ifndef DML_SWEEP_H
#define DML_SWEEP_H
#include <stddef.h>
#include <stdio.h>

#include "common/common.h"

struct dml_sweep_run {
  size_t index;
  int line;                   /* preset line the run comes from (1-based) */
  char *dataset, *group, *name;
  long seed;
  char *dir;                  /* <save_path>/<dataset>/<name> */
  char *record;               /* <dir>/run.h5 */
  int argc;
  char **argv;                /* dml-train arguments (no program name, no --kernels) */
};

struct dml_sweep {
  char *save_path;            /* absolute */
  char *preset;
  size_t n;
  struct dml_sweep_run *runs;
};

struct dml_sweep_opts {
  const char *save_path;
  const char *seeds;          /* "0-4", "0,1,2" or NULL: the lines' own --seed */
  int no_create;              /* do not create save_path (dml-sweep list) */
};

/* Split one logical preset line into words (shell-like quoting, no expansion). err gets a reason on failure. */
dml_status dml_sweep_split_words(const char *text, int line, char ***words, int *n);
/* Parse a seed list: "3", "0,1,2", "0-4", "0-2,7"; appended to (*v, *n). */
dml_status dml_sweep_parse_seeds(const char *s, long **v, size_t *n);
/* Read a preset and expand it into runs (save_path made absolute, created unless o->no_create). */
dml_status dml_sweep_from_preset(struct dml_sweep *s, const char *preset_path, const struct dml_sweep_opts *o);
void dml_sweep_free(struct dml_sweep *s);

/* <save_path>/.sweep/<rel> (heap). */
char *dml_sweep_path(const struct dml_sweep *s, const char *rel);
char *dml_sweep_log_path(const struct dml_sweep *s, size_t i);
dml_status dml_sweep_write_manifest(const struct dml_sweep *s);
/* Read <dir>/.sweep/manifest.json. */
dml_status dml_sweep_read_manifest(struct dml_sweep *s, const char *dir);

// ---------------------------------------------------------------------------------------------- state of a run
enum dml_sweep_state_kind { DML_SWEEP_MISSING, DML_SWEEP_RUNNING, DML_SWEEP_INTERRUPTED, DML_SWEEP_FAILED,
                            DML_SWEEP_FINISHED };
const char *dml_sweep_state_name(enum dml_sweep_state_kind k);

struct dml_sweep_state {
  enum dml_sweep_state_kind kind;
  long epochs;                /* training epochs in the record */
  long n_epochs;              /* --n_epochs of its configuration (-1 unknown) */
  long kernels;               /* --kernels of its configuration (-1 unknown) */
  double r1;                  /* last test e_recall@1 (NaN if none) */
  int killed;                 /* record says running but no process holds its lock */
  int exit_code;              /* last attempt's exit status, -1 unknown */
  char note[160];
};
/* From the record (through common/runrecord), the run's lock and its last exit status. */
void dml_sweep_state_of(const struct dml_sweep *s, size_t i, struct dml_sweep_state *out);
/* Print the status table of every run; counts per state in counts[5] (may be NULL). */
void dml_sweep_print_status(const struct dml_sweep *s, FILE *f, size_t counts[5]);

// ---------------------------------------------------------------------------------------------- running
struct dml_sweep_policy {
  int resume;                 /* continue interrupted / killed runs */
  int retry_failed;           /* start failed runs again (the failed folder goes to .sweep/attic/) */
};
/* Should run i be launched under this policy? (finished: no; running: no; missing: yes; ...). why: a reason. */
int dml_sweep_wanted(const struct dml_sweep_state *st, const struct dml_sweep_policy *p, const char **why);
/* Bring run i to completion in this process: take its lock, move a stale folder aside, then exec dml-train
 * (fresh, or --resume when the record has completed epochs) with --kernels k and output appended to its log.
 * Returns 0 without running anything when the run is already finished, 75 when another process holds the run,
 * 127 (message on stderr) when it cannot start; otherwise it does not return. */
int dml_sweep_exec_run(const struct dml_sweep *s, size_t i, const char *dml_train, int kernels);
/* The sibling program `name` beside the running executable (or in $DML_BIN), heap. */
char *dml_sweep_sibling(const char *name);

/* Local executor: `jobs` runs at a time, cores shared out; progress on stderr. Returns the number of runs not
 * finished at the end (0 = the study is complete), or -1 on an error (message set). */
long dml_sweep_local(const struct dml_sweep *s, const struct dml_sweep_policy *p, int jobs, int ncpu);

struct dml_slurm_opts {
  const char *partition, *time, *gres;
  int cpus_per_task;
  int wait;
  int pdf;                    /* the report job builds the PDF */
  double wait_timeout;        /* seconds, hard limit on --wait */
};
/* Submit the array and its afterany report job; with o->wait, poll squeue until both are gone. Returns the
 * number of runs not finished (with wait), 0 after a submission without wait, -1 on an error. */
long dml_sweep_slurm(const struct dml_sweep *s, const struct dml_sweep_policy *p, const struct dml_slurm_opts *o);
/* The report step (the dependent job): status table, .sweep/failed.txt, dml-aggregate and dml-report.
 * Returns the number of runs not finished, -1 on an error. */
long dml_sweep_finish(const struct dml_sweep *s, int pdf);

/* Run argv (argv[0] a path) with stdout+stderr appended to log (NULL: inherited); returns its exit status,
 * 128 + signal when killed, -1 when it could not start. */
int dml_sweep_spawn_wait(char *const argv[], const char *log);
#endif
