#include "ops/matmul_backward.h"

#include <algorithm>

#include "ops/matmul.h"

namespace cs {

void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int64_t M, int64_t K, int64_t N) {
  if (dinp) sgemm(false, true, M, K, N, 1.0f, dout, N, w, N, 1.0f, dinp, K);
  if (dw) sgemm(true, false, K, N, M, 1.0f, inp, K, dout, N, 1.0f, dw, N);
  if (dbias) bias_backward(dbias, dout, M, N, N);
}

void bias_backward(float* dbias, const float* dout, int64_t M, int64_t N, int64_t ld) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (N + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (M * N > 65536)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t j0 = blk * kBlock, j1 = std::min(N, j0 + kBlock);
    float acc[kBlock] = {};
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = j0; j < j1; ++j) acc[j - j0] += dout[i * ld + j];
    for (int64_t j = j0; j < j1; ++j) dbias[j] += acc[j - j0];
  }
}

}  // namespace cs
