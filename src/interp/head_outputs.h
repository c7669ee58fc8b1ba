// Per-head outputs for a prompt set: every attention head's contribution to the residual stream
// (TransformerLens hook_result, z_h W_O[h], no bias), reduced over positions. This is the input
// of the discrete-SAE method (O'Neill & Bui 2024: mean over positions by default).
#pragma once
#include <string>
#include <vector>

#include "model/model.h"
#include "ops/tensor.h"

namespace cs {

enum class PositionReduce {
  Mean,   // mean over each prompt's real tokens (the reference code's default)
  Last,   // the last real token
  Named,  // one named position per prompt (e.g. IOI "S2"), given as indices
};

struct PositionChoice {
  PositionReduce mode = PositionReduce::Mean;
  std::vector<int> index;  // Named: one token index per prompt
  std::string name;        // for reports ("mean", "last", or the position's name)
};

// Returns [n_prompts, n_layers * n_heads, d_model]; head index = layer * n_heads + head.
// Runs the model once per batch of `batch_size` prompts with only hook_z cached and no
// unembedding; since hook_result is linear in z, the reduction is applied to z first and
// W_O[h] afterwards (exactly the mean of hook_result, at 1/T of the cost).
Tensor collect_head_outputs(const Model& m, const std::vector<std::vector<int>>& prompts,
                            const PositionChoice& pos, int batch_size = 64);

// Matmul FLOPs that collect_head_outputs spends (for benchmarks).
double collect_head_outputs_flops(const ModelConfig& c, const std::vector<std::vector<int>>& prompts);

}  // namespace cs
