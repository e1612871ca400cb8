// knn (CUDA) — exact k-nearest-neighbour search on the GPU for evaluation (--evaluate_on_gpu): Debian's faiss has no
// GPU build, so this is faiss's exhaustive search done with cuBLAS and one own selection kernel, with faiss's
// contract (eval/faiss_bridge.h: squared L2 distances ascending, or inner products descending).
//
// Queries go in tiles small enough that the tile's similarity block (tile × nb floats) stays under 256 MiB, so the
// SOP test set (60,502 × 128) never needs an N × N matrix. Per tile: S = Q·Xᵀ (cuBLAS, plain fp32, no TF32), then
// one block per query row computes faiss's distances (‖q‖² + ‖x‖² − 2⟨q, x⟩, clamped at 0, as faiss's BLAS path)
// and selects the k best exactly: a 4-pass radix select on order-preserving 32-bit keys finds the k-th key, a
// block-wide scan gathers the keys below it and then the ties at it by increasing index, and a bitonic sort orders
// the k by (distance, index). No atomics touch the result (the shared-memory histogram counts are integers), so the
// output is deterministic; neighbours equal faiss's up to exact distance ties, which faiss may order otherwise.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/launch.cuh"

enum { KNN_THREADS = 1024, KNN_KMAX = 2048 };

__device__ __forceinline__ unsigned fkey(float f) {  // order-preserving: a < b  <=>  fkey(a) < fkey(b); NaN last
  unsigned u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float funkey(unsigned k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

__global__ void row_norms2_kernel(float *out, const float *x, size_t n, int d) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float *r = x + i * d;
  float s = 0;
  for (int j = 0; j < d; j++) s += r[j] * r[j];
  out[i] = s;
}

// key of base row j for query row r (metric 0: squared L2 ascending; 1: inner product descending)
__device__ __forceinline__ unsigned key_at(const float *S, float qn, const float *xn, int j, int metric) {
  if (metric == 1) return fkey(-S[j]);
  float dis = qn + xn[j] - 2 * S[j];
  return fkey(dis < 0 ? 0.0f : dis);
}

// exclusive block-wide prefix count of `flag` in thread order; *total receives the block's count
__device__ unsigned block_scan(int flag, unsigned *warp_tot, unsigned *total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  unsigned ballot = __ballot_sync(0xffffffffu, flag);
  unsigned before = __popc(ballot & ((1u << lane) - 1u));
  if (lane == 0) warp_tot[warp] = __popc(ballot);
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned run = 0;
    for (int w = 0; w < nw; w++) {
      unsigned t = warp_tot[w];
      warp_tot[w] = run;
      run += t;
    }
    warp_tot[32] = run;
  }
  __syncthreads();
  unsigned pos = warp_tot[warp] + before;
  *total = warp_tot[32];
  __syncthreads();
  return pos;
}

__global__ void __launch_bounds__(KNN_THREADS) select_kernel(const float *S, const float *qn, const float *xn, int nb,
                                                             int k, int metric, int64_t *idx_out, float *dist_out) {
  __shared__ unsigned hist[256];
  __shared__ unsigned warp_tot[33];
  __shared__ unsigned s_prefix, s_mask, s_remaining;
  __shared__ unsigned keys[KNN_KMAX];
  __shared__ int ids[KNN_KMAX];
  const int row = blockIdx.x;
  const float *Sr = S + (size_t)row * nb;
  const float q2 = qn[row];
  if (threadIdx.x == 0) s_prefix = 0, s_mask = 0, s_remaining = k;
  // ---- radix select of the k-th smallest key, 8 bits a pass
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
    __syncthreads();
    const unsigned prefix = s_prefix, mask = s_mask;
    for (int j = threadIdx.x; j < nb; j += blockDim.x) {
      unsigned key = key_at(Sr, q2, xn, j, metric);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned cum = 0, rem = s_remaining;
      for (int b = 0; b < 256; b++) {
        if (cum + hist[b] >= rem) {
          s_prefix = prefix | ((unsigned)b << shift);
          s_mask = mask | (255u << shift);
          s_remaining = rem - cum;
          break;
        }
        cum += hist[b];
      }
    }
    __syncthreads();
  }
  const unsigned T = s_prefix, ties = s_remaining, below = (unsigned)k - ties;
  // ---- gather: keys < T in index order, then the first `ties` keys == T
  unsigned base = 0, total;
  for (int c = 0; c < nb; c += blockDim.x) {
    int j = c + threadIdx.x;
    unsigned key = j < nb ? key_at(Sr, q2, xn, j, metric) : 0xffffffffu;
    int flag = j < nb && key < T;
    unsigned pos = block_scan(flag, warp_tot, &total);
    if (flag) keys[base + pos] = key, ids[base + pos] = j;
    base += total;
  }
  base = 0;
  for (int c = 0; c < nb && base < ties; c += blockDim.x) {
    int j = c + threadIdx.x;
    int flag = j < nb && key_at(Sr, q2, xn, j, metric) == T;
    unsigned pos = block_scan(flag, warp_tot, &total);
    if (flag && base + pos < ties) keys[below + base + pos] = T, ids[below + base + pos] = j;
    base += total;
  }
  // ---- bitonic sort of the k by (key, index), padded to a power of two
  int P = 1;
  while (P < k) P <<= 1;
  for (int i = k + threadIdx.x; i < P; i += blockDim.x) keys[i] = 0xffffffffu, ids[i] = 0x7fffffff;
  __syncthreads();
  for (int size = 2; size <= P; size <<= 1)
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < P / 2; t += blockDim.x) {
        int lo = 2 * t - (t & (stride - 1)), hi = lo + stride;
        int up = (lo & size) == 0;
        unsigned ka = keys[lo], kb = keys[hi];
        int ia = ids[lo], ib = ids[hi];
        int a_after_b = ka > kb || (ka == kb && ia > ib);
        if (a_after_b == up) keys[lo] = kb, keys[hi] = ka, ids[lo] = ib, ids[hi] = ia;
      }
      __syncthreads();
    }
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    idx_out[(size_t)row * k + i] = ids[i];
    float v = funkey(keys[i]);
    if (dist_out) dist_out[(size_t)row * k + i] = metric == 1 ? -v : v;
  }
}

