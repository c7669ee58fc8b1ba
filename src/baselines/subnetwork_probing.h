// Subnetwork probing (Cao et al. 2021, "Low-Complexity Probing via Finding Subnetworks"), as the
// ACDC paper adapts it (ArthurConmy/Automatic-Circuit-Discovery, subnetwork_probing/train.py and
// its MaskedHookPoint): a hard-concrete mask (Louizos et al. 2018) on every node, trained so that
// the masked model keeps the task behaviour while the expected number of unmasked nodes shrinks.
//
// Nodes: each head's q, k and v (hook_q/k/v[:, :, h], before rotary) and each MLP's output
// (hook_mlp_out). A node with mask m in [0, 1] outputs m x + (1 - m) x_abl, x_abl its ablated value
// (settings.ablation: Resample the paired corrupt prompt's activation, Mean the per-position mean
// over corrupt prompts, Zero 0). Each step draws u ~ U(0.0001, 0.9999) per node and sets
//   s = sigmoid((log u - log(1 - u) + logit) / beta),  m = clamp(s (zeta - gamma) + gamma, 0, 1)
// with beta = 2/3, gamma = -0.1, zeta = 1.1, logits initialised to log(p / (1 - p)),
// p = (0.9 - gamma) / (zeta - gamma) (the reference's init). Loss:
//   M(masked model) + lambda * mean over mask tensors of mean sigmoid(logit - beta log(-gamma/zeta))
// (the expected fraction of nonzero masks, per tensor: a layer's q, k, v masks and its MLP mask are
// four tensors). M: SpOptions::metric_kl (default, ACDC's): mean KL(clean || masked) at the last
// position; else minus the mean task metric. Adam (beta1 0.9, beta2 0.999, eps 1e-8) on the logits
// only, SpOptions::steps (200), lr (0.01: the reference runs 3000 steps at 0.001; fewer steps need
// a larger rate to move the logits as far), lambda (the reference's default 50).
//
// Exact gradients with a straight-through backward (model/backward.h passes a hook's gradient
// through unchanged): the mask's multiplicative part lives in a copy of the weights (the head's
// W_Q/W_K/W_V columns and bias scaled by m, W_out and b_out by m for an MLP), so gradients reaching
// earlier layers carry the factor m; a hook adds the constant (1 - m) x_abl. Then
// dM/dm = sum g . (x - x_abl), with g the gradient at the hook point and x = (m x) / m read before
// the hook (when m is clamped to 0 or 1 the logit gets no metric gradient, so m > 0 wherever x is
// needed).
//
// Scores: the final mask logits; head_scores = the largest of a head's q/k/v logits (the head is
// kept when any of its inputs is). Deterministic per settings.seed.
#pragma once

#include "evaluation/method.h"

namespace cs {

struct SpOptions {
  int batch = 0;          // prompts per forward; gradients are summed over batches each step; 0: all
  int steps = 200;
  double lr = 0.01, lambda = 50;
  bool metric_kl = true;
};

// MethodResult "sp": head_scores as above, mlp_scores the MLP logits; stats "steps",
// "final_loss", "final_metric", "expected_l0" (expected fraction of unmasked nodes),
// "forward_passes", "backward_passes".
MethodResult subnetwork_probing(const Model& m, const TokenizedTask& task, const MethodSettings& s,
                                const SpOptions& o = {});

}  // namespace cs
