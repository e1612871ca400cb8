/* test_cuda_ops — the CUDA backend's linear, ReLU and L2-normalisation (forward and backward) against the CPU
 * backend, the oracle (STYLE.md §16). Exits 77 (skipped) where no CUDA device is present, as on CI. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/rng.h"
#include "kernels/ops.h"
#include "tests/testutil.h"

enum { B = 37, C = 70, OC = 45 };

/* Run every op on backend be; outputs copied to host arrays. */
static void run_ops(struct dml_backend *be, const float *x, const float *w, const float *b, const float *dy, float *y,
                    float *dx, float *dw, float *db, float *r, float *dr, float *l, float *dl) {
  size_t nx = B * C, nw = OC * C, ny = B * OC;
  float *X = be->fn.alloc(be->ctx, nx * 4), *W = be->fn.alloc(be->ctx, nw * 4), *Bi = be->fn.alloc(be->ctx, OC * 4);
  float *Y = be->fn.alloc(be->ctx, ny * 4), *DY = be->fn.alloc(be->ctx, ny * 4), *DX = be->fn.alloc(be->ctx, nx * 4);
  float *DW = be->fn.alloc(be->ctx, nw * 4), *DB = be->fn.alloc(be->ctx, OC * 4), *R = be->fn.alloc(be->ctx, ny * 4);
  float *DR = be->fn.alloc(be->ctx, ny * 4), *L = be->fn.alloc(be->ctx, ny * 4), *N = be->fn.alloc(be->ctx, B * 4);
  float *DL = be->fn.alloc(be->ctx, ny * 4);
  be->fn.to_device(be->ctx, X, x, nx * 4);
  be->fn.to_device(be->ctx, W, w, nw * 4);
  be->fn.to_device(be->ctx, Bi, b, OC * 4);
  be->fn.to_device(be->ctx, DY, dy, ny * 4);
  be->fn.zero(be->ctx, DX, nx * 4);
  be->fn.zero(be->ctx, DW, nw * 4);
  be->fn.zero(be->ctx, DB, OC * 4);
  be->fn.zero(be->ctx, DR, ny * 4);
  be->fn.zero(be->ctx, DL, ny * 4);
  be->fn.linear_forward(be->ctx, Y, X, W, Bi, B, C, OC);
  be->fn.linear_backward(be->ctx, DX, DW, DB, DY, X, W, B, C, OC);
  be->fn.relu_forward(be->ctx, R, Y, ny);
  be->fn.relu_backward(be->ctx, DR, DY, R, ny);
  be->fn.l2norm_forward(be->ctx, L, N, Y, B, OC);
  be->fn.l2norm_backward(be->ctx, DL, DY, L, N, B, OC);
  be->fn.to_host(be->ctx, y, Y, ny * 4);
  be->fn.to_host(be->ctx, dx, DX, nx * 4);
  be->fn.to_host(be->ctx, dw, DW, nw * 4);
  be->fn.to_host(be->ctx, db, DB, OC * 4);
  be->fn.to_host(be->ctx, r, R, ny * 4);
  be->fn.to_host(be->ctx, dr, DR, ny * 4);
  be->fn.to_host(be->ctx, l, L, ny * 4);
  be->fn.to_host(be->ctx, dl, DL, ny * 4);
  float *all[] = {X, W, Bi, Y, DY, DX, DW, DB, R, DR, L, N, DL};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) be->fn.release(be->ctx, all[i]);
}

int main(void) {
  if (dml_cuda_device_count() == 0) {
    printf("no CUDA device: skipped\n");
    return 77;
  }
  struct dml_backend *cpu = dml_backend_cpu_new(), *gpu = dml_backend_cuda_new();
  static float x[B * C], w[OC * C], b[OC], dy[B * OC];
  struct dml_rng r = dml_rng_init(11, DML_RNG_TEST, 0, 0);
  for (int i = 0; i < B * C; i++) x[i] = (float)dml_rng_normal(&r);
  for (int i = 0; i < OC * C; i++) w[i] = (float)dml_rng_normal(&r) * 0.1f;
  for (int i = 0; i < OC; i++) b[i] = (float)dml_rng_normal(&r);
  for (int i = 0; i < B * OC; i++) dy[i] = (float)dml_rng_normal(&r);
  static float o[2][8][B * C + OC * C];
  struct dml_backend *be[2] = {cpu, gpu};
  for (int k = 0; k < 2; k++)
    run_ops(be[k], x, w, b, dy, o[k][0], o[k][1], o[k][2], o[k][3], o[k][4], o[k][5], o[k][6], o[k][7]);
  const char *names[8] = {"linear y", "linear dx", "linear dw", "linear db", "relu y", "relu dx", "l2norm y", "l2norm dx"};
  size_t sizes[8] = {B * OC, B * C, OC * C, OC, B * OC, B * OC, B * OC, B * OC};
  int f = 0;
  /* cuBLAS may use TF32 or another summation order: 1e-4 relative on sums of up to 70 products */
  for (int i = 0; i < 8; i++) f += expect_close_f32(names[i], o[1][i], o[0][i], sizes[i], 1e-4, 1e-3);
  dml_backend_free(cpu);
  dml_backend_free(gpu);
  return test_report("cuda_ops", f);
}
