// GEMMs for a few rows against a large f32 weight that comes from memory, not cache: the exact
// path of a short forward pass (gemm.h chooses them).
//
// C[M,N] (+)= A[M,K] @ B, M <= 16. At 16 rows a GEMM does 16 FMAs per weight it loads, which on
// this machine is about as fast as memory can deliver weights, so a kernel keeps up with memory
// only if the next weights are already on their way while it multiplies. oneDNN's f32 matmul
// streams cold weights at 10-13 GB/s at these shapes; both kernels here prefetch into L2 in
// software, a cache line per step spread over the work, and reach 14-19 GB/s inside a forward
// (README, "Speed").
// Every C element is one fixed sum over k, whatever the thread count.
#pragma once
#include <cstdint>

namespace cs {

constexpr int64_t kStreamedMaxRows = 16;
// Whether this CPU runs the kernels (AVX-512F).
bool streamed_gemm_available();

// B stored [N, K] (nn.Linear's layout, every tied unembedding, and W^T of a [K, N] weight) as W
// with row stride ldw. Each W row is a dot product with every row of A, so W is read front to
// back: each thread takes a contiguous half of W's rows, four at a time, held in L1 while 4x4
// register tiles of dot products run over them, and prefetches 32 rows ahead.
void streamed_gemm_nk(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                      const float* W, int64_t ldw, int64_t K, int64_t N, bool accumulate);

// B stored [K, N] (row-major, row stride ldb; GPT-2's Conv1D layout). The threads share out
// blocks of 128 columns; a block is swept 32 rows at a time, each 16-column tile holding its
// M x 16 sums in registers over those rows (a broadcast of A per row), and the rows 128 further
// on (past the end, the next block's first rows) are prefetched meanwhile.
void streamed_gemm_kn(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                      const float* B, int64_t ldb, int64_t K, int64_t N, bool accumulate);

// bf16 precision (gemm.h) for a bf16 weight: A rounded to bf16 (as the oneDNN bf16 path rounds
// it) and multiplied by the bf16 weight with f32 sums (AVX512-BF16's vdpbf16ps, which adds the
// products of two adjacent k at a time), by the same two kernels over half the bytes.
bool streamed_bf16_gemm_available();  // AVX512-BF16 (with AVX512BW/VL)
void streamed_bf16_gemm_nk(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                           const uint16_t* W, int64_t ldw, int64_t K, int64_t N, bool accumulate);
void streamed_bf16_gemm_kn(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M,
                           const uint16_t* B, int64_t ldb, int64_t K, int64_t N, bool accumulate);

}  // namespace cs
