#include "ops/softcap.h"

#include <cmath>
#include <limits>

namespace cs {

void softcap_forward(float* x, int64_t rows, int64_t n_cols, int64_t ld, float cap) {
  const float inv = 1.0f / cap;
#pragma omp parallel for schedule(static) if (rows * n_cols > 65536)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n_cols; ++j) x[r * ld + j] = cap * std::tanh(x[r * ld + j] * inv);
}

void softcap_backward(float* d, const float* y, int64_t rows, int64_t n_cols, int64_t ld, float cap) {
  const float inv = 1.0f / cap;
#pragma omp parallel for schedule(static) if (rows * n_cols > 65536)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n_cols; ++j) {
      const float t = y[r * ld + j] * inv;  // tanh(x / cap)
      d[r * ld + j] *= 1.0f - t * t;
    }
}

void mask_outside_window(float* s, int64_t R, int64_t T, int64_t ld, int64_t q0, int64_t window) {
  if (window <= 0) return;
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < R; ++r) {
    const int64_t i = q0 + r;
    for (int64_t j = 0; j <= i - window && j < T; ++j) s[r * ld + j] = ninf;
  }
}

}  // namespace cs
