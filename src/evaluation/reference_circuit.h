// Reference circuits by exhaustive patching, for models whose circuit nobody has published
// (our zoo): node level by greedy resample-ablation pruning (remove the head whose ablation
// hurts least while the circuit keeps >= 90% of the full model's metric), edge level by path
// patching among the kept heads (Wang et al. 2022). MLPs are never ablated: the circuit is a
// set of heads, as in the discrete-SAE paper's evaluation.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "evaluation/ground_truth.h"
#include "interp/task.h"
#include "model/model.h"

namespace cs {

struct ReferenceOptions {
  int n_prompts = 1000;        // prompts for pruning and the effect table
  double keep_fraction = 0.9;  // the circuit must keep this fraction of the full metric
  int edge_prompts = 200;      // prompts for path patching
  double edge_fraction = 0.02; // keep an edge whose path-patching effect is >= this x |full|
  bool edges = true;
  std::function<void(const std::string&, double)> progress;
};

struct ReferenceCircuit {
  double full_metric = 0;                 // unablated
  std::vector<double> solo_effect;        // [HT] full - metric(with only head h resampled)
  std::vector<int> pruned;                // heads in the order they were removed
  std::vector<double> metric_after;       // metric after each removal
  std::vector<int> kept;                  // final circuit (head indices)
  double kept_metric = 0;                 // metric of the circuit (everything else resampled)
  std::vector<Edge> edges;                // kept edges
  std::vector<double> edge_effect;        // their path-patching effects
  std::vector<std::pair<Edge, double>> all_edge_effects;  // every path tested
};

ReferenceCircuit reference_circuit(const Model& m, const TokenizedTask& task, const ReferenceOptions& o);

// As a ground-truth file (name, model, task, source = the command that made it, notes = the
// effect table and pruning trace).
GroundTruth to_ground_truth(const ReferenceCircuit& r, const Model& m, const std::string& name,
                            const std::string& model_name, const std::string& task_name,
                            const std::string& command);

}  // namespace cs
