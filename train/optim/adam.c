/* adam — torch.optim.Adam (β = 0.9, 0.999, eps 1e-8; L2 weight decay added to the gradient, not decoupled),
 * over host parameter blocks laid out by the parameter table. Each parameter has its own learning rate and its
 * own step count, as torch keeps per-parameter state: a parameter that gets no gradient (a frozen backbone
 * during --warmup, marked in `frozen`) is not stepped and its count does not advance. Element-wise in index order: deterministic. */
#include <math.h>

#include "train/train.h"

void dml_adam_step(const struct dml_adam *a, struct dml_params *ps, float *m, float *v, double weight_decay,
                   const double *lr, const unsigned char *frozen, long *steps) {
  /* one parallel region over all parameters; each parameter's elements split statically across the threads (no
   * reduction: any split gives the same bits); `nowait`, as parameters are independent */
#pragma omp parallel
  for (int i = 0; i < ps->n; i++) {
    if (frozen && frozen[i]) continue;
    struct dml_param *p = &ps->p[i];
    long t = steps[i] + 1;
    double bc1 = 1 - pow(a->beta1, (double)t), sbc2 = sqrt(1 - pow(a->beta2, (double)t));
    double wd = p->decay ? weight_decay : 0;
    float *w = p->t.data, *g = p->t.grad, *mi = m + p->offset, *vi = v + p->offset;
    float step = (float)(lr[i] / bc1);
    const float b1 = (float)a->beta1, c1 = (float)(1 - a->beta1), b2 = (float)a->beta2, c2 = (float)(1 - a->beta2);
    const float s2 = (float)sbc2, eps = (float)a->eps, fwd = (float)wd;
#pragma omp for schedule(static) nowait
    for (size_t k = 0; k < p->n; k++) {
      float gk = g[k] + fwd * w[k];
      mi[k] = b1 * mi[k] + c1 * gk;
      vi[k] = b2 * vi[k] + c2 * gk * gk;
      float denom = sqrtf(vi[k]) / s2 + eps; /* vectorised: the file is built with -fno-math-errno (v ≥ 0) */
      w[k] -= step * mi[k] / denom;
    }
  }
  for (int i = 0; i < ps->n; i++)
    if (!(frozen && frozen[i])) steps[i]++;
}