#define KNN_CUDA(x)                                                                        \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      snprintf(err, cap, "GPU kNN: %s: %s", #x, cudaGetErrorString(e_));                   \
      goto fail;                                                                           \
    }                                                                                      \
  } while (0)

extern "C" int dml_cuda_knn(const float *base, size_t nb, const float *q, size_t nq, size_t d, size_t k, int metric,
                            int64_t *idx, float *dist, char *err, size_t cap) {
  if (k < 1 || k > KNN_KMAX || k > nb || nb > 0x7fffffff || d > 0x7fffffff) {
    snprintf(err, cap, "GPU kNN: k = %zu must be in [1, min(%d, %zu)]", k, (int)KNN_KMAX, nb);
    return -1;
  }
  size_t tile = ((size_t)64 << 20) / nb; /* 256 MiB of similarities per tile */
  if (tile < 1) tile = 1;
  if (tile > nq) tile = nq;
  if (tile > 65535) tile = 65535;
  float *dX = NULL, *dQ = NULL, *dxn = NULL, *dqn = NULL, *dS = NULL, *dD = NULL;
  int64_t *dI = NULL;
  cublasHandle_t h = NULL;
  int rc = -1;
  const float one = 1, zero = 0;
  KNN_CUDA(cudaMalloc(&dX, nb * d * sizeof(float)));
  KNN_CUDA(cudaMalloc(&dxn, nb * sizeof(float)));
  KNN_CUDA(cudaMalloc(&dQ, tile * d * sizeof(float)));
  KNN_CUDA(cudaMalloc(&dqn, tile * sizeof(float)));
  KNN_CUDA(cudaMalloc(&dS, tile * nb * sizeof(float)));
  KNN_CUDA(cudaMalloc(&dI, tile * k * sizeof(int64_t)));
  KNN_CUDA(cudaMalloc(&dD, tile * k * sizeof(float)));
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS || cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) {
    snprintf(err, cap, "GPU kNN: cuBLAS could not be initialised");
    goto fail;
  }
  KNN_CUDA(cudaMemcpy(dX, base, nb * d * sizeof(float), cudaMemcpyHostToDevice));
  row_norms2_kernel<<<blocks_for(nb, 256), 256>>>(dxn, dX, nb, (int)d);
  LAUNCH_CHECK();
  for (size_t q0 = 0; q0 < nq; q0 += tile) {
    size_t m = nq - q0 < tile ? nq - q0 : tile;
    KNN_CUDA(cudaMemcpy(dQ, q + q0 * d, m * d * sizeof(float), cudaMemcpyHostToDevice));
    row_norms2_kernel<<<blocks_for(m, 256), 256>>>(dqn, dQ, m, (int)d);
    LAUNCH_CHECK();
    // column-major: S^T (nb x m) = X (row-major nb x d, i.e. col-major d x nb)^T · Q (col-major d x m)
    if (cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)nb, (int)m, (int)d, &one, dX, (int)d, dQ, (int)d, &zero, dS,
                    (int)nb) != CUBLAS_STATUS_SUCCESS) {
      snprintf(err, cap, "GPU kNN: cublasSgemm failed");
      goto fail;
    }
    select_kernel<<<(unsigned)m, KNN_THREADS>>>(dS, dqn, dxn, (int)nb, (int)k, metric, dI, dist ? dD : NULL);
    LAUNCH_CHECK();
    KNN_CUDA(cudaMemcpy(idx + q0 * k, dI, m * k * sizeof(int64_t), cudaMemcpyDeviceToHost));
    if (dist) KNN_CUDA(cudaMemcpy(dist + q0 * k, dD, m * k * sizeof(float), cudaMemcpyDeviceToHost));
  }
  rc = 0;
fail:
  if (h) cublasDestroy(h);
  cudaFree(dX), cudaFree(dQ), cudaFree(dxn), cudaFree(dqn), cudaFree(dS), cudaFree(dI), cudaFree(dD);
  return rc;
}
