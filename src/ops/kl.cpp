#include "ops/kl.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/simd_math.h"

namespace cs {

namespace {
// Floats ordered as integers (negative floats flipped), so a max over them vectorises.
inline int32_t order_key(float x) {
  const int32_t i = std::bit_cast<int32_t>(x);
  return i ^ ((i >> 31) & 0x7fffffff);
}
}  // namespace

void log_softmax(double* out, const float* z, int64_t V) {
  double mx = -std::numeric_limits<double>::infinity(), s = 0;
  for (int64_t v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(z[v]));
  for (int64_t v = 0; v < V; ++v) s += std::exp(z[v] - mx);
  const double lse = mx + std::log(s);
  for (int64_t v = 0; v < V; ++v) out[v] = z[v] - lse;
}

double reference_distribution(float* p, const float* z, int64_t V) {
  std::vector<double> lp(static_cast<size_t>(V));
  log_softmax(lp.data(), z, V);
  double negent = 0;
  for (int64_t v = 0; v < V; ++v) {
    const double pv = std::exp(lp[v]);
    p[v] = static_cast<float>(pv);
    if (pv > 0) negent += pv * lp[v];
  }
  return negent;
}

double kl_to_softmax(const float* p, double negent, const float* z, int64_t V, float* dz,
                     double scale) {
  int32_t best = std::numeric_limits<int32_t>::min();
  for (int64_t v = 0; v < V; ++v) best = std::max(best, order_key(z[v]));
  const float mx = std::bit_cast<float>(best ^ ((best >> 31) & 0x7fffffff));
  // Summed in double: a float sum over the vocabulary is off by ~1e-5 relative when the compiler
  // does not split it into lanes (the sanitizer build), and that error lands in the KL and in dz.
  double dot = 0, sum = 0;
#pragma omp simd reduction(+ : dot, sum)
  for (int64_t v = 0; v < V; ++v) {
    dot += static_cast<double>(p[v] * z[v]);
    sum += static_cast<double>(expf_nonpositive(z[v] - mx));
  }
  if (dz) {
    const double lse = mx + std::log(sum);
    for (int64_t v = 0; v < V; ++v)
      dz[v] = static_cast<float>(scale * (std::exp(static_cast<double>(z[v]) - lse) - p[v]));
  }
  return negent - dot + mx + std::log(sum);
}

double kl_naive(const float* a, const float* b, int64_t V) {
  std::vector<double> lp(static_cast<size_t>(V)), lq(static_cast<size_t>(V));
  log_softmax(lp.data(), a, V);
  log_softmax(lq.data(), b, V);
  double kl = 0;
  for (int64_t v = 0; v < V; ++v) {
    const double p = std::exp(lp[v]);
    if (p > 0) kl += p * (lp[v] - lq[v]);
  }
  return kl;
}

}  // namespace cs
