/* sgd — torch.optim.SGD with momentum, as the reference builds it (`torch.optim.SGD(to_optim, momentum=0.9)`:
 * dampening 0, no Nesterov; each parameter group brings its lr and weight_decay, the criterion groups none ⇒ 0),
 * over host parameter blocks laid out by the parameter table. Per element, in float32 and torch's order:
 *   d = g + wd·w (only when wd ≠ 0);  buf = d on the parameter's first step, else buf = momentum·buf + (1 − dampening)·d;
 *   w = w − lr·buf.
 * torch creates a parameter's momentum buffer at its first step with a gradient: steps[i] == 0 marks "no buffer
 * yet", and a parameter marked in `frozen` (no gradient: a frozen backbone during --warmup) is skipped, its count kept.
 * Element-wise in index order: deterministic whatever the thread count. */
#include "train/train.h"

void dml_sgd_step(const struct dml_sgd *s, struct dml_params *ps, float *buf, double weight_decay, const double *lr,
                  const unsigned char *frozen, long *steps) {
  const float mom = (float)s->momentum, keep = (float)(1 - s->dampening);
  /* as adam.c: one parallel region, each parameter's elements split statically (element-wise: same bits) */
#pragma omp parallel
  for (int i = 0; i < ps->n; i++) {
    if (frozen && frozen[i]) continue;
    struct dml_param *p = &ps->p[i];
    int first = steps[i] == 0;
    const float wd = p->decay ? (float)weight_decay : 0.0f, alpha = (float)-lr[i];
    float *w = p->t.data, *g = p->t.grad, *b = buf + p->offset;
#pragma omp for schedule(static) nowait
    for (size_t k = 0; k < p->n; k++) {
      float d = g[k];
      if (wd != 0.0f) d += wd * w[k];
      if (mom != 0.0f) {
        if (first) {
          b[k] = d;
        } else {
          float t = mom * b[k];
          b[k] = t + keep * d;
        }
        d = b[k];
      }
      w[k] += alpha * d;
    }
  }
  for (int i = 0; i < ps->n; i++)
    if (!(frozen && frozen[i])) steps[i]++;
}
