// EAP-IG (Hanna et al. 2024, "inputs" variant): EAP whose receiver gradients are averaged over m
// forward/backward passes with the input embeddings interpolated between the ablated and the
// clean prompt. The engine is edge_attribution (eap.cpp); see eap.h for the exact definition.

#include "attribution/eap.h"
#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

MethodResult eap_ig(const Model& m, const TokenizedTask& task, const MethodSettings& s) {
  const Timer timer;
  const double steps = s.param("steps", 5);
  if (steps < 1 || steps != static_cast<int>(steps))
    throw Error("eap-ig: steps must be a whole number >= 1, got " + std::to_string(steps));
  MethodResult r = to_method_result(edge_attribution(m, task, s, static_cast<int>(steps)), "eap-ig",
                                    m.cfg.n_layers, m.cfg.n_heads, s);
  r.stats["steps"] = steps;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
