/* progress — progress reporting for long work.
 *
 * On a terminal: one live line "label [#####.....] 123/456  78.9 it/s  ETA 0:42" redrawn at most
 * 10 times a second. Otherwise (logs, CI): a plain line every `every_s` seconds (default 10) and one
 * at the end. DML_PROGRESS=0 silences it, DML_PROGRESS=plain forces plain lines.
 *
 *   struct dml_progress p;
 *   dml_progress_init(&p, "epoch 3", n_steps, "img", stderr);
 *   for (...) dml_progress_update(&p, done, "loss 0.31");
 *   dml_progress_finish(&p, "loss 0.29");
 */
#ifndef DML_PROGRESS_H
#define DML_PROGRESS_H
#include <stdio.h>
#include <stddef.h>

struct dml_progress {
  FILE *out;
  char label[96];
  char unit[16];
  size_t total, done;
  double t0, t_last_draw;
  double every_s;
  int mode; /* 0 silent, 1 plain lines, 2 live terminal line */
  size_t unit_scale; /* items per update unit for the rate, default 1 */
};

void dml_progress_init(struct dml_progress *p, const char *label, size_t total, const char *unit, FILE *out);
void dml_progress_update(struct dml_progress *p, size_t done, const char *suffix);
void dml_progress_finish(struct dml_progress *p, const char *suffix);
/* Seconds on CLOCK_MONOTONIC. */
double dml_now(void);
#endif
