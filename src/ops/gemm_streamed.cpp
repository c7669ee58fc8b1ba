// The streamed small-row GEMMs of gemm_streamed.h: AVX-512 kernels that prefetch their weights.
#include "ops/gemm_streamed.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/aligned.h"

namespace cs {
namespace {

// ---- W stored [N, K] -------------------------------------------------------------------------

constexpr int kBlock = 4;       // weight rows held at once (C columns per tile)
constexpr int64_t kAhead = 32;  // weight rows prefetched ahead (8 blocks; 16-128 measured alike)

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
    for (int q = 0; q < Q; ++q)
      C[q * ldc + r] = accumulate ? C[q * ldc + r] + sums[r][q] : sums[r][q];
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

// ---- B stored [K, N] -------------------------------------------------------------------------

constexpr int kCols = 128;           // columns per block: its [16, 128] partial sum stays in L1
constexpr int kChunk = 32;           // rows of B per pass over the block's 16-column tiles
constexpr int64_t kAheadRows = 128;  // rows prefetched ahead (64-128 alike; 256 and none slower)

// part[i, 0..w) (+)= sum over k of At[k][i] B[k, 0..w), k in [0, K), i < MR; one block of at
// most kCols columns at B. Chunk by chunk, each 16-column tile keeps its MR x 16 sums in
// registers over the chunk's rows. While a chunk runs, the rows kAheadRows further on are
// prefetched into L2, a line per tile per row; past the last row, the start of the next block
// (`next`, next_w columns; null: none).
template <int MR>
__attribute__((target("avx512f"))) void kn_block(float* part, const float* At, const float* B,
                                                 int64_t ldb, int64_t K, int w, const float* next,
                                                 int next_w) {
  const int tiles = (w + 15) / 16;
  // Rows off 64-byte alignment: each 16-float load spans two lines, and both are prefetched.
  const bool straddle =
      ((reinterpret_cast<uintptr_t>(B) | static_cast<uintptr_t>(ldb * 4)) & 63) != 0;
  for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
    const int kc = static_cast<int>(std::min<int64_t>(kChunk, K - k0));
    // The rows to prefetch: in this block, else in the next one.
    const int64_t r0 = k0 + kAheadRows;
    const float* pf = nullptr;
    int pf_rows = 0, pf_tiles = 0;
    if (r0 < K) {
      pf = B + r0 * ldb;
      pf_rows = static_cast<int>(std::min<int64_t>(kc, K - r0));
      pf_tiles = tiles;
    } else if (next && r0 - K < K) {
      pf = next + (r0 - K) * ldb;
      pf_rows = static_cast<int>(std::min<int64_t>(kc, 2 * K - r0));
      pf_tiles = (next_w + 15) / 16;
    }
    for (int t = 0; t < tiles; ++t) {
      const int left = w - t * 16;
      const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                                     : static_cast<__mmask16>((1u << left) - 1);
      // This chunk's sums, added to part after it: blocked summation, whose rounding error
      // grows with kChunk + K / kChunk rather than with K.
      __m512 c[MR];
      for (int i = 0; i < MR; ++i) c[i] = _mm512_setzero_ps();
      const float* b = B + k0 * ldb + t * 16;
      const float* a = At + k0 * 16;
      const bool fetch = pf && t < pf_tiles;
      for (int kk = 0; kk < kc; ++kk) {
        const __m512 bk = _mm512_maskz_loadu_ps(m, b + kk * ldb);
        if (fetch && kk < pf_rows) {
          _mm_prefetch(pf + kk * ldb + t * 16, _MM_HINT_T1);
          if (straddle) _mm_prefetch(pf + kk * ldb + t * 16 + 15, _MM_HINT_T1);
        }
        for (int i = 0; i < MR; ++i)
          c[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[kk * 16 + i]), bk, c[i]);
      }
      for (int i = 0; i < MR; ++i) {
        float* p = part + i * kCols + t * 16;
        _mm512_store_ps(p, k0 == 0 ? c[i] : _mm512_add_ps(_mm512_load_ps(p), c[i]));
      }
    }
  }
}

template <int MR>
void kn_gemm(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, float* At,
             const float* B, int64_t ldb, int64_t K, int64_t N, bool accumulate) {
  const int64_t blocks = (N + kCols - 1) / kCols;
#pragma omp parallel if (blocks > 1)
  {
    alignas(64) float part[MR * kCols];
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    // A transposed into At[k][16] (rows past M zero), each thread a share of k: one broadcast
    // per row per k in the kernel, and no serial pass over A before the threads start.
    for (int64_t k = K * id / nt, k1 = K * (id + 1) / nt; k < k1; ++k)
      for (int64_t i = 0; i < 16; ++i) At[k * 16 + i] = i < M ? A[i * lda + k] : 0.0f;
#pragma omp barrier
    const int64_t q0 = blocks * id / nt, q1 = blocks * (id + 1) / nt;
    for (int64_t q = q0; q < q1; ++q) {
      const int64_t n0 = q * kCols;
      const int w = static_cast<int>(std::min<int64_t>(kCols, N - n0));
      const bool has_next = q + 1 < q1;
      const int next_w = has_next ? static_cast<int>(std::min<int64_t>(kCols, N - n0 - kCols)) : 0;
      kn_block<MR>(part, At, B + n0, ldb, K, w, has_next ? B + n0 + kCols : nullptr, next_w);
      for (int64_t i = 0; i < M; ++i) {
        float* c = C + i * ldc + n0;
        const float* s = part + i * kCols;
        if (accumulate)
          for (int j = 0; j < w; ++j) c[j] += s[j];
        else
          std::copy_n(s, w, c);
      }
    }
  }
}

}  // namespace

bool streamed_gemm_available() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

void streamed_gemm_kn(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                      const float* B, int64_t ldb, int64_t K, int64_t N, bool accumulate) {
  thread_local std::vector<float, AlignedAllocator<float>> At;
  At.resize(static_cast<size_t>(K * 16));
  if (M <= 4) kn_gemm<4>(C, ldc, A, lda, M, At.data(), B, ldb, K, N, accumulate);
  else if (M <= 8) kn_gemm<8>(C, ldc, A, lda, M, At.data(), B, ldb, K, N, accumulate);
  else kn_gemm<16>(C, ldc, A, lda, M, At.data(), B, ldb, K, N, accumulate);
}

void streamed_gemm_nk(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                      const float* W, int64_t ldw, int64_t K, int64_t N, bool accumulate) {
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
