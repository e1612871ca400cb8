/* pool (CPU) — max / average pooling over windows and global pooling, plain C with OpenMP over (b, c) planes.
 * Max pooling ignores padded positions (torch pads with −inf) and keeps the first maximum in row-major window
 * order; its argmax (index into the input plane) is saved for the backward. Average pooling divides by KH·KW
 * (count_include_pad=True, ceil_mode=False: every window lies inside the padded input). Every output element
 * is owned by one thread and every input gradient plane by one thread: results do not depend on thread count. */
#include <float.h>
#include <math.h>

#include "kernels/cpu/cpu.h"

/* one (b, c) plane; window bounds clipped once per output, no per-element bounds test */
DML_CPU_CLONES static void pool_plane(float *restrict yp, int32_t *restrict ip, const float *restrict xp,
                                      const struct dml_conv_shape *s, int kind) {
  const int H = s->H, W = s->W, OH = s->OH, OW = s->OW;
  for (int oh = 0; oh < OH; oh++) {
    int h0 = oh * s->SH - s->PH, ha = h0 < 0 ? 0 : h0, hb = h0 + s->KH > H ? H : h0 + s->KH;
    /* torch's divisor: the window clipped to the padded input (count_include_pad) */
    int hp = (h0 + s->KH < H + s->PH ? h0 + s->KH : H + s->PH) - h0;
    for (int ow = 0; ow < OW; ow++) {
      int w0 = ow * s->SW - s->PW, wa = w0 < 0 ? 0 : w0, wb = w0 + s->KW > W ? W : w0 + s->KW;
      int wp = (w0 + s->KW < W + s->PW ? w0 + s->KW : W + s->PW) - w0;

      if (kind == DML_POOL_MAX) {
        float m = -INFINITY;
        int32_t am = -1;
        for (int h = ha; h < hb; h++)
          for (int w = wa; w < wb; w++) {
            float v = xp[h * W + w];
            if (v > m || am < 0) {
              m = v;
              am = h * W + w;
            }
          }
        yp[oh * OW + ow] = m;
        ip[oh * OW + ow] = am;
      } else {
        double acc = 0;
        for (int h = ha; h < hb; h++)
          for (int w = wa; w < wb; w++) acc += xp[h * W + w];
        yp[oh * OW + ow] = (float)(acc / (hp * wp));
      }
    }
  }
}

void dml_cpu_pool2d_forward(void *ctx, float *y, int32_t *idx, const float *x, const struct dml_conv_shape *s, int kind) {
  (void)ctx;
  const int planes = s->B * s->C;
  const size_t in_plane = (size_t)s->H * s->W, out_plane = (size_t)s->OH * s->OW;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; p++)
    pool_plane(y + p * out_plane, idx ? idx + p * out_plane : NULL, x + p * in_plane, s, kind);
}

void dml_cpu_pool2d_backward(void *ctx, float *dx, const float *dy, const int32_t *idx, const struct dml_conv_shape *s,
                             int kind) {
  (void)ctx;
  const int planes = s->B * s->C, H = s->H, W = s->W, OH = s->OH, OW = s->OW;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; p++) {
    float *dxp = dx + (size_t)p * H * W;
    const float *dyp = dy + (size_t)p * OH * OW;
    if (kind == DML_POOL_MAX) {
      const int32_t *ip = idx + (size_t)p * OH * OW;
      for (int o = 0; o < OH * OW; o++)
        if (ip[o] >= 0) dxp[ip[o]] += dyp[o];
    } else {
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          int h0 = oh * s->SH - s->PH, w0 = ow * s->SW - s->PW;
          int hp = (h0 + s->KH < H + s->PH ? h0 + s->KH : H + s->PH) - h0;
          int wp = (w0 + s->KW < W + s->PW ? w0 + s->KW : W + s->PW) - w0;
          float g = dyp[oh * OW + ow] / (float)(hp * wp);
          for (int kh = 0; kh < s->KH; kh++) {
            int h = h0 + kh;
            if (h < 0 || h >= H) continue;
            for (int kw = 0; kw < s->KW; kw++) {
              int w = w0 + kw;
              if (w >= 0 && w < W) dxp[h * W + w] += g;
            }
          }
        }
    }
  }
}

void dml_cpu_global_pool_forward(void *ctx, float *y, int32_t *idx, const float *x, int B, int C, int HW, int kind) {
  (void)ctx;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < B * C; p++) {
    const float *xp = x + (size_t)p * HW;
    if (kind == DML_POOL_MAX) {
      float m = xp[0];
      int32_t am = 0;
      for (int i = 1; i < HW; i++)
        if (xp[i] > m) {
          m = xp[i];
          am = i;
        }
      y[p] = m;
      idx[p] = am;
    } else {
      double acc = 0;
      for (int i = 0; i < HW; i++) acc += xp[i];
      y[p] = (float)(acc / HW);
    }
  }
}

void dml_cpu_global_pool_backward(void *ctx, float *dx, const float *dy, const int32_t *idx, int B, int C, int HW,
                                  int kind) {
  (void)ctx;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < B * C; p++) {
    float *dxp = dx + (size_t)p * HW;
    if (kind == DML_POOL_MAX) {
      dxp[idx[p]] += dy[p];
    } else {
      float g = dy[p] / (float)HW;
      for (int i = 0; i < HW; i++) dxp[i] += g;
    }
  }
}
