/* flags — table-driven command-line parsing with the reference's argparse conventions.
 *
 *   static struct { int bs; double lr; char *loss; struct dml_strlist metrics; int log_online; } o;
 *   const struct dml_flag flags[] = {
 *     {"bs",   DML_FLAG_INT,   &o.bs,   "112",    "batch size"},
 *     {"lr",   DML_FLAG_FLOAT, &o.lr,   "1e-5",   "learning rate"},
 *     {"loss", DML_FLAG_STR,   &o.loss, "margin", "criterion name"},
 *     {"evaluation_metrics", DML_FLAG_STRLIST, &o.metrics, "e_recall@1 nmi", "metrics"},
 *     {"log_online", DML_FLAG_BOOL, &o.log_online, "0", "stream to W&B"},
 *   };
 *   struct dml_cli cli = {.prog = "dml-train", .summary = "train one run", .flags = flags,
 *                         .n_flags = sizeof flags / sizeof *flags};
 *   dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
 *
 * - `--name value`, `--name=value`; a BOOL flag takes no value (`--name`), or `--name=0|1`.
 * - STRLIST takes every following token up to the next `--flag` (argparse nargs='+');
 *   INTLIST likewise, e.g. `--tau 50 80`. FLOATLIST too.
 * - A unique prefix selects a flag (argparse abbreviation: `--source` → `--source_path`).
 * - An unknown flag is a DML_ERR_ARG naming the closest known flag; `--help`/`-h` prints
 *   the summary, the usage and every flag with its default (cli.groups under their headings), then exits 0.
 * - Positional arguments are collected in cli.positional (cli.n_positional).
 * - Flags keep the order of the table; dml_flags_to_json() writes all of them, defaults included,
 *   as one JSON object (the run record's `config`).
 */
#ifndef DML_FLAGS_H
#define DML_FLAGS_H
#include <stddef.h>
#include <stdio.h>
#include "common/error.h"

enum dml_flag_type { DML_FLAG_INT, DML_FLAG_FLOAT, DML_FLAG_STR, DML_FLAG_BOOL,
                     DML_FLAG_STRLIST, DML_FLAG_INTLIST, DML_FLAG_FLOATLIST };

struct dml_strlist { char **v; int n; };
struct dml_intlist { long *v; int n; };
struct dml_floatlist { double *v; int n; };

struct dml_flag {
  const char *name;     /* without the leading dashes */
  enum dml_flag_type type;
  void *dst;            /* int*, double*, char**, int*, dml_strlist*, dml_intlist*, dml_floatlist* */
  const char *def;      /* default as text; NULL = empty string / empty list / 0 */
  const char *help;
};

/* --help lists these under a heading after the other flags (e.g. one group per method, with the flags it
 * declares); a flag of a group is matched to the table by name. */
struct dml_flag_group {
  const char *title;
  const struct dml_flag *flags;
  size_t n;
};

struct dml_cli {
  const char *prog;
  const char *summary;         /* one line */
  const char *usage;           /* e.g. "[flags] RUN.h5" ; may be NULL */
  const struct dml_flag *flags;
  size_t n_flags;
  int min_positional, max_positional; /* max < 0: unlimited */
  const struct dml_flag_group *groups; /* may be NULL */
  size_t n_groups;
  /* filled by dml_flags_parse */
  char **positional;
  int n_positional;
  unsigned char *seen;         /* seen[i] != 0 when flag i was given on the command line */
};

/* Storage for flags that bind no variable of the caller (a method's own flags): dml_flag_slot gives the dst
 * of a flag of type t kept in v. */
union dml_flag_value {
  int i;
  double f;
  char *s;
  struct dml_strlist sl;
  struct dml_intlist il;
  struct dml_floatlist fl;
};
void *dml_flag_slot(union dml_flag_value *v, enum dml_flag_type t);

/* A read-only view of a parsed flag table that finds flags by exact name: how a method reads its flags.
 *   double alpha = dml_opts_float(opt, "loss_margin_margin");
 * Asking for a flag the table lacks, or with the wrong type, is a broken invariant (DML_ABORT naming it);
 * dml_opts_find returns NULL instead. dml_opts_int reads INT and BOOL flags; dml_opts_str never returns NULL. */
struct dml_opts {
  const struct dml_flag *flags;
  size_t n;
};
const struct dml_flag *dml_opts_find(const struct dml_opts *o, const char *name);
int dml_opts_int(const struct dml_opts *o, const char *name);
double dml_opts_float(const struct dml_opts *o, const char *name);
const char *dml_opts_str(const struct dml_opts *o, const char *name);
const struct dml_strlist *dml_opts_strlist(const struct dml_opts *o, const char *name);
const struct dml_intlist *dml_opts_intlist(const struct dml_opts *o, const char *name);
const struct dml_floatlist *dml_opts_floatlist(const struct dml_opts *o, const char *name);

dml_status dml_flags_parse(struct dml_cli *cli, int argc, char **argv);
void dml_flags_print_help(const struct dml_cli *cli, FILE *f);
/* The flags and their current values as a JSON object string (heap). */
char *dml_flags_to_json(const struct dml_cli *cli);
/* Set every flag that appears in a JSON object (as written by dml_flags_to_json) and was not given on the
 * command line: how `dml-train --resume DIR` restores a run's configuration. Unknown keys are ignored. */
dml_status dml_flags_from_json(struct dml_cli *cli, const char *json);
/* Was flag `name` given explicitly? */
int dml_flags_given(const struct dml_cli *cli, const char *name);
void dml_flags_free(struct dml_cli *cli);
/* Levenshtein distance, for "did you mean" messages elsewhere too. */
size_t dml_edit_distance(const char *a, const char *b);
#endif
