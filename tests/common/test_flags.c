/* test_flags — defaults, value forms, prefix abbreviation, lists, errors with "did you mean"; flags kept in
 * dml_flag_value slots, the typed view (dml_opts_*) and --help groups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "tests/testutil.h"

static struct { int bs, log_online; double lr; char *loss, *source_path; struct dml_strlist metrics; struct dml_intlist tau; } o;
static const struct dml_flag flags[] = {
  {"bs", DML_FLAG_INT, &o.bs, "112", "batch size"},
  {"lr", DML_FLAG_FLOAT, &o.lr, "1e-5", "learning rate"},
  {"loss", DML_FLAG_STR, &o.loss, "margin", "criterion"},
  {"source_path", DML_FLAG_STR, &o.source_path, "/data", "dataset root"},
  {"evaluation_metrics", DML_FLAG_STRLIST, &o.metrics, "e_recall@1 nmi", "metrics"},
  {"tau", DML_FLAG_INTLIST, &o.tau, "1000", "milestones"},
  {"log_online", DML_FLAG_BOOL, &o.log_online, "0", "W&B"},
};

static dml_status parse(struct dml_cli *cli, int argc, const char **argv) {
  memset(cli, 0, sizeof *cli);
  cli->prog = "t";
  cli->flags = flags;
  cli->n_flags = sizeof flags / sizeof *flags;
  cli->max_positional = -1;
  return dml_flags_parse(cli, argc, (char **)argv);
}

/* A method's flags bound to value slots (no variable of the caller), read back through the view by name, and
 * --help listing them under their group's heading after the other flags. */
static int view_and_groups(void) {
  int fails = 0;
  const struct dml_flag own[] = {
    {"loss_x_margin", DML_FLAG_FLOAT, NULL, "0.2", "x: margin"},
    {"loss_x_k", DML_FLAG_INT, NULL, "3", "x: k"},
    {"loss_x_on", DML_FLAG_BOOL, NULL, "0", "x: switch"},
    {"loss_x_mode", DML_FLAG_STR, NULL, "a", "x: mode"},
    {"loss_x_pairs", DML_FLAG_STRLIST, NULL, "0-1", "x: pairs"},
    {"loss_x_w", DML_FLAG_FLOATLIST, NULL, "1.5", "x: weights"},
  };
  enum { NOWN = sizeof own / sizeof *own, NALL = sizeof flags / sizeof *flags + NOWN };
  struct dml_flag all[NALL];
  union dml_flag_value vals[NOWN];
  memset(vals, 0, sizeof vals);
  memcpy(all, flags, sizeof flags);
  for (int i = 0; i < NOWN; i++) {
    all[NALL - NOWN + i] = own[i];
    all[NALL - NOWN + i].dst = dml_flag_slot(&vals[i], own[i].type);
  }
  struct dml_flag_group g = {"--loss x: the x loss", own, NOWN};
  struct dml_cli cli = {.prog = "t", .flags = all, .n_flags = NALL, .max_positional = 0, .groups = &g, .n_groups = 1};
  const char *argv[] = {"t", "--loss_x_mar", "0.75", "--loss_x_on", "--loss_x_pairs", "0-1", "2-3", "--bs", "8"};
  fails += expect_true("method flags parse (prefix too)", dml_flags_parse(&cli, 9, (char **)argv) == DML_OK);
  struct dml_opts v = {all, NALL};
  fails += expect_scalar("view: float", dml_opts_float(&v, "loss_x_margin"), 0.75, 0, 0);
  fails += expect_true("view: int default, bool read as int, loop flag",
                       dml_opts_int(&v, "loss_x_k") == 3 && dml_opts_int(&v, "loss_x_on") == 1 && dml_opts_int(&v, "bs") == 8);
  fails += expect_true("view: str default", !strcmp(dml_opts_str(&v, "loss_x_mode"), "a"));
  const struct dml_strlist *pl = dml_opts_strlist(&v, "loss_x_pairs");
  fails += expect_true("view: strlist", pl->n == 2 && !strcmp(pl->v[1], "2-3"));
  fails += expect_true("view: floatlist default", dml_opts_floatlist(&v, "loss_x_w")->n == 1 &&
                                                      dml_opts_floatlist(&v, "loss_x_w")->v[0] == 1.5);
  fails += expect_true("find: exact names only", dml_opts_find(&v, "loss_x_mar") == NULL &&
                                                     dml_opts_find(&v, "loss_x_margin") != NULL);
  char *js = dml_flags_to_json(&cli);
  fails += expect_true("json holds the method flags", strstr(js, "\"loss_x_margin\":0.75") &&
                                                          strstr(js, "\"loss_x_pairs\":[\"0-1\",\"2-3\"]"));
  free(js);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  dml_flags_print_help(&cli, f);
  fclose(f);
  const char *head = strstr(buf, "\n--loss x: the x loss:\n");
  fails += expect_true("help: the group's heading after --help", head && strstr(buf, "--help, -h") < head);
  fails += expect_true("help: each method flag once, under its heading",
                       head && strstr(buf, "--loss_x_margin X") > head && strstr(head, "x: margin [0.2]") &&
                           strstr(buf, "--loss_x_k INT") > head);
  fails += expect_true("help: the other flags before it", strstr(buf, "--bs INT") && strstr(buf, "--bs INT") < head);
  free(buf);
  dml_flags_free(&cli);
  return fails;
}

