// faiss_bridge — see faiss_bridge.h. C++ stays in this file; exceptions become return codes.
#include "eval/faiss_bridge.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

// faiss 1.7 declares the index type inside Index; newer releases move it to the namespace
using idx_t = faiss::Index::idx_t;

// GPU indices: only when the faiss found at build time ships them. Debian 12's libfaiss (1.7.3) is CPU-only, so
// there is no GPU path to build or test here; dml_faiss_has_gpu() reports it and every search runs on the CPU.
#if defined(__has_include)
#if __has_include(<faiss/gpu/GpuIndexFlat.h>)
#define DML_FAISS_GPU_HEADERS 1
#endif
#endif
#ifndef DML_FAISS_GPU_HEADERS
#define DML_FAISS_GPU_HEADERS 0
#endif

extern "C" int dml_faiss_has_gpu(void) { return DML_FAISS_GPU_HEADERS; }

static int fail(const std::exception &e, char *err, size_t cap) {
  if (err && cap) std::snprintf(err, cap, "faiss: %s", e.what());
  return -1;
}

static std::unique_ptr<faiss::IndexFlat> make_index(size_t d, int metric) {
  if (metric == 1) return std::unique_ptr<faiss::IndexFlat>(new faiss::IndexFlatIP((idx_t)d));
  return std::unique_ptr<faiss::IndexFlat>(new faiss::IndexFlatL2((idx_t)d));
}

extern "C" int dml_faiss_knn(const float *base, size_t nb, const float *q, size_t nq, size_t d, size_t k, int metric,
                             int64_t *idx, float *dist, char *err, size_t cap) {
  try {
    auto index = make_index(d, metric);
    index->add((idx_t)nb, base);
    std::vector<float> scratch;
    if (!dist) {
      scratch.resize(nq * k);
      dist = scratch.data();
    }
    index->search((idx_t)nq, q, (idx_t)k, dist, reinterpret_cast<idx_t *>(idx));
    return 0;
  } catch (const std::exception &e) {
    return fail(e, err, cap);
  }
}

extern "C" int dml_faiss_kmeans(const float *x, size_t n, size_t d, size_t k, float *centroids, int64_t *assign,
                                char *err, size_t cap) {
  try {
    faiss::ClusteringParameters cp;
    cp.niter = 20;
    cp.min_points_per_centroid = 1;
    cp.max_points_per_centroid = 1000000000;
    cp.seed = 1234;
    cp.nredo = 1;
    cp.verbose = false;
    faiss::Clustering clus((int)d, (int)k, cp);
    faiss::IndexFlatL2 index((idx_t)d);
    clus.train((idx_t)n, x, index);
    std::copy(clus.centroids.begin(), clus.centroids.end(), centroids);
    if (assign) {
      std::vector<float> dd(n);
      index.search((idx_t)n, x, 1, dd.data(), reinterpret_cast<idx_t *>(assign));
    }
    return 0;
  } catch (const std::exception &e) {
    return fail(e, err, cap);
  }
}

extern "C" int dml_faiss_assign(const float *centroids, size_t k, const float *x, size_t n, size_t d, int metric,
                                int64_t *assign, char *err, size_t cap) {
  return dml_faiss_knn(centroids, k, x, n, d, 1, metric, assign, nullptr, err, cap);
}
