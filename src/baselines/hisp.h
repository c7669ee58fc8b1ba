// HISP, head importance scores (Michel et al. 2019, "Are Sixteen Heads Really Better than One?"),
// as the ACDC paper runs it (ArthurConmy/Automatic-Circuit-Discovery,
// experiments/launch_sixteen_heads.py): a multiplicative mask m, at 1, on every node; a node's
// importance is the size of the metric's gradient with respect to its mask, per prompt:
//
//   I(node) = mean_b | dM_b / dm | = mean_b | sum_{t, j} x[b,t,j] dM_b/dx[b,t,j] |
//
// where x is the masked activation (out = m x, so m -> 0 zero-ablates the node). Nodes, as in
// ACDC: each head's q, k and v (hook_q/k/v[:, :, h], before rotary) and each MLP's output
// (hook_mlp_out); HispOptions::qkv = false uses one mask per head on hook_z instead (Michel et al.'s
// original head mask). Each layer's vector of importances (its heads' nodes, then its MLP) is
// divided by its L2 norm (Michel et al. sec. 4.1; ACDC likewise). head_scores = the largest of a
// head's q/k/v importances (the head is in the circuit when any of them is).
//
// M_b: the task metric of prompt b (interp/metric_grad.h: logit / probability difference;
// Accuracy tasks use their logit difference). Not KL(clean || model): at m = 1 it sits at its
// minimum and its gradient is zero. settings.ablation is not used: the mask interpolates to zero.
// Cost: one forward and one backward pass per batch of prompts.
#pragma once

#include "evaluation/method.h"

namespace cs {

// MethodResult "hisp": head_scores as above; mlp_scores the normalised MLP importances; stats
// "forward_passes", "backward_passes".
struct HispOptions {
  int batch = 0;          // prompts per forward/backward; 0: all at once
  bool qkv = true;        // masks on each head's q, k, v (ACDC's); false: one per head on hook_z
  bool normalize = true;  // divide each layer's importances by their L2 norm (Michel et al.)
};

MethodResult hisp(const Model& m, const TokenizedTask& task, const MethodSettings& s, const HispOptions& o = {});

}  // namespace cs
