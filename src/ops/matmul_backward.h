// Backward of the affine maps in matmul.h.
#pragma once
#include <cstdint>

namespace cs {

// Backward of out[M,N] = inp[M,K] @ w[K,N] + bias[N]:
//   dinp [M,K] += dout w^T,  dw [K,N] += inp^T dout,  dbias [N] += column sums of dout.
// Any output may be null (skipped).
void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int64_t M, int64_t K, int64_t N);
// dbias[j] += sum_i dout[i*ld + j] for j < N: the bias gradient of a strided [M,N] block.
// Threads own columns, so the result does not depend on the thread count.
void bias_backward(float* dbias, const float* dout, int64_t M, int64_t N, int64_t ld);

}  // namespace cs
