/* wandb_keys: the reference key scheme both ways (hand cases from spec A4), path-safe names, the NaN-tolerant
 * JSON helpers, netrc lookup and config wrapping. No network. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/wandb/wandb-impl.h"
#include "tests/testutil.h"

static int check_fwd(const char *split, const char *key, const char *want) {
  char *got = dml_wandb_reference_key(split, key);
  int ok = !strcmp(got, want);
  if (!ok) fprintf(stderr, "reference_key(%s,%s) = '%s', want '%s'\n", split, key, got, want);
  free(got);
  return expect_true(want, ok);
}

static int check_inv(const char *ref, const char *split, const char *key, int train) {
  char *s, *k;
  int t;
  int r = dml_wandb_parse_key(ref, &s, &k, &t);
  int ok = r == 1 && !strcmp(s, split) && !strcmp(k, key) && t == train;
  if (!ok) fprintf(stderr, "parse_key(%s) = %d '%s' '%s' %d\n", ref, r, s ? s : "", k ? k : "", t);
  free(s);
  free(k);
  return expect_true(ref, ok);
}

int main(void) {
  int fails = 0;
  /* spec A4 examples */
  fails += check_fwd("test", "e_recall@1", "Test: discriminative_e_recall: e_recall@1");
  fails += check_fwd("test", "nmi", "Test: discriminative_nmi: nmi");
  fails += check_fwd("test", "f1", "Test: discriminative_f1: f1");
  fails += check_fwd("test", "mAP_1000", "Test: discriminative_mAP_1000: mAP_1000");
  fails += check_fwd("val", "dists@intra_over_inter", "Val: discriminative_dists: dists@intra_over_inter");
  fails += check_fwd("train", "rho_spectrum@2", "Train: discriminative_rho_spectrum: rho_spectrum@2");
  fails += check_fwd("train", "loss", "Train: loss");
  fails += check_fwd("train", "seconds", "Train: time");
  fails += check_fwd("other", "Model Grad: L2: Grad L2", "Model Grad: L2: Grad L2");
  fails += check_inv("Test: discriminative_e_recall: e_recall@1", "test", "e_recall@1", 0);
  fails += check_inv("Val: discriminative_dists: dists@intra_over_inter", "val", "dists@intra_over_inter", 0);
  fails += check_inv("Train: discriminative_rho_spectrum: rho_spectrum@-1", "train", "rho_spectrum@-1", 0);
  fails += check_inv("Train: loss", "train", "loss", 1);
  fails += check_inv("Train: time", "train", "seconds", 1);
  fails += check_inv("Train: epochs", "other", "Train: epochs", 0);
  fails += check_inv("Model Grad: L2: Grad L2", "other", "Model Grad: L2: Grad L2", 0);
  fails += check_inv("Test: discriminative_nmi: e_recall@1", "other", "Test: discriminative_nmi: e_recall@1", 0);
  fails += check_inv("accuracy", "other", "accuracy", 0);
  char *s, *k;
  int t;
  fails += expect_true("_step is internal", dml_wandb_parse_key("_step", &s, &k, &t) == 0);

  /* path safety */
  const char *hostile[] = {"../../x", "..", ".", "", "a/b", "/etc/passwd", "x\\..\\y", "ok_name-1.5@2"};
  const char *want[] = {"_._.._x", "_.", "_", "_", "a_b", "_etc_passwd", "x_.._y", "ok_name-1.5@2"};
  for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
    char *n = dml_wandb_safe_name(hostile[i]);
    int ok = !strcmp(n, want[i]) && !strchr(n, '/') && strcmp(n, "..") && strcmp(n, ".");
    if (!ok) fprintf(stderr, "safe_name(%s) = %s\n", hostile[i], n);
    fails += expect_true("safe name", ok);
    free(n);
  }

  /* NaN / Infinity tokens, also next to strings that contain the same letters */
  json_t *j = dml_wj_loads("{\"a\": NaN, \"b\": [Infinity, -Infinity, 1.5], \"NaN\": \"NaN Infinity\"}", NULL);
  fails += expect_true("NaN JSON parses", json_is_object(j));
  double v[4] = {0};
  dml_wj_number(json_object_get(j, "a"), &v[0]);
  dml_wj_number(json_array_get(json_object_get(j, "b"), 0), &v[1]);
  dml_wj_number(json_array_get(json_object_get(j, "b"), 1), &v[2]);
  dml_wj_number(json_array_get(json_object_get(j, "b"), 2), &v[3]);
  fails += expect_true("NaN", isnan(v[0]));
  fails += expect_true("+Inf", isinf(v[1]) && v[1] > 0);
  fails += expect_true("-Inf", isinf(v[2]) && v[2] < 0);
  fails += expect_scalar("1.5", v[3], 1.5, 0, 0);
  fails += expect_true("string kept", !strcmp(json_string_value(json_object_get(j, "NaN")), "NaN Infinity"));
  char *d = dml_wj_dumps(j);
  fails += expect_true("dump restores tokens",
                       !strcmp(d, "{\"a\":NaN,\"b\":[Infinity,-Infinity,1.5],\"NaN\":\"NaN Infinity\"}"));
  if (strcmp(d, "{\"a\":NaN,\"b\":[Infinity,-Infinity,1.5],\"NaN\":\"NaN Infinity\"}")) fprintf(stderr, "dump: %s\n", d);
  free(d);
  json_decref(j);

  /* netrc: machine match, default fallback, login/password order */
  char *dir = test_tmpdir("wandb_keys");
  char *nrc = dml_strfmt("%s/netrc", dir);
  dml_wandb_write_file(nrc, "machine other.example\n  login user\n  password nope\n"
                            "machine api.wandb.ai login user password KEYabc_123\ndefault login x password dflt\n");
  char *pw = dml_wandb_netrc_password(nrc, "api.wandb.ai");
  fails += expect_true("netrc entry", pw && !strcmp(pw, "KEYabc_123"));
  free(pw);
  pw = dml_wandb_netrc_password(nrc, "unknown.host");
  fails += expect_true("netrc default", pw && !strcmp(pw, "dflt"));
  free(pw);
  pw = dml_wandb_netrc_password("/nonexistent/netrc", "api.wandb.ai");
  fails += expect_true("no netrc", pw == NULL);

  /* key lookup: env wins; nothing found -> DML_ERR_AUTH naming where it looked */
  struct dml_wandb_client c;
  setenv("WANDB_BASE_URL", "https://api.wandb.ai/", 1);
  unsetenv("WANDB_API_KEY");
  setenv("NETRC", nrc, 1);
  fails += expect_true("key from netrc", dml_wandb_client_init(&c) == DML_OK && !strcmp(c.key, "KEYabc_123") &&
                                             !strcmp(c.base_url, "https://api.wandb.ai"));
  dml_wandb_client_free(&c);
  setenv("WANDB_API_KEY", "envkey_0123456789", 1);
  fails += expect_true("env overrides netrc", dml_wandb_client_init(&c) == DML_OK && !strcmp(c.key, "envkey_0123456789"));
  dml_wandb_client_free(&c);
  unsetenv("WANDB_API_KEY");
  setenv("WANDB_BASE_URL", "http://127.0.0.1:9/", 1);
  setenv("NETRC", "/nonexistent/netrc", 1);
  dml_status st = dml_wandb_client_init(&c);
  fprintf(stderr, "no key: %s\n", dml_error_message());
  fails += expect_true("no key -> AUTH", st == DML_ERR_AUTH && strstr(dml_error_message(), "WANDB_API_KEY") &&
                                             strstr(dml_error_message(), "/nonexistent/netrc") && strstr(dml_error_message(), "127.0.0.1"));

  /* config wrapping */
  char *w = dml_wandb_wrap_config("{\"lr\": 1e-05, \"loss\": \"margin\", \"tau\": [30, 55]}");
  fails += expect_true("wrap", w && !strcmp(w, "{\"lr\":{\"value\":1.0000000000000001e-5},\"loss\":{\"value\":\"margin\"},\"tau\":{\"value\":[30,55]}}"));
  if (w) fprintf(stderr, "wrapped: %s\n", w);
  free(w);
  fails += expect_true("wrap rejects non-object", dml_wandb_wrap_config("[1]") == NULL);
  /* row builder: escaped keys, NaN/Infinity tokens, 17 digits */
  char *row = NULL;
  row = dml_wandb_row_add(row, "test", "e_recall@1", 0.1);
  row = dml_wandb_row_add(row, "test", "nmi", NAN);
  row = dml_wandb_row_add(row, "other", "quote\"key", -INFINITY);
  const char *want_row = "{\"Test: discriminative_e_recall: e_recall@1\": 0.10000000000000001, "
                         "\"Test: discriminative_nmi: nmi\": NaN, \"quote\\\"key\": -Infinity}";
  fails += expect_true("row builder", !strcmp(row, want_row));
  if (strcmp(row, want_row)) fprintf(stderr, "row: %s\n", row);
  json_t *rj = dml_wj_loads(row, NULL);
  fails += expect_true("row parses", json_is_object(rj) && json_object_size(rj) == 3);
  json_decref(rj);
  free(row);
  free(nrc);
  free(dir);
  return test_report("wandb_keys", fails);
}
