/* harness — process and server helpers for the wandb_ tests: start the fake W&B server on an ephemeral
 * loopback port, talk to its /_control endpoint, run a program with a timeout, and scan files for a string. */
#ifndef DML_TEST_WANDB_HARNESS_H
#define DML_TEST_WANDB_HARNESS_H
#include <sys/types.h>

struct fake {
  pid_t pid;
  int port;
  int stdin_fd;   /* closing it makes the server exit */
  char url[64];
};

/* argv: the server's arguments after the program path, NULL-terminated. Sets WANDB_BASE_URL. 0 on success. */
int fake_start(struct fake *f, const char *server_bin, const char *const *args);
void fake_stop(struct fake *f);
/* POST /_control; returns the answer (heap) or NULL. */
char *fake_control(const struct fake *f, const char *json);
/* Run argv[0] with argv; stdout/stderr captured into heap strings (may be NULL to drop). Returns the exit
 * status, or -1 when it ran past timeout_s (then it was killed) or could not start. */
int run_prog(char *const *argv, double timeout_s, char **out, char **err);
/* Number of regular files under dir (recursive) whose bytes contain needle; *n_files = files scanned. */
int files_containing(const char *dir, const char *needle, int *n_files);
#endif
