// The common shape of every circuit-discovery method's answer, so `compare` can put the SAE
// method and the baselines (activation patching, ACDC, EAP, EAP-IG, HISP, subnetwork probing)
// side by side on the same model, prompts and ground truth.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "evaluation/ground_truth.h"
#include "interp/ablation.h"
#include "interp/task.h"
#include "model/model.h"

namespace cs {

// Settings every baseline shares; each method's own options are a typed struct in its header
// (PatchingOptions, AcdcOptions, EapOptions, HispOptions, SpOptions).
struct MethodSettings {
  int n_prompts = 100;                           // prompts the method may use (first n of the task)
  AblationKind ablation = AblationKind::Resample; // how "removed" is simulated (corrupt prompts)
  uint64_t seed = 0;
};

struct MethodResult {
  std::string method;                 // "acdc", "eap", ...
  std::vector<double> head_scores;    // [n_layers * n_heads], higher = more important
  std::vector<double> mlp_scores;     // [n_layers] when the method scores MLPs, else empty
  // Edge-level methods: one score per edge of the model's circuit graph (interp/graph.h,
  // Graph(m.cfg), in its order), higher = more important; NaN for an edge the method does not
  // score. Empty for node-only methods.
  std::vector<double> edge_scores;
  double seconds = 0;
  std::map<std::string, double> stats;  // e.g. forward passes, edges evaluated
};

}  // namespace cs
