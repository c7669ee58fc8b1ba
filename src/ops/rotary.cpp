#include "ops/rotary.h"

#include <cmath>
#include <vector>

namespace cs {

static void rotate(float* x, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                   float theta, int64_t pos0, float sign) {
  const int64_t half = rot_dim / 2;
  std::vector<double> inv_freq(half);
  for (int64_t i = 0; i < half; ++i)
    inv_freq[i] = std::pow(static_cast<double>(theta), -2.0 * i / static_cast<double>(rot_dim));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      // float32 angle as Hugging Face computes it (inv_freq * t in float32)
      float ang = static_cast<float>(inv_freq[i]) * static_cast<float>(pos0 + t);
      float c = std::cos(ang), s = sign * std::sin(ang);
      for (int64_t h = 0; h < n; ++h) {
        float* row = x + t * ld + h * dh;
        float x1 = row[i], x2 = row[i + half];
        row[i] = x1 * c - x2 * s;
        row[i + half] = x2 * c + x1 * s;
      }
    }
}

void rotary_forward(float* x, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                    float theta, int64_t pos0) {
  rotate(x, T, n, dh, ld, rot_dim, theta, pos0, 1.0f);
}

void rotary_backward(float* dx, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                     float theta, int64_t pos0) {
  rotate(dx, T, n, dh, ld, rot_dim, theta, pos0, -1.0f);
}

}  // namespace cs
