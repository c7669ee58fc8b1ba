#include "ops/gemm_streamed.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <vector>

namespace cs {
namespace {

constexpr int kBlock = 4;       // weight rows held at once (C columns per tile)
constexpr int64_t kAhead = 32;  // weight rows prefetched ahead (8 blocks; measured 24-48 alike)

__attribute__((target("avx512f"), always_inline)) inline float sum16(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                 _mm512_castps512_ps256(_mm512_shuffle_f32x4(v, v, 0x4E)));
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

// C[q, r] (+)= dot(A row q, W row r) for q < Q, r < R (4 rows of W are read, R kept). While it
// runs it prefetches into L2, one line per row per k step, rows pf_first, pf_first + pf_stride,
// ... of the block at `pf` (null: none).
template <int Q>
__attribute__((target("avx512f"), always_inline)) inline void tile(
    float* C, int64_t ldc, const float* A, int64_t lda, const float* W, int64_t ldw, int64_t K,
    int R, bool accumulate, const char* pf, int pf_first, int pf_stride) {
  __m512 acc[kBlock][Q];
  for (int r = 0; r < kBlock; ++r)
    for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_setzero_ps();
  const __mmask16 tail = static_cast<__mmask16>((1u << (K % 16)) - 1);
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? static_cast<__mmask16>(0xFFFF) : tail;
    __m512 w[kBlock], a[Q];
    for (int r = 0; r < kBlock; ++r) w[r] = _mm512_maskz_loadu_ps(m, W + r * ldw + k);
    if (pf)
      for (int r = pf_first; r < kBlock; r += pf_stride)
        _mm_prefetch(pf + (r * ldw + k) * 4, _MM_HINT_T1);
    for (int q = 0; q < Q; ++q) a[q] = _mm512_maskz_loadu_ps(m, A + q * lda + k);
    for (int r = 0; r < kBlock; ++r)
      for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_fmadd_ps(w[r], a[q], acc[r][q]);
  }
  float sums[kBlock][Q];  // all four rows, so that acc is indexed by constants only (registers)
  for (int r = 0; r < kBlock; ++r)
    for (int q = 0; q < Q; ++q) sums[r][q] = sum16(acc[r][q]);
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q) C[q * ldc + r] = accumulate ? C[q * ldc + r] + sums[r][q] : sums[r][q];
}

// C[0..M, 0..R) for the block of R <= 4 weight rows at W: 4-row tiles of A, then single rows.
// The tiles share out the prefetch of the block at `pf`, a row each when there are four.
__attribute__((target("avx512f"))) void block(float* C, int64_t ldc, const float* A, int64_t lda,
                                              int64_t M, const float* W, int64_t ldw, int64_t K,
                                              int R, bool accumulate, const char* pf) {
  const int groups = static_cast<int>(M / 4 + (M % 4 ? 1 : 0));
  int64_t i = 0;
  int g = 0;
  for (; i + 4 <= M; i += 4, ++g)
    tile<4>(C + i * ldc, ldc, A + i * lda, lda, W, ldw, K, R, accumulate, pf, g, groups);
  for (; i < M; ++i, g = groups)  // the first single row prefetches the last share
    tile<1>(C + i * ldc, ldc, A + i * lda, lda, W, ldw, K, R, accumulate,
            g < groups ? pf : nullptr, g, groups);
}

}  // namespace

bool streamed_gemm_available() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

void streamed_gemm(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, const float* W,
                   int64_t ldw, int64_t K, int64_t N, bool accumulate) {
  const int64_t blocks = N / kBlock;  // whole blocks; the last N % 4 rows are copied (below)
#pragma omp parallel if (blocks > 1)
  {
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t b0 = blocks * id / nt, b1 = blocks * (id + 1) / nt;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = b * kBlock;
      const char* pf = n + kAhead < b1 * kBlock
                           ? reinterpret_cast<const char*>(W + (n + kAhead) * ldw) : nullptr;
      block(C + n, ldc, A, lda, M, W + n * ldw, ldw, K, kBlock, accumulate, pf);
    }
  }
  if (const int rest = static_cast<int>(N - blocks * kBlock); rest > 0) {
    // The last rows, zero-padded to a block so the tile reads no row past W.
    std::vector<float> pad(static_cast<size_t>(kBlock * K), 0.0f);
    for (int r = 0; r < rest; ++r)
      std::copy_n(W + (blocks * kBlock + r) * ldw, K, pad.data() + r * K);
    block(C + blocks * kBlock, ldc, A, lda, M, pad.data(), K, K, rest, accumulate, nullptr);
  }
}

}  // namespace cs
