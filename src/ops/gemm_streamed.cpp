// The streamed small-row GEMMs of gemm_streamed.h: AVX-512 kernels that prefetch their weights.
#include "ops/gemm_streamed.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/aligned.h"
#include "ops/dtype.h"

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source of masked
// builtins (shuffles, extracts), which -Wuninitialized reports inside the intrinsic headers.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

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

// C[q, r] (+)= the sum of acc[r][q]'s lanes, for q < Q, r < R.
template <int Q>
__attribute__((target("avx512f"), always_inline)) inline void store_tile(
    float* C, int64_t ldc, const __m512 (&acc)[kBlock][Q], int R, bool accumulate) {
  float sums[kBlock][Q];  // all four rows, so that acc is indexed by constants only (registers)
  for (int r = 0; r < kBlock; ++r)
    for (int q = 0; q < Q; ++q) sums[r][q] = sum16(acc[r][q]);
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q)
      C[q * ldc + r] = accumulate ? C[q * ldc + r] + sums[r][q] : sums[r][q];
}

// C[q, r] (+)= dot(A row q, W row r) for q < Q, r < R (4 rows of W are read, R kept). While it
// runs it prefetches into L2, one line per row per k step, rows pf_first, pf_first + pf_stride,
// ... of the block at `pf` (null: none).
template <int Q>
__attribute__((target("avx512f"))) void tile(float* C, int64_t ldc, const float* A, int64_t lda,
                                             const float* W, int64_t ldw, int64_t K, int R,
                                             bool accumulate, const char* pf, int pf_first,
                                             int pf_stride) {
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
  store_tile<Q>(C, ldc, acc, R, accumulate);
}

// The same for bf16 A and W (bf16 precision): 32 k per step, each vdpbf16ps adding the products
// of two adjacent k to a lane's f32 sum; a step reads one line of each W row.
template <int Q>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void tile(
    float* C, int64_t ldc, const uint16_t* A, int64_t lda, const uint16_t* W, int64_t ldw,
    int64_t K, int R, bool accumulate, const char* pf, int pf_first, int pf_stride) {
  __m512 acc[kBlock][Q];
  for (int r = 0; r < kBlock; ++r)
    for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_setzero_ps();
  const __mmask32 tail = static_cast<__mmask32>((uint64_t{1} << (K % 32)) - 1);
  for (int64_t k = 0; k < K; k += 32) {
    const __mmask32 m = K - k >= 32 ? static_cast<__mmask32>(0xFFFFFFFF) : tail;
    __m512i w[kBlock], a[Q];
    for (int r = 0; r < kBlock; ++r) w[r] = _mm512_maskz_loadu_epi16(m, W + r * ldw + k);
    if (pf)
      for (int r = pf_first; r < kBlock; r += pf_stride)
        _mm_prefetch(pf + (r * ldw + k) * 2, _MM_HINT_T1);
    for (int q = 0; q < Q; ++q) a[q] = _mm512_maskz_loadu_epi16(m, A + q * lda + k);
    for (int r = 0; r < kBlock; ++r)
      for (int q = 0; q < Q; ++q)
        acc[r][q] = _mm512_dpbf16_ps(acc[r][q], (__m512bh)w[r], (__m512bh)a[q]);
  }
  store_tile<Q>(C, ldc, acc, R, accumulate);
}

