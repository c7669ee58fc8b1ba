// Which hook points a model's forward pass goes through, with the shape of each activation, and
// hook names with wildcards ("blocks.*.attn.hook_z") matched against them. Architectures differ:
// rotary models have no hook_pos_embed, parallel-residual ones no hook_resid_mid, attention-only
// ones no MLP hooks; listing what a real forward pass visits is the one answer that cannot drift
// from the forward code.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/hooks.h"
#include "model/model.h"

namespace cs {

struct HookShape {
  HookPoint point;
  std::vector<int64_t> shape;  // for the batch given to hook_shapes
};

// Every hook point of `m`'s forward, in the order the forward visits them, with its shape for
// `batch` prompts of `seq_len` tokens (found by forwards of that size with every point hooked;
// hooks that exist only when asked for, such as hook_result and hook_q/k/v_input, are included).
std::vector<HookShape> hook_shapes(const Model& m, int batch, int seq_len);

// The points among `all` whose names match `pattern`: a TransformerLens name, or one with '*'
// (any run of characters, dots included) and '?' wildcards. Throws cs::Error naming the pattern
// when nothing matches (a misspelt name, or a point this architecture does not have).
std::vector<HookPoint> match_hooks(const std::string& pattern, const std::vector<HookShape>& all);

}  // namespace cs
