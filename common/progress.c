/* progress — live bar on a terminal, plain periodic lines elsewhere. See progress.h. */
#include "common/progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double dml_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void dml_progress_init(struct dml_progress *p, const char *label, size_t total, const char *unit, FILE *out) {
  memset(p, 0, sizeof *p);
  p->out = out;
  snprintf(p->label, sizeof p->label, "%s", label ? label : "");
  snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "it");
  p->total = total;
  p->t0 = p->t_last_draw = dml_now();
  p->every_s = 10;
  p->unit_scale = 1;
  const char *env = getenv("DML_PROGRESS");
  if (env && !strcmp(env, "0")) p->mode = 0;
  else if (env && !strcmp(env, "plain")) p->mode = 1;
  else p->mode = (out && isatty(fileno(out))) ? 2 : 1;
}

static void fmt_time(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e7) { snprintf(buf, n, "--:--"); return; }
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(struct dml_progress *p, const char *suffix, int final) {
  double el = dml_now() - p->t0;
  double rate = el > 0 ? (double)p->done * p->unit_scale / el : 0;
  char eta[32], elapsed[32];
  fmt_time(p->total && rate > 0 ? (double)(p->total - p->done) * p->unit_scale / rate : -1, eta, sizeof eta);
  fmt_time(el, elapsed, sizeof elapsed);
  if (p->mode == 2) {
    char bar[31];
    int w = 30, fill = p->total ? (int)((double)p->done / p->total * w) : 0;
    for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
    bar[w] = 0;
    fprintf(p->out, "\r\033[K%s [%s] %zu/%zu %.1f %s/s %s %s %s", p->label, bar, p->done, p->total, rate, p->unit,
            final ? "in" : "ETA", final ? elapsed : eta, suffix ? suffix : "");
    if (final) fputc('\n', p->out);
  } else {
    fprintf(p->out, "%s: %zu/%zu %.1f %s/s %s %s%s%s\n", p->label, p->done, p->total, rate, p->unit,
            final ? "done in" : "ETA", final ? elapsed : eta, suffix && *suffix ? " " : "", suffix ? suffix : "");
  }
  fflush(p->out);
}

void dml_progress_update(struct dml_progress *p, size_t done, const char *suffix) {
  p->done = done;
  if (p->mode == 0) return;
  double now = dml_now();
  double gap = p->mode == 2 ? 0.1 : p->every_s;
  if (now - p->t_last_draw < gap) return;
  p->t_last_draw = now;
  draw(p, suffix, 0);
}

void dml_progress_finish(struct dml_progress *p, const char *suffix) {
  if (p->mode == 0) return;
  draw(p, suffix, 1);
}
