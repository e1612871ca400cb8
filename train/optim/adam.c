/* adam — torch.optim.Adam (β = 0.9, 0.999, eps 1e-8; L2 weight decay added to the gradient, not decoupled),
 * over host parameter blocks laid out by the parameter table. Per-group learning rates (group 0 network,
 * group 1 criterion). Element-wise in index order: deterministic. */
#include <math.h>

#include "train/train.h"

void dml_adam_step(struct dml_adam *a, struct dml_params *ps, float *m, float *v, double weight_decay) {
  a->t++;
  double bc1 = 1 - pow(a->beta1, (double)a->t), bc2 = 1 - pow(a->beta2, (double)a->t);
  double sbc2 = sqrt(bc2);
  for (int i = 0; i < ps->n; i++) {
    struct dml_param *p = &ps->p[i];
    double lr = a->lr[p->group], wd = p->decay ? weight_decay : 0;
    float *w = p->t.data, *g = p->t.grad, *mi = m + p->offset, *vi = v + p->offset;
    float step = (float)(lr / bc1);
    for (size_t k = 0; k < p->n; k++) {
      float gk = g[k] + (float)wd * w[k];
      mi[k] = (float)a->beta1 * mi[k] + (float)(1 - a->beta1) * gk;
      vi[k] = (float)a->beta2 * vi[k] + (float)(1 - a->beta2) * gk * gk;
      float denom = sqrtf(vi[k]) / (float)sbc2 + (float)a->eps;
      w[k] -= step * mi[k] / denom;
    }
  }
}