int main(void) {
  int fails = 0;
  struct dml_cli cli;
  const char *a0[] = {"t"};
  fails += expect_true("defaults parse", parse(&cli, 1, a0) == DML_OK);
  fails += expect_true("default int", o.bs == 112);
  fails += expect_scalar("default float", o.lr, 1e-5, 0, 0);
  fails += expect_true("default list", o.metrics.n == 2 && !strcmp(o.metrics.v[1], "nmi"));
  fails += expect_true("default bool", o.log_online == 0);
  dml_flags_free(&cli);

  const char *a1[] = {"t", "--bs=64", "--lr", "0.5", "--source", "/x", "--evaluation_metrics", "f1", "nmi", "mAP_c",
                      "--log_online", "--tau", "50", "80"};
  fails += expect_true("explicit parse", parse(&cli, 14, a1) == DML_OK);
  fails += expect_true("--bs=64", o.bs == 64);
  fails += expect_scalar("--lr 0.5", o.lr, 0.5, 0, 0);
  fails += expect_true("prefix --source", !strcmp(o.source_path, "/x"));
  fails += expect_true("list of 3", o.metrics.n == 3 && !strcmp(o.metrics.v[2], "mAP_c"));
  fails += expect_true("bool switch", o.log_online == 1);
  const char *a1c[] = {"t", "--tau", "50", "pos"};
  dml_flags_free(&cli);
  fails += expect_true("list eats following tokens (argparse nargs='+')", parse(&cli, 4, a1c) == DML_ERR_ARG);
  dml_flags_free(&cli);

  const char *a1b[] = {"t", "--tau", "50", "80", "--bs", "8", "pos"};
  fails += expect_true("int list + positional", parse(&cli, 7, a1b) == DML_OK && o.tau.n == 2 && o.tau.v[1] == 80 &&
                                                    cli.n_positional == 1 && !strcmp(cli.positional[0], "pos"));
  fails += expect_true("given", dml_flags_given(&cli, "bs") && !dml_flags_given(&cli, "lr"));
  char *js = dml_flags_to_json(&cli);
  fails += expect_true("json", strstr(js, "\"bs\":8") && strstr(js, "\"tau\":[50,80]") && strstr(js, "\"loss\":\"margin\""));
  free(js);
  dml_flags_free(&cli);

  const char *a2[] = {"t", "--lrr", "1"};
  fails += expect_true("unknown flag is an error", parse(&cli, 3, a2) == DML_ERR_ARG);
  fails += expect_true("did you mean --lr", strstr(dml_error_message(), "did you mean --lr?") != NULL);
  dml_flags_free(&cli);
  const char *a3[] = {"t", "--bs", "many"};
  fails += expect_true("bad int", parse(&cli, 3, a3) == DML_ERR_ARG && strstr(dml_error_message(), "--bs expects an integer"));
  dml_flags_free(&cli);
  const char *a4[] = {"t", "--l", "x"};
  fails += expect_true("ambiguous prefix", parse(&cli, 3, a4) == DML_ERR_ARG && strstr(dml_error_message(), "ambiguous"));
  dml_flags_free(&cli);
  const char *a5[] = {"t", "--bs"};
  fails += expect_true("missing value", parse(&cli, 2, a5) == DML_ERR_ARG);
  dml_flags_free(&cli);
  fails += expect_true("edit distance", dml_edit_distance("kitten", "sitting") == 3);
  fails += view_and_groups();
  return test_report("common_flags", fails);
}