// C[0..M, 0..R) for the block of R <= 4 weight rows at W: 4-row tiles of A, then single rows.
// The tiles share out the prefetch of the block at `pf`, a row each when there are four.
template <typename T>
void block(float* C, int64_t ldc, const T* A, int64_t lda, int64_t M, const T* W, int64_t ldw,
           int64_t K, int R, bool accumulate, const char* pf) {
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

// The rows a kn_block chunk (rows k0..k0 + kc of a block of `tiles` 16-column tiles at B)
// prefetches: kAheadRows further on in this block, else the first rows of the next one (`next`,
// next_w columns; null: none); p null when there are none.
template <typename T>
struct Ahead {
  const T* p = nullptr;
  int rows = 0, tiles = 0;
  Ahead(const T* B, int64_t ldb, int64_t K, int64_t k0, int kc, int block_tiles, const T* next,
        int next_w) {
    const int64_t r0 = k0 + kAheadRows;
    if (r0 < K) {
      p = B + r0 * ldb;
      rows = static_cast<int>(std::min<int64_t>(kc, K - r0));
      tiles = block_tiles;
    } else if (next && r0 - K < K) {
      p = next + (r0 - K) * ldb;
      rows = static_cast<int>(std::min<int64_t>(kc, 2 * K - r0));
      tiles = (next_w + 15) / 16;
    }
  }
};

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
    const Ahead<float> ahead(B, ldb, K, k0, kc, tiles, next, next_w);
    const float* pf = ahead.p;
    const int pf_rows = ahead.rows, pf_tiles = ahead.tiles;
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

// The same for a bf16 B (bf16 precision): vdpbf16ps multiplies pairs of adjacent k, so the
// kernel interleaves two B rows' 16 columns into one register of (k, k + 1) pairs per column, and
// At holds A's (k, k + 1) pairs in bf16, [K / 2][16] (a K odd ends on a pair with zero). The
// prefetch is the f32 kernel's, a line per tile start per row (a 16-column tile is half a line).
template <int MR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void kn_block(
    float* part, const uint32_t* At, const uint16_t* B, int64_t ldb, int64_t K, int w,
    const uint16_t* next, int next_w) {
  const int tiles = (w + 15) / 16;
  alignas(64) uint16_t order[32];  // word 2j from row k's column j, word 2j + 1 from row k + 1's
  for (int j = 0; j < 16; ++j) {
    order[2 * j] = static_cast<uint16_t>(j);
    order[2 * j + 1] = static_cast<uint16_t>(32 + j);
  }
  const __m512i pairs = _mm512_load_si512(order);
  for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
    const int kc = static_cast<int>(std::min<int64_t>(kChunk, K - k0));
    const Ahead<uint16_t> ahead(B, ldb, K, k0, kc, tiles, next, next_w);
    const uint16_t* pf = ahead.p;
    const int pf_rows = ahead.rows, pf_tiles = ahead.tiles;
    for (int t = 0; t < tiles; ++t) {
      const int left = w - t * 16;
      const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                                     : static_cast<__mmask16>((1u << left) - 1);
      __m512 c[MR];
      for (int i = 0; i < MR; ++i) c[i] = _mm512_setzero_ps();
      const uint16_t* b = B + k0 * ldb + t * 16;
      const uint32_t* a = At + (k0 / 2) * 16;
      const bool fetch = pf && t < pf_tiles;
      for (int kk = 0; kk < kc; kk += 2) {
        const __m256i lo = _mm256_maskz_loadu_epi16(m, b + kk * ldb);
        const __m256i hi = kk + 1 < kc ? _mm256_maskz_loadu_epi16(m, b + (kk + 1) * ldb)
                                       : _mm256_setzero_si256();
        const __m512i bk = _mm512_permutex2var_epi16(_mm512_zextsi256_si512(lo), pairs,
                                                     _mm512_zextsi256_si512(hi));
        if (fetch) {
          if (kk < pf_rows) _mm_prefetch(pf + kk * ldb + t * 16, _MM_HINT_T1);
          if (kk + 1 < pf_rows) _mm_prefetch(pf + (kk + 1) * ldb + t * 16, _MM_HINT_T1);
        }
        for (int i = 0; i < MR; ++i)
          c[i] = _mm512_dpbf16_ps(c[i], (__m512bh)bk,
                                  (__m512bh)_mm512_set1_epi32(static_cast<int>(a[(kk / 2) * 16 + i])));
      }
      for (int i = 0; i < MR; ++i) {
        float* p = part + i * kCols + t * 16;
        _mm512_store_ps(p, k0 == 0 ? c[i] : _mm512_add_ps(_mm512_load_ps(p), c[i]));
      }
    }
  }
}

