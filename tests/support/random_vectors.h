// Normal random vectors for kernel tests: the same values on every run of one build (mt19937,
// seeded). Each test compares against a reference computed from the same vectors, so the standard
// library's normal_distribution need not match across platforms.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace cs::test {

inline std::vector<float> randv(size_t n, uint32_t seed, float scale = 1.0f, float shift = 0.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = shift + d(g);
  return v;
}

}  // namespace cs::test
