#include "ops/layernorm.h"

#include <cmath>

namespace cs {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C > 16384)
  for (int64_t i = 0; i < N; ++i) {
    const float* x = inp + i * C;
    float* o = out + i * C;
    float m = 0.0f;
#pragma omp simd reduction(+ : m)
    for (int64_t c = 0; c < C; ++c) m += x[c];
    m /= static_cast<float>(C);
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < C; ++c) {
      float d = x[c] - m;
      v += d * d;
    }
    v /= static_cast<float>(C);
    float s = 1.0f / std::sqrt(v + eps);
    if (b) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) o[c] = (x[c] - m) * s * w[c] + b[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) o[c] = (x[c] - m) * s * w[c];
    }
    if (mean) mean[i] = m;
    if (rstd) rstd[i] = s;
  }
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N,
                     int64_t C, float eps) {
#pragma omp parallel for schedule(static) if (N * C > 16384)
  for (int64_t i = 0; i < N; ++i) {
    const float* x = inp + i * C;
    float* o = out + i * C;
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < C; ++c) ss += x[c] * x[c];
    float s = 1.0f / std::sqrt(ss / static_cast<float>(C) + eps);
    for (int64_t c = 0; c < C; ++c) o[c] = x[c] * s * w[c];
    if (rstd) rstd[i] = s;
  }
}

void layernorm_naive(float* out, const float* inp, const float* w, const float* b, int64_t N,
                     int64_t C, float eps) {
  for (int64_t i = 0; i < N; ++i) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < C; ++c) m += inp[i * C + c];
    m /= C;
    for (int64_t c = 0; c < C; ++c) v += (inp[i * C + c] - m) * (inp[i * C + c] - m);
    v /= C;
    for (int64_t c = 0; c < C; ++c)
      out[i * C + c] =
          static_cast<float>((inp[i * C + c] - m) / std::sqrt(v + eps) * w[c] + (b ? b[c] : 0.0));
  }
}

void rmsnorm_naive(float* out, const float* inp, const float* w, int64_t N, int64_t C, float eps) {
  for (int64_t i = 0; i < N; ++i) {
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += static_cast<double>(inp[i * C + c]) * inp[i * C + c];
    double s = 1.0 / std::sqrt(ss / C + eps);
    for (int64_t c = 0; c < C; ++c) out[i * C + c] = static_cast<float>(inp[i * C + c] * s * w[c]);
  }
}

}  // namespace cs
