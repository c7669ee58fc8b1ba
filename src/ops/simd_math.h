// Vectorisable exp. cs_expf: glibc's libmvec expf (_ZGVdN8v_expf with AVX2, <= 1 ulp; linked
// through libm's linker script). glibc's <math.h> declares these SIMD variants only under
// -ffast-math; this declaration, the same one glibc writes, lets `#pragma omp simd` loops that
// call cs_expf vectorise without fast-math's other licences. Measured: gelu_new over 1.3M floats
// ~6x faster than scalar expf.
#pragma once
#include <bit>
#include <cstdint>

extern "C" float expf(float) noexcept __attribute__((simd("notinbranch")));

namespace cs {
inline float cs_expf(float x) { return ::expf(x); }

// exp(x) for x <= 0, inline and branch-free so the loops calling it vectorise (libmvec's expf is
// an out-of-line call per vector): 2^k exp(r), k = round(x / ln 2), |r| <= ln 2 / 2, with Cephes
// expf's degree-5 polynomial for exp(r); relative error < 1e-7; 0 below 2^-126 (no denormals).
inline float expf_nonpositive(float x) {
  const int32_t k = static_cast<int32_t>(x * 1.44269504088896341f - 0.5f);  // x <= 0: rounds
  const float kf = static_cast<float>(k);
  const float r = x - kf * 0.693359375f + kf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  return y * std::bit_cast<float>(k < -126 ? 0 : (k + 127) << 23);
}
}  // namespace cs
