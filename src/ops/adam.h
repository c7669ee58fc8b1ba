// Adam (Kingma & Ba 2015) as torch.optim.Adam computes it, one element at a time: the one
// optimiser step of circuitscan. The discrete SAE (sae/sae_adam.cpp, whose vectorised body does
// the same fmas), subnetwork probing's mask logits (in double) and the zoo trainer (AdamW: the
// decoupled weight decay w *= 1 - lr * wd goes before the update, as in torch.optim.AdamW).
#pragma once
#include <cmath>
#include <cstdint>

namespace cs {

template <class T>
struct AdamStep {
  T beta1, beta2, eps;
  T step_size;     // lr / (1 - beta1^t)
  T inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^t)

  // The coefficients of step t (1-based), computed in double.
  AdamStep(double lr, int64_t t, T b1 = T(0.9), T b2 = T(0.999), T e = T(1e-8))
      : beta1(b1), beta2(b2), eps(e),
        step_size(static_cast<T>(
            lr / (1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t))))),
        inv_sqrt_bc2(static_cast<T>(
            1.0 / std::sqrt(1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t))))) {}

  // Updates the moments m, v with gradient g and returns the new weight,
  //   w - step_size m / (sqrt(v) inv_sqrt_bc2 + eps),
  // in torch's order of operations. Explicit fma, so a vectorised body with the same fmas gets
  // the same bits.
  T update(T w, T g, T& m, T& v) const {
    m = std::fma(beta1, m, (1 - beta1) * g);
    v = std::fma(beta2, v, ((1 - beta2) * g) * g);
    return std::fma(-step_size, m / std::fma(std::sqrt(v), inv_sqrt_bc2, eps), w);
  }
};

}  // namespace cs
