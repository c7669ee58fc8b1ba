// The discrete-SAE circuit method of O'Neill & Bui (2024) on collected head outputs
// (spec: docs/method.md): one SAE shared by all heads, trained on a few prompts
// drawn from the pooled positive + negative set; each (prompt, head) becomes one integer code;
// heads score by the codes they emit only on positive prompts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sae/sae.h"
#include "ops/tensor.h"

namespace cs {

struct SaeMethodOptions {
  SaeConfig sae;             // n_features 200, l1 0.02, lr 1e-3, epochs 500
  int train_prompts = 10;    // SAE training prompts, drawn from the pooled positives+negatives
  bool normalise = false;    // node/edge scores divided by the number of distinct codes
  int64_t edge_k = -1;       // edge -> node reduction k; -1: the reference's (heads per layer)^2/2
  bool edges = true;         // also compute the head-pair scores
  int null_rounds = 20;      // random splits for the null-corrected score (code_null.h)
};

struct SaeTrial {
  uint64_t seed = 0;
  std::vector<int> train_rows;         // pooled indices (positives first, then negatives)
  std::vector<int32_t> pos_codes;      // [n_pos, n_heads]
  std::vector<int32_t> neg_codes;      // [n_neg, n_heads]
  std::vector<double> node_raw;        // |P \ N| per head (or normalised)
  std::vector<double> node_softmax;    // softmax over heads: the paper's node scores
  std::vector<double> node_null;       // |PA \ NB| - |PA \ PB| over random splits (code_null.h)
  std::vector<double> edge_U;          // [n_heads, n_heads] code pairs only on positives
  std::vector<double> edge_node;       // edge scores reduced to heads (counts)
  float sae_loss = 0;                  // final training loss
  double seconds_train = 0, seconds_codes = 0, seconds_scores = 0;
  double train_flops = 0;              // matmul FLOPs of SAE training (dense count)
};

// pos [Np, n_heads, D], neg [Nn, n_heads, D] head outputs (interp/head_outputs.h).
SaeTrial run_sae_trial(const Tensor& pos, const Tensor& neg, int heads_per_layer,
                       const SaeMethodOptions& opts, uint64_t seed);

}  // namespace cs
