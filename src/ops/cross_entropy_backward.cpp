#include "ops/cross_entropy_backward.h"

#include <cmath>
#include <string>

#include "ops/error.h"
#include "ops/simd_math.h"

namespace cs {

void cross_entropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                    const int32_t* targets, int64_t N, int64_t V, float dloss) {
  for (int64_t n = 0; n < N; ++n)
    if (targets[n] >= V)
      throw Error("cross entropy: target " + std::to_string(targets[n]) +
                  " is outside the " + std::to_string(V) + " logits of its row");
#pragma omp parallel for schedule(static) if (N * V > 65536)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    float* dx = dlogits ? dlogits + n * V : nullptr;
    const int32_t t = targets[n];
    if (t < 0) {
      losses[n] = 0.0f;
      if (dx)
        for (int64_t v = 0; v < V; ++v) dx[v] = 0.0f;
      continue;
    }
    float mx = x[0];
#pragma omp simd reduction(max : mx)
    for (int64_t v = 1; v < V; ++v) mx = x[v] > mx ? x[v] : mx;
    double sum = 0.0;
    if (dx) {  // keep exp(x - max) to turn into the softmax below
#pragma omp simd reduction(+ : sum)
      for (int64_t v = 0; v < V; ++v) sum += (dx[v] = cs_expf(x[v] - mx));
    } else {
#pragma omp simd reduction(+ : sum)
      for (int64_t v = 0; v < V; ++v) sum += cs_expf(x[v] - mx);
    }
    losses[n] = static_cast<float>(std::log(sum) + mx - x[t]);
    if (dx) {
      const float scale = static_cast<float>(dloss / sum);
      for (int64_t v = 0; v < V; ++v) dx[v] *= scale;
      dx[t] -= dloss;
    }
  }
}

}  // namespace cs
