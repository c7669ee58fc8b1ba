// Activation patching at node level, exact: each head (and each MLP) is ablated alone, with one
// forward pass over the prompt batch, and scored by how much the task metric moves
// (Vig et al. 2020; Meng et al. 2022; the "exact" baseline of Syed et al. 2023 and Hanna et al.
// 2024, here per node rather than per edge).
//
//   delta(node) = mean_b metric_b(clean run, node ablated) - mean_b metric_b(clean run)
//   score(node) = |delta(node)|
//
// Ablation (settings.ablation), through interp/ablation.h: Resample writes the node's output on
// the paired corrupt prompt (row b <- row b), Mean the per-position mean over the task's corrupt
// prompts (clean prompts when it has none), Zero writes 0. The metric is the task's own
// (task_metric). Cost: 1 + n_layers * n_heads (+ n_layers MLPs) forwards of the n prompts, each
// trial started from the clean run's residual stream entering the ablated node's layer (an
// ablation in layer l leaves layers < l as in the clean run; ForwardOptions::start_at_layer): a
// trial in layer l runs n_layers - l layers, about half the layers of whole forwards on average.
#pragma once
#include <cstdint>
#include <vector>

#include "evaluation/method.h"

namespace cs {

struct NodePatching {
  std::vector<double> head_delta;  // [n_layers * n_heads] signed change of the mean metric
  std::vector<double> mlp_delta;   // [n_layers] (empty for attention-only models)
  double clean_metric = 0;         // mean metric of the unablated model
  int forward_passes = 0;          // forward() calls over a prompt batch, whole or partial
  int64_t layer_passes = 0;        // layers run over a prompt batch: the cost (a whole forward
                                   // is n_layers of them)
};

struct PatchingOptions {
  int batch = 0;  // prompts per forward; 0: all n at once
  // false: every trial runs the whole forward from the embedding (the naive path, the same
  // numbers at about twice the cost; kept as bench/discover_methods's peer).
  bool reuse_clean_residual = true;
};

NodePatching node_patching(const Model& m, const TokenizedTask& task, const MethodSettings& s,
                           const PatchingOptions& o = {});

// MethodResult "patching": head_scores = |head_delta|, mlp_scores = |mlp_delta|; stats
// "clean_metric", "forward_passes", "layer_passes". The signed deltas are node_patching's.
MethodResult activation_patching(const Model& m, const TokenizedTask& task, const MethodSettings& s,
                                 const PatchingOptions& o = {});

}  // namespace cs
