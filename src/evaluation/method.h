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

struct MethodSettings {
  int n_prompts = 100;                           // prompts the method may use (first n of the task)
  AblationKind ablation = AblationKind::Resample; // how "removed" is simulated (corrupt prompts)
  uint64_t seed = 0;
  std::map<std::string, double> params;          // method-specific (tau, steps, lambda, ...)
  double param(const std::string& k, double def) const {
    auto it = params.find(k);
    return it == params.end() ? def : it->second;
  }
};

struct MethodResult {
  std::string method;                 // "acdc", "eap", ...
  std::vector<double> head_scores;    // [n_layers * n_heads], higher = more important
  // Edge-level methods: scores over the graph of ground_truth.h (q/k/v-split head inputs,
  // "input"/"output", MLPs as "mL"), higher = more important. Empty for node-only methods.
  std::vector<EdgeId> edges;
  std::vector<double> edge_scores;
  double seconds = 0;
  std::map<std::string, double> stats;  // e.g. forward passes, edges evaluated
};

}  // namespace cs
