#include "ops/rotary.h"

#include <cmath>

namespace cs {

std::vector<float> rope_inv_freq(int64_t rot_dim, const Rope& rope) {
  const int64_t half = rot_dim / 2;
  std::vector<float> inv(half);
  // 1 / theta^(2i / dim), each step rounded to float32 as torch does it.
  for (int64_t i = 0; i < half; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(rot_dim);
    inv[i] = 1.0f / std::pow(rope.theta, e);
  }
  if (!rope.scaled()) return inv;
  const float pi2 = static_cast<float>(2.0 * M_PI);
  const float old_ctx = rope.original_max_position;
  const float low_wavelen = old_ctx / rope.low_freq_factor;
  const float high_wavelen = old_ctx / rope.high_freq_factor;
  for (float& f : inv) {
    const float wavelen = pi2 / f;
    float scaled = wavelen > low_wavelen ? f / rope.factor : f;
    if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {  // medium: interpolate
      const float smooth = (old_ctx / wavelen - rope.low_freq_factor) /
                           (rope.high_freq_factor - rope.low_freq_factor);
      scaled = (1.0f - smooth) * scaled / rope.factor + smooth * scaled;
    }
    f = scaled;
  }
  return inv;
}

static void rotate(float* x, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                   const Rope& rope, int64_t pos0, float sign) {
  const int64_t half = rot_dim / 2;
  const std::vector<float> inv_freq = rope_inv_freq(rot_dim, rope);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      // float32 angle as Hugging Face computes it (inv_freq * t in float32)
      float ang = inv_freq[i] * static_cast<float>(pos0 + t);
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
                    const Rope& rope, int64_t pos0) {
  rotate(x, T, n, dh, ld, rot_dim, rope, pos0, 1.0f);
}

void rotary_backward(float* dx, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                     const Rope& rope, int64_t pos0) {
  rotate(dx, T, n, dh, ld, rot_dim, rope, pos0, -1.0f);
}

}  // namespace cs