// Rows [r, r1) of At, A transposed for kn_block: f32, At[k][16]; bf16, At[k / 2][16] pairs.
void fill_at(float* At, const float* A, int64_t lda, int64_t M, int64_t K, int64_t r, int64_t r1) {
  for (; r < r1; ++r)
    for (int64_t i = 0; i < 16; ++i) At[r * 16 + i] = i < M ? A[i * lda + r] : 0.0f;
}
void fill_at(uint32_t* At, const float* A, int64_t lda, int64_t M, int64_t K, int64_t r, int64_t r1) {
  for (; r < r1; ++r)
    for (int64_t i = 0; i < 16; ++i) {
      const int64_t k = 2 * r;
      const uint32_t lo = i < M ? f32_to_bf16(A[i * lda + k]) : 0;
      const uint32_t hi = i < M && k + 1 < K ? f32_to_bf16(A[i * lda + k + 1]) : 0;
      At[r * 16 + i] = lo | hi << 16;
    }
}

// C (+)= A @ B, B [K, N] of element type T: the threads transpose A into At (AT, `at_rows` rows),
// then share out the blocks of kCols columns.
template <int MR, typename T, typename AT>
void kn_gemm(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, AT* At,
             int64_t at_rows, const T* B, int64_t ldb, int64_t K, int64_t N, bool accumulate) {
  const int64_t blocks = (N + kCols - 1) / kCols;
#pragma omp parallel if (blocks > 1)
  {
    alignas(64) float part[MR * kCols];
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
    // Each thread transposes a share of A's columns: one broadcast per row per k in the kernel,
    // and no serial pass over A before the threads start.
    fill_at(At, A, lda, M, K, at_rows * id / nt, at_rows * (id + 1) / nt);
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

template <typename T, typename AT>
void kn_dispatch(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, const T* B,
                 int64_t ldb, int64_t K, int64_t N, bool accumulate) {
  const int64_t at_rows = sizeof(AT) == sizeof(T) * 2 ? (K + 1) / 2 : K;
  thread_local std::vector<AT, AlignedAllocator<AT>> At;
  At.resize(static_cast<size_t>(at_rows * 16));
  if (M <= 4) kn_gemm<4>(C, ldc, A, lda, M, At.data(), at_rows, B, ldb, K, N, accumulate);
  else if (M <= 8) kn_gemm<8>(C, ldc, A, lda, M, At.data(), at_rows, B, ldb, K, N, accumulate);
  else kn_gemm<16>(C, ldc, A, lda, M, At.data(), at_rows, B, ldb, K, N, accumulate);
}

// C (+)= A @ W^T, W [N, K] of element type T, A already in T.
template <typename T>
void nk_gemm(float* C, int64_t ldc, const T* A, int64_t lda, int64_t M, const T* W, int64_t ldw,
             int64_t K, int64_t N, bool accumulate) {
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
    std::vector<T> pad(static_cast<size_t>(kBlock * K), T{0});
    for (int r = 0; r < rest; ++r)
      std::copy_n(W + (blocks * kBlock + r) * ldw, K, pad.data() + r * K);
    block(C + blocks * kBlock, ldc, A, lda, M, pad.data(), K, K, rest, accumulate, nullptr);
  }
}

}  // namespace

bool streamed_gemm_available() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

bool streamed_bf16_gemm_available() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  return ok;
}

void streamed_gemm_kn(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                      const float* B, int64_t ldb, int64_t K, int64_t N, bool accumulate) {
  kn_dispatch<float, float>(C, ldc, A, lda, M, B, ldb, K, N, accumulate);
}

void streamed_gemm_nk(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                      const float* W, int64_t ldw, int64_t K, int64_t N, bool accumulate) {
  nk_gemm(C, ldc, A, lda, M, W, ldw, K, N, accumulate);
}

void streamed_bf16_gemm_kn(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                           const uint16_t* B, int64_t ldb, int64_t K, int64_t N, bool accumulate) {
  kn_dispatch<uint16_t, uint32_t>(C, ldc, A, lda, M, B, ldb, K, N, accumulate);
}

void streamed_bf16_gemm_nk(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                           const uint16_t* W, int64_t ldw, int64_t K, int64_t N, bool accumulate) {
  thread_local std::vector<uint16_t, AlignedAllocator<uint16_t>> a16;
  a16.resize(static_cast<size_t>(M * K));
  for (int64_t i = 0; i < M; ++i) narrow_to_bf16(a16.data() + i * K, A + i * lda, K);
  nk_gemm(C, ldc, a16.data(), K, M, W, ldw, K, N, accumulate);
}

}  // namespace cs
