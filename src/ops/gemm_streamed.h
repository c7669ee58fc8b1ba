// A GEMM for a few rows against a large weight stored [N, K] (nn.Linear's layout, and every tied
// unembedding): the exact f32 path of a short forward pass, where each weight comes from memory
// once per call (gemm.h chooses it).
//
// C[M,N] (+)= A[M,K] @ W^T, W stored [N,K] with row stride ldw, M <= 16. Each weight row is a
// dot product with every row of A, so the weight is read once, front to back: each thread takes
// a contiguous half of W's rows, four rows at a time, held in L1 while 4x4 register tiles of
// dot products run over them. At 16 rows that is 16 FMAs per weight loaded, as fast as this
// machine can both stream and multiply, and so only if the next rows are already on their way:
// the kernel prefetches 32 rows ahead into L2, one cache line per step, spread over the work.
// On GPT-2's unembedding inside a forward at 16 rows, oneDNN's f32 matmul streams the weights at
// 10-12 GB/s and this kernel at 14-18 (README, "Speed").
// Every C element is one fixed sum over k, whatever the thread count.
#pragma once
#include <cstdint>

namespace cs {

constexpr int64_t kStreamedMaxRows = 16;
// Whether this CPU runs the kernel (AVX-512F).
bool streamed_gemm_available();
void streamed_gemm(float* C, int64_t ldc, const float* A, int64_t lda, int64_t M, const float* W,
                   int64_t ldw, int64_t K, int64_t N, bool accumulate);

}  // namespace cs
