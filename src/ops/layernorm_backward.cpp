#include "ops/layernorm_backward.h"

#include <algorithm>

namespace cs {

namespace {

// dweight[c] += sum_i dout[i,c] * xhat[i,c] and dbias[c] += sum_i dout[i,c]. Threads own blocks of
// columns, so the sums run in the same order on any thread count (deterministic).
template <class Xhat>
void norm_param_grads(float* dweight, float* dbias, const float* dout, int64_t N, int64_t C,
                      Xhat xhat) {
  if (!dweight && !dbias) return;
  constexpr int64_t kBlock = 16;
  const int64_t blocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (N * C > 16384)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kBlock, c1 = std::min(C, c0 + kBlock);
    float dw[kBlock] = {}, db[kBlock] = {};
    for (int64_t i = 0; i < N; ++i)
      for (int64_t c = c0; c < c1; ++c) {
        const float g = dout[i * C + c];
        dw[c - c0] += g * xhat(i, c);
        db[c - c0] += g;
      }
    for (int64_t c = c0; c < c1; ++c) {
      if (dweight) dweight[c] += dw[c - c0];
      if (dbias) dbias[c] += db[c - c0];
    }
  }
}

}  // namespace

// With xhat = (x - mean) rstd and g = dout * w:  dx = rstd (g - mean(g) - xhat mean(g xhat)).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd,
                        int64_t N, int64_t C) {
  if (dinp) {
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t i = 0; i < N; ++i) {
      const float* x = inp + i * C;
      const float* dy = dout + i * C;
      const float m = mean[i], s = rstd[i];
      float g_mean = 0.0f, gx_mean = 0.0f;
#pragma omp simd reduction(+ : g_mean, gx_mean)
      for (int64_t c = 0; c < C; ++c) {
        const float g = dy[c] * weight[c];
        g_mean += g;
        gx_mean += g * (x[c] - m) * s;
      }
      g_mean /= static_cast<float>(C);
      gx_mean /= static_cast<float>(C);
      float* dx = dinp + i * C;
      for (int64_t c = 0; c < C; ++c)
        dx[c] += s * (dy[c] * weight[c] - g_mean - (x[c] - m) * s * gx_mean);
    }
  }
  norm_param_grads(dweight, dbias, dout, N, C,
                   [&](int64_t i, int64_t c) { return (inp[i * C + c] - mean[i]) * rstd[i]; });
}

// With xhat = x rstd and g = dout * w:  dx = rstd (g - xhat mean(g xhat)).
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t N, int64_t C) {
  if (dinp) {
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (int64_t i = 0; i < N; ++i) {
      const float* x = inp + i * C;
      const float* dy = dout + i * C;
      const float s = rstd[i];
      float gx_mean = 0.0f;
#pragma omp simd reduction(+ : gx_mean)
      for (int64_t c = 0; c < C; ++c) gx_mean += dy[c] * weight[c] * x[c] * s;
      gx_mean /= static_cast<float>(C);
      float* dx = dinp + i * C;
      for (int64_t c = 0; c < C; ++c) dx[c] += s * (dy[c] * weight[c] - x[c] * s * gx_mean);
    }
  }
  norm_param_grads(dweight, nullptr, dout, N, C,
                   [&](int64_t i, int64_t c) { return inp[i * C + c] * rstd[i]; });
}

}  // namespace cs
