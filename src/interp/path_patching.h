// Path patching (Wang et al. 2022, sec. 3.1 and appendix B): the effect of one sender head on
// chosen receivers only, not through any other path.
//   1. clean and corrupted runs, caching every head's z (and every MLP's output);
//   2. a clean run where the sender's z takes its corrupted value and every other head and MLP
//      is frozen at its clean value; the receivers' inputs (blocks.L.hook_q_input / k_input /
//      v_input, the per-head copy of the residual each head reads) are recorded;
//   3. a clean run where only those receivers' inputs are patched with the recorded values; its
//      last-position logits are the result.
// With no receivers the path is sender -> logits: the run of step 2 (everything downstream
// frozen) gives the logits directly.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "interp/graph.h"
#include "model/batch.h"
#include "model/hooks.h"
#include "model/model.h"

namespace cs {

// A head's query, key or value input. For grouped-query models K and V inputs are per key/value
// head: a K/V receiver (layer, head) patches the input of head's group, which every query head
// of the group reads.
struct Receiver {
  int layer = 0, head = 0;
  QKV input = QKV::Q;
};

// The activations of steps 1, shared by every (sender, receivers) pair on the same batches.
struct PathPatchCache {
  ActivationCache clean;    // "blocks.L.attn.hook_z" [B,T,H,dh], "blocks.L.hook_mlp_out" [B,T,D]
  ActivationCache corrupt;  // "blocks.L.attn.hook_z" [B,T,H,dh]
  Tensor clean_logits;      // [B,V] at each prompt's last token
  int B = 0, T = 0;
};

// Clean and corrupted batches must have the same B and T (pair prompts of equal length).
PathPatchCache cache_for_path_patching(const Model& m, const Batch& clean, const Batch& corrupt);

// Logits [B,V] at the last position. Every receiver must be in a later layer than the sender.
Tensor path_patch(const Model& m, const Batch& clean, const PathPatchCache& cache,
                  std::pair<int, int> sender, const std::vector<Receiver>& receivers);
// Convenience: builds the cache (two extra forward passes) and patches.
Tensor path_patch(const Model& m, const Batch& clean, const Batch& corrupt,
                  std::pair<int, int> sender, const std::vector<Receiver>& receivers);

}  // namespace cs
