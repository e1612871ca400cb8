/* cpu — declarations shared by the CPU backend's op files (internal to kernels/cpu). The backend context is a
 * struct dml_cpu_ctx (oneDNN engine and stream, the per-shape primitive cache, scratch buffers; conv.c). */
#ifndef DML_KERNELS_CPU_H
#define DML_KERNELS_CPU_H
#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"

struct dml_cpu_ctx;
struct dml_cpu_ctx *dml_cpu_ctx_new(void);
void dml_cpu_ctx_free(void *ctx);
void *dml_cpu_scratch(struct dml_cpu_ctx *c, int k, size_t bytes);

void dml_cpu_linear_forward(void *ctx, float *y, const float *x, const float *w, const float *b, int B, int C, int OC);
void dml_cpu_linear_backward(void *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                             const float *w, int B, int C, int OC);
void dml_cpu_relu_forward(void *ctx, float *y, const float *x, size_t n);
void dml_cpu_relu_backward(void *ctx, float *dx, const float *dy, const float *y, size_t n);
void dml_cpu_l2norm_forward(void *ctx, float *y, float *norm, const float *x, int B, int D);
void dml_cpu_l2norm_backward(void *ctx, float *dx, const float *dy, const float *y, const float *norm, int B, int D);
void dml_cpu_conv2d_forward(void *ctx, void *y, const void *x, const float *w, const float *b,
                            const struct dml_conv_shape *s);
void dml_cpu_conv2d_backward(void *ctx, void *dx, float *dw, float *db, const void *dy, const void *x, const float *w,
                             const struct dml_conv_shape *s, int dx_overwrite);
void dml_cpu_conv2d_bn_forward(void *ctx, void *y, const void *x, const float *w, const float *gamma, const float *beta,
                               const float *mean, const float *var, float eps, const struct dml_conv_shape *s,
                               int relu);
void dml_cpu_conv2d_bn_backward(void *ctx, void *dx, float *dw, float *dgamma, float *dbeta, void *dy, const void *x,
                                const void *y, const float *w, const float *gamma, const float *mean, const float *var,
                                float eps, const struct dml_conv_shape *s, int relu, int dx_overwrite);
void dml_cpu_batchnorm_forward(void *ctx, void *y, float *mean, float *invstd, float *running_mean, float *running_var,
                               const void *x, const float *gamma, const float *beta, int B, int C, int HW, float eps,
                               float momentum, int training, int relu, int prec);
void dml_cpu_batchnorm_backward(void *ctx, void *dx, float *dgamma, float *dbeta, const void *dy, const void *x,
                                const void *y, const float *mean, const float *invstd, const float *gamma, int B,
                                int C, int HW, int training, int relu, int dx_overwrite, int prec);
void dml_cpu_pool2d_forward(void *ctx, void *y, int32_t *idx, const void *x, const struct dml_conv_shape *s, int kind);
void dml_cpu_pool2d_backward(void *ctx, void *dx, const void *dy, const int32_t *idx, const struct dml_conv_shape *s,
                             int kind);
void dml_cpu_global_pool_forward(void *ctx, float *y, int32_t *idx, const void *x, int B, int C, int HW, int kind,
                                 int prec);
void dml_cpu_global_pool_backward(void *ctx, void *dx, const float *dy, const int32_t *idx, int B, int C, int HW,
                                  int kind, int prec);
void dml_cpu_add_forward(void *ctx, void *y, const void *a, const void *b, size_t n, int relu, int prec);
void dml_cpu_add_backward(void *ctx, void *da, void *db, const void *dy, const void *y, size_t n, int relu,
                          int overwrite, int prec);
void dml_cpu_concat_forward(void *ctx, void *y, const void *x, int B, int Ctot, int c0, int C, int HW, int prec);
void dml_cpu_concat_backward(void *ctx, void *dx, const void *dy, int B, int Ctot, int c0, int C, int HW, int prec);
void dml_cpu_act_convert(void *ctx, void *y, int yprec, const void *x, int xprec, int B, int C, int HW);
void dml_cpu_round_bf16(void *ctx, float *y, const float *x, size_t n);
void dml_cpu_step_begin(void *ctx);
int dml_cpu_bf16_supported(void *ctx); /* can oneDNN run bf16 convolutions on this CPU? */
void dml_cpu_configure(void *ctx, const struct dml_backend_config *cfg);
const char *dml_cpu_conv_isa(void *ctx, int prec);
void dml_cpu_mul_forward(void *ctx, float *y, const float *x, const float *m, size_t n);
void dml_cpu_mul_backward(void *ctx, float *dx, const float *dy, const float *m, size_t n);
/* d where the bf16 value y > 0 (as a float: positive, finite or +inf, not NaN), else 0: one unsigned compare on the
 * bits (y − 1 < 0x7f80), so the loops around it vectorise with no branch (a ternary on the float compiled to one
 * mispredicted branch per element) */
static inline uint16_t dml_bf16_relu_keep(uint16_t y, uint16_t d) {
  return (uint16_t)(d & (uint16_t)-(uint16_t)((uint16_t)(y - 1u) < 0x7f80u));
}
/* x86-64: a second, AVX2+FMA build of the hot loops chosen at load time (GCC function multiversioning) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DML_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DML_CPU_CLONES
#endif

/* Our own AVX-512 kernels (batch norm, max pooling, add, the input conversion): intrinsics under DML_AVX512,
 * chosen per call when dml_cpu_avx512() says the CPU has AVX512 F/BW/VL/DQ and the environment variable
 * DML_CPU_SIMD is not "portable" (tests compare the two paths; the binary runs on any x86-64). Each AVX-512
 * kernel computes exactly what its portable C twin computes — the same order of every float operation, fmaf()
 * spelled out where both fuse — so the two give bitwise the same results. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define DML_HAVE_AVX512 1
#define DML_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
int dml_cpu_avx512(void); /* activation.c */
/* 16 bf16 (bits) → 16 float32 */
DML_AVX512 static inline __m512 dml512_from_bf16(__m256i h) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
/* 8 bf16 (bits) → 8 float64 */
DML_AVX512 static inline __m512d dml512_pd_from_bf16(__m128i h) {
  return _mm512_cvtps_pd(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
}
/* 16 float32 → 16 bf16 (bits), exactly dml_bf16_from_f32: round to nearest even, a NaN kept quiet */
DML_AVX512 static inline __m256i dml512_to_bf16(__m512 f) {
  const __m512i u = _mm512_castps_si512(f), hi = _mm512_srli_epi32(u, 16);
  __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(hi, _mm512_set1_epi32(1))));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_mov_epi32(_mm512_srli_epi32(r, 16), nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
  return _mm512_cvtepi32_epi16(r);
}
/* lanes of 16 bf16 y that are > 0 as floats (dml_bf16_relu_keep's test) */
DML_AVX512 static inline __mmask16 dml512_bf16_pos(__m256i y) {
  return _mm256_cmplt_epu16_mask(_mm256_sub_epi16(y, _mm256_set1_epi16(1)), _mm256_set1_epi16(0x7f80));
}
/* the first n (0..16) lanes */
static inline __mmask16 dml512_mask16(int n) { return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1u); }
#else
#define DML_HAVE_AVX512 0
static inline int dml_cpu_avx512(void) { return 0; }
#endif
#endif
