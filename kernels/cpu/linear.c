/* linear (CPU) — fully connected layer on OpenBLAS sgemm.
 * Determinism: OpenBLAS partitions a GEMM by its thread count, and the rounding of an output element depends on
 * the partition (seen here: losses differed in the 7th digit between 1 and 2 threads). So every GEMM is split
 * into fixed blocks of output rows (DML_GEMM_BLOCK, independent of the thread count), each block is one
 * single-threaded sgemm inside an OpenMP loop (OpenBLAS's OpenMP build runs serially inside a parallel region),
 * and every output element is computed by the same kernel call whatever the number of threads. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "kernels/cpu/cpu.h"

#define DML_GEMM_BLOCK 32

/* C (M,N) = alpha·op(A)·op(B) + beta·C, row-major, split over M in fixed blocks. op(A) rows are taken from A
 * with the layout implied by transA: A is (M,K) when !transA, (K,M) when transA. */
static void gemm_rows(int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      float beta, float *C, int ldc) {
  int blocks = (M + DML_GEMM_BLOCK - 1) / DML_GEMM_BLOCK;
#pragma omp parallel for schedule(static) /* even for one block: OpenBLAS runs serially inside */
  for (int blk = 0; blk < blocks; blk++) {
    int m0 = blk * DML_GEMM_BLOCK, mb = M - m0 < DML_GEMM_BLOCK ? M - m0 : DML_GEMM_BLOCK;
    const float *a = transA ? A + m0 : A + (size_t)m0 * lda;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, mb, N, K, 1.0f,
                a, lda, B, ldb, beta, C + (size_t)m0 * ldc, ldc);
  }
}

void dml_cpu_linear_forward(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C, int OC) {
  // y (B,OC) = x (B,C) · wᵀ, w (OC,C)
  if (b)
    for (int i = 0; i < B; i++) memcpy(y + (size_t)i * OC, b, (size_t)OC * sizeof *y);
  gemm_rows(0, 1, B, OC, C, x, C, w, C, b ? 1.0f : 0.0f, y, OC);
}

void dml_cpu_linear_backward(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int B, int C, int OC) {
  if (dx)  // dx (B,C) += dy (B,OC) · w (OC,C)
    gemm_rows(0, 0, B, C, OC, dy, OC, w, C, 1.0f, dx, C);
  // dw (OC,C) += dyᵀ (OC,B) · x (B,C): rows of dw are columns of dy
  gemm_rows(1, 0, OC, C, B, dy, OC, x, C, 1.0f, dw, C);
  if (db)
    for (int o = 0; o < OC; o++) {
      float s = 0;
      for (int i = 0; i < B; i++) s += dy[(size_t)i * OC + o];
      db[o] += s;
    }
}
