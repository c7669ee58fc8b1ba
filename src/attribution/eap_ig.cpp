// EAP-IG (Hanna et al. 2024, "inputs" variant): EAP whose receiver gradients are averaged over m
// forward/backward passes with the input embeddings interpolated between the ablated and the
// clean prompt. The engine is edge_attribution (eap.cpp); see eap.h for the exact definition.

#include "attribution/eap.h"
#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

MethodResult eap_ig(const Model& m, const TokenizedTask& task, const MethodSettings& s, const EapOptions& o) {
  const Timer timer;
  if (o.steps < 1) throw Error("eap-ig: steps must be at least 1, got " + std::to_string(o.steps));
  MethodResult r = to_method_result(edge_attribution(m, task, s, o.steps, o), "eap-ig", eap_graph(m.cfg, o),
                                    o.head_score);
  r.stats["steps"] = o.steps;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
