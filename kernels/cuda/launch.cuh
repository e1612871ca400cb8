// launch — what every .cu file of the CUDA backend shares (internal to kernels/cuda): the launch check that follows
// every kernel launch (STYLE.md §11) and the grid size for one thread per element.
#ifndef DML_KERNELS_CUDA_LAUNCH_CUH
#define DML_KERNELS_CUDA_LAUNCH_CUH
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#define LAUNCH_CHECK()                                                                                  \
  do {                                                                                                  \
    cudaError_t e_ = cudaGetLastError();                                                                \
    if (e_ != cudaSuccess) {                                                                            \
      fprintf(stderr, "%s:%d: CUDA launch failed: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));   \
      abort();                                                                                          \
    }                                                                                                   \
  } while (0)

static inline unsigned blocks_for(size_t n, unsigned t) { return (unsigned)((n + t - 1) / t); }
#endif
