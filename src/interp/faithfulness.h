// Faithfulness of a scored circuit: the task metric with everything outside the circuit ablated,
// as a fraction of the full model's metric, for circuits of increasing size (Wang et al. 2022;
// MIB's CPR and CMD areas, Mueller et al. 2025).
#pragma once
#include <vector>

#include "interp/ablation.h"
#include "interp/task.h"
#include "model/model.h"

namespace cs {

struct FaithfulnessOptions {
  AblationKind ablation = AblationKind::Mean;  // Mean: per-position mean over corrupt prompts
  int n_prompts = 100;                         // evaluation prompts (first n of the task)
  int max_points = 24;                         // circuit sizes on the curve
};

struct FaithfulnessCurve {
  std::vector<int> size;        // number of heads kept
  std::vector<double> metric;   // mean task metric with the rest ablated
  std::vector<double> fraction; // metric / full-model metric
  std::vector<double> normalised; // (metric - empty) / (full - empty): MIB's faithfulness
  double full = 0, empty = 0;   // full model; every head ablated
  double cpr = 0, cmd = 0;      // areas over size fraction: under normalised, under |1 - normalised|
};

// Metric of the model with only `keep` heads (MLPs untouched) unablated, mean over the first
// n_prompts prompts. Reads only the logit columns the metric needs (metric_columns).
double circuit_metric(const Model& m, const TokenizedTask& task, const HeadSet& keep,
                      const AblationSource& src, int n_prompts);
// The same for several circuits, one forward each, run one per thread: at these widths that
// scales better than threading one forward's products (as the reference circuit's trials).
std::vector<double> circuit_metrics(const Model& m, const TokenizedTask& task,
                                    const std::vector<HeadSet>& keeps, const AblationSource& src,
                                    int n_prompts);

// Ablation source built from the task (corrupt prompts as the reference for Mean/Resample).
AblationSource task_ablation_source(const Model& m, const TokenizedTask& task,
                                    const FaithfulnessOptions& opts);

// Heads ranked by score (index = layer * n_heads + head), kept top-k for k along the curve.
FaithfulnessCurve faithfulness_curve(const Model& m, const TokenizedTask& task,
                                     const std::vector<double>& head_scores,
                                     const FaithfulnessOptions& opts);

// Heads with the k highest scores, ties to the lower index.
HeadSet top_k_heads(const std::vector<double>& scores, int n_heads_per_layer, int k);

}  // namespace cs
