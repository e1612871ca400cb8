/* sweep-impl.h — what the sweep's files share and nobody else needs. */
#ifndef DML_SWEEP_IMPL_H
#define DML_SWEEP_IMPL_H
#include "analysis/sweep/sweep.h"

dml_status sweep_mkdirs(const struct dml_sweep *s);
char *sweep_lock_path(const struct dml_sweep *s, size_t i);
int sweep_read_exit(const struct dml_sweep *s, size_t i);
void sweep_write_exit(const struct dml_sweep *s, size_t i, int rc);
/* probe_lock = 0: the caller holds the run's lock itself (a probe would see its own lock). */
void sweep_state_of(const struct dml_sweep *s, size_t i, int probe_lock, struct dml_sweep_state *out);
/* Run argv with its stdout captured into out (NUL-terminated, truncated to cap); stderr inherited. */
int sweep_capture(char *const argv[], char *out, size_t cap);
/* Fork, exec_run in the child; the parent waits, writes the exit file and returns the exit status. */
int sweep_run_one(const struct dml_sweep *s, size_t i, const char *dml_train, int kernels);
/* Print one argv word so that a shell would read it back as it is (display only: nothing here runs a shell). */
void sweep_print_word(FILE *f, const char *w);
/* Exit status of a waitpid status word: the code, or 128 + signal. */
int sweep_wstatus(int status);
#endif
