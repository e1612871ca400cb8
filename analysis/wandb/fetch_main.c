/* dml-fetch — download a W&B project into run records (see fetch.c for the contract). */
#include <stdlib.h>
#include <string.h>

#include "analysis/wandb/wandb.h"
#include "common/flags.h"

int main(int argc, char **argv) {
  struct {
    char *out, *group, *filter;
    int per_page, jobs, full;
  } o;
  const struct dml_flag flags[] = {
      {"out", DML_FLAG_STR, &o.out, "runs/wandb", "folder for the records: <out>/<dataset or project>/<run>/run.h5"},
      {"group", DML_FLAG_STR, &o.group, NULL, "fetch only runs of this W&B group"},
      {"filter", DML_FLAG_STR, &o.filter, NULL, "extra MongoDB-style run filter (JSON object), e.g. {\"state\": \"finished\"}"},
      {"per_page", DML_FLAG_INT, &o.per_page, "50", "runs per list request"},
      {"jobs", DML_FLAG_INT, &o.jobs, "4", "histories downloaded at the same time"},
      {"full", DML_FLAG_BOOL, &o.full, "0", "fetch every run again, not only new or changed ones"},
  };
  struct dml_cli cli = {.prog = "dml-fetch",
                        .summary = "fetch a W&B project into run records (key: $WANDB_API_KEY or ~/.netrc; server: $WANDB_BASE_URL)",
                        .usage = "[flags] ENTITY/PROJECT",
                        .flags = flags, .n_flags = sizeof flags / sizeof *flags,
                        .min_positional = 1, .max_positional = 1};
  dml_exit_on_error(cli.prog, dml_flags_parse(&cli, argc, argv));
  const char *ep = cli.positional[0];
  const char *slash = strchr(ep, '/');
  if (!slash || slash == ep || !slash[1] || strchr(slash + 1, '/'))
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "expected ENTITY/PROJECT, got '%s'", ep));
  if (o.per_page < 1 || o.per_page > 1000 || o.jobs < 1 || o.jobs > 16)
    dml_exit_on_error(cli.prog, dml_error(DML_ERR_ARG, "--per_page must be 1..1000 and --jobs 1..16"));
  char *entity = strndup(ep, (size_t)(slash - ep));
  struct dml_wandb_fetch_opts fo = {.entity = entity, .project = slash + 1, .out_dir = o.out,
                                    .group = o.group, .filter_json = o.filter, .per_page = o.per_page,
                                    .jobs = o.jobs, .full = o.full, .log = stderr};
  struct dml_wandb_fetch_stats s;
  dml_status st = dml_wandb_fetch(&fo, &s);
  if (!st || s.listed)
    printf("dml-fetch: %s: %zu runs listed: %zu new, %zu changed, %zu unchanged, %zu failed; %zu history rows, "
         "%zu non-numeric values skipped\n",
           ep, s.listed, s.fetched_new, s.fetched_changed, s.unchanged, s.failed, s.rows, s.skipped_values);
  free(entity);
  dml_flags_free(&cli);
  dml_exit_on_error("dml-fetch", st);
  return 0;
}
