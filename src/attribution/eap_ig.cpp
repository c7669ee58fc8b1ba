// EAP-IG (Hanna et al. 2024, "inputs" variant): EAP whose receiver gradients are averaged over m
// forward/backward passes with the input embeddings interpolated between the ablated and the
// clean prompt. The engine is edge_attribution (eap.cpp); see eap.h for the exact definition.
#include <chrono>

#include "attribution/eap.h"
#include "ops/error.h"

namespace cs {

MethodResult eap_ig(const Model& m, const TokenizedTask& task, const MethodSettings& s) {
  const auto t0 = std::chrono::steady_clock::now();
  const double steps = s.param("steps", 5);
  if (steps < 1 || steps != static_cast<int>(steps))
    throw Error("eap-ig: steps must be a whole number >= 1, got " + std::to_string(steps));
  MethodResult r = to_method_result(edge_attribution(m, task, s, static_cast<int>(steps)), "eap-ig",
                                    m.cfg.n_layers, m.cfg.n_heads, s);
  r.stats["steps"] = steps;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace cs
