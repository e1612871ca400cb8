/* dml-sweep — run a preset's methods × seeds as a study, on this machine or as a Slurm job array; idempotent:
 * finished runs are skipped, interrupted or killed ones resumed with --resume, failed ones re-run only with
 * --retry-failed. `status` reads the state of every run from the records. See analysis/sweep/sweep.h. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/sweep/sweep-impl.h"

static const char *const usage =
    "usage: dml-sweep run PRESET --save_path DIR [--executor local|slurm] [--jobs N] [--seeds 0-4] [--resume]\n"
    "                 [--retry-failed] [--partition P] [--time T] [--cpus-per-task C] [--gres G] [--wait]\n"
    "       dml-sweep status DIR          the state of every run of the study in DIR\n"
    "       dml-sweep list PRESET [--save_path DIR] [--seeds S]   each run's record path and dml-train line\n"
    "       dml-sweep finish DIR [--no-pdf]   aggregate + report (the Slurm report job runs this)\n"
    "       dml-sweep task DIR INDEX      one run of the manifest (the Slurm array task runs this)\n"
    "(dml-sweep COMMAND --help for the flags of one command)\n";

static int cpus_available(void) {
  cpu_set_t set;
  if (!sched_getaffinity(0, sizeof set, &set)) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

static int cmd_run(int argc, char **argv, int list_only) {
  struct {
    char *save_path, *executor, *seeds, *partition, *time, *gres;
    int jobs, resume, retry, cpus, wait, cores, report, no_pdf;
    double wait_timeout;
  } o = {0};
  const struct dml_flag flags[] = {
    {"save_path", DML_FLAG_STR, &o.save_path, "runs", "study folder: <save_path>/<dataset>/<group>_s<seed>/run.h5, bookkeeping in <save_path>/.sweep/"},
    {"executor", DML_FLAG_STR, &o.executor, "local", "local (this machine) or slurm (one sbatch job array)"},
    {"seeds", DML_FLAG_STR, &o.seeds, "", "seeds for every line, e.g. 0-4 or 0,1,2 (default: each line's --seed list)"},
    {"jobs", DML_FLAG_INT, &o.jobs, "1", "local: runs at a time; each gets --kernels cores/jobs"},
    {"cores", DML_FLAG_INT, &o.cores, "0", "local: cores to share out (0 = the CPUs this process may use)"},
    {"resume", DML_FLAG_BOOL, &o.resume, "0", "continue interrupted or killed runs from their last epoch"},
    {"retry-failed", DML_FLAG_BOOL, &o.retry, "0", "start failed runs again (their folders move to .sweep/attic/)"},
    {"report", DML_FLAG_BOOL, &o.report, "0", "local: aggregate and report at the end (as the Slurm report job)"},
    {"no-pdf", DML_FLAG_BOOL, &o.no_pdf, "0", "the report step writes no PDF (no pdflatex)"},
    {"partition", DML_FLAG_STR, &o.partition, "", "slurm: --partition"},
    {"time", DML_FLAG_STR, &o.time, "", "slurm: --time limit of each task (e.g. 2-00:00:00)"},
    {"cpus-per-task", DML_FLAG_INT, &o.cpus, "2", "slurm: --cpus-per-task; each run gets --kernels this"},
    {"gres", DML_FLAG_STR, &o.gres, "", "slurm: --gres of each task (e.g. gpu:1)"},
    {"wait", DML_FLAG_BOOL, &o.wait, "0", "slurm: wait for the array and its report job; exit 1 if any run failed"},
    {"wait-timeout", DML_FLAG_FLOAT, &o.wait_timeout, "604800", "slurm: hard limit of --wait in seconds"},
  };
  struct dml_cli cli = {.prog = list_only ? "dml-sweep list" : "dml-sweep run",
                        .summary = list_only ? "print each run of a preset: record path and dml-train line"
                                             : "run a preset's methods x seeds as a study (local or Slurm)",
                        .usage = "PRESET --save_path DIR [flags]", .flags = flags,
                        .n_flags = sizeof flags / sizeof *flags, .min_positional = 1, .max_positional = 1};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  if (cli.n_positional != 1) dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "give one PRESET file"));
  int slurm = !strcmp(o.executor, "slurm");
  if (!slurm && strcmp(o.executor, "local"))
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--executor must be local or slurm, got '%s'", o.executor));
  if (o.jobs < 1 || o.cpus < 1 || o.cores < 0)
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--jobs, --cpus-per-task must be >= 1 and --cores >= 0"));
  struct dml_sweep s;
  struct dml_sweep_opts so = {.save_path = o.save_path, .seeds = *o.seeds ? o.seeds : NULL, .no_create = list_only};
  dml_exit_on_error(cli.prog, dml_sweep_from_preset(&s, cli.positional[0], &so));
  if (list_only) {
    char *train = dml_sweep_sibling("dml-train");
    for (size_t i = 0; i < s.n; i++) {
      printf("%zu\t%s\t", i, s.runs[i].record);
      sweep_print_word(stdout, train);
      for (int j = 0; j < s.runs[i].argc; j++) {
        putchar(' ');
        sweep_print_word(stdout, s.runs[i].argv[j]);
      }
      printf("\n");
    }
    free(train);
    dml_sweep_free(&s);
    dml_flags_free(&cli);
    return 0;
  }
  struct dml_sweep_policy p = {.resume = o.resume, .retry_failed = o.retry};
  long left;
  if (slurm) {
    struct dml_slurm_opts sl = {.partition = *o.partition ? o.partition : NULL, .time = *o.time ? o.time : NULL,
                                .gres = *o.gres ? o.gres : NULL, .cpus_per_task = o.cpus, .wait = o.wait, .pdf = !o.no_pdf,
                                .wait_timeout = o.wait_timeout};
    left = dml_sweep_slurm(&s, &p, &sl);
  } else {
    left = dml_sweep_local(&s, &p, o.jobs, o.cores ? o.cores : cpus_available());
    if (left >= 0 && o.report) {
      long r = dml_sweep_finish(&s, !o.no_pdf);
      if (r < 0) left = -1;
    }
  }
  dml_status st = left < 0 ? DML_ERR_STATE : DML_OK;
  if (left < 0 && strstr(dml_error_message(), "stopped by signal")) st = DML_ERR_INTERRUPTED;
  dml_sweep_free(&s);
  dml_flags_free(&cli);
  dml_exit_on_error("dml-sweep", st);
  if (left > 0 && (!slurm || o.wait)) {
    fprintf(stderr, "dml-sweep: %ld run%s of the study not finished\n", left, left == 1 ? "" : "s");
    return 1;
  }
  return 0;
}

static int cmd_dir(int argc, char **argv, const char *prog, int what) {
  int no_pdf = 0;
  const struct dml_flag flags[] = {
    {"no-pdf", DML_FLAG_BOOL, &no_pdf, "0", "finish: write no PDF"},
  };
  struct dml_cli cli = {.prog = prog, .summary = "", .usage = what == 2 ? "DIR INDEX" : "DIR", .flags = flags,
                        .n_flags = 1, .min_positional = what == 2 ? 2 : 1, .max_positional = what == 2 ? 2 : 1};
  dml_exit_on_error(prog, dml_flags_parse(&cli, argc, argv));
  if (cli.n_positional != (what == 2 ? 2 : 1))
    dml_exit_on_error(prog, dml_error(DML_ERR_ARG, "usage: %s %s", prog, cli.usage));
  struct dml_sweep s;
  dml_exit_on_error(prog, dml_sweep_read_manifest(&s, cli.positional[0]));
  int rc = 0;
  if (what == 0) {
    dml_sweep_print_status(&s, stdout, NULL);
  } else if (what == 1) {
    long left = dml_sweep_finish(&s, !no_pdf);
    if (left < 0) {
      dml_sweep_free(&s);
      dml_exit_on_error(prog, DML_ERR_STATE);
    }
  } else {
    char *e;
    long idx = strtol(cli.positional[1], &e, 10);
    if (*e || e == cli.positional[1] || idx < 0 || (size_t)idx >= s.n) {
      dml_sweep_free(&s);
      dml_exit_on_error(prog, dml_error(DML_ERR_ARG, "run index '%s' is not in the manifest (0..%zu)", cli.positional[1],
                                        s.n ? s.n - 1 : 0));
    }
    const char *c = getenv("SLURM_CPUS_PER_TASK");
    int k = c && atoi(c) > 0 ? atoi(c) : cpus_available();
    char *train = dml_sweep_sibling("dml-train");
    rc = sweep_run_one(&s, (size_t)idx, train, k);
    free(train);
  }
  dml_sweep_free(&s);
  dml_flags_free(&cli);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *c = argv[1];
  if (!strcmp(c, "run")) return cmd_run(argc - 1, argv + 1, 0);
  if (!strcmp(c, "list")) return cmd_run(argc - 1, argv + 1, 1);
  if (!strcmp(c, "status")) return cmd_dir(argc - 1, argv + 1, "dml-sweep status", 0);
  if (!strcmp(c, "finish")) return cmd_dir(argc - 1, argv + 1, "dml-sweep finish", 1);
  if (!strcmp(c, "task")) return cmd_dir(argc - 1, argv + 1, "dml-sweep task", 2);
  fprintf(stderr, "dml-sweep: error: unknown command '%s' (run, status, list, finish, task)\n%s", c, usage);
  return 2;
}
