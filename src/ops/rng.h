// splitmix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators"): small,
// seedable, and the same draws on every platform and standard library, which the std::
// distributions do not promise. Every random choice in circuitscan draws from one of these.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace cs {

class SplitMix64 {
 public:
  static constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;  // the state's increment

  explicit SplitMix64(uint64_t state) : state_(state) {}
  // Independent streams from one user seed: state = seed * kGamma ^ stream.
  SplitMix64(uint64_t seed, uint64_t stream) : state_(seed * kGamma ^ stream) {}

  uint64_t next() {
    uint64_t z = (state_ += kGamma);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1), 53 bits
  // Uniform in [0, n), unbiased: draws at or above the largest multiple of n are rejected.
  int below(int n) {
    const uint64_t un = static_cast<uint64_t>(n);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % un;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return static_cast<int>(x % un);
  }
  // k distinct values of [0, n) in draw order (partial Fisher-Yates; k <= n).
  std::vector<int> distinct(int n, int k) {
    std::vector<int> idx(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
    for (int i = 0; i < k; ++i) std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(i + below(n - i))]);
    idx.resize(static_cast<size_t>(k));
    return idx;
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[static_cast<size_t>(below(static_cast<int>(v.size())))]; }

 private:
  uint64_t state_;
};

}  // namespace cs
