// The forward pass of every supported architecture, with hook points at every intermediate.
#pragma once
#include <vector>

#include "model/batch.h"
#include "model/hooks.h"
#include "model/model.h"

namespace cs {

enum class LogitsAt { All, Last, None };

struct ForwardOptions {
  LogitsAt logits = LogitsAt::All;  // Last: [B,V] at each sequence's last real token
  int stop_after_layer = -1;        // >= 0: skip layers after this one (logits then empty)
  // > 0: skip the embedding and layers before this one, starting from *start_resid, the
  // residual stream entering this layer ([B,T,D], e.g. blocks.L.hook_resid_pre of an earlier
  // pass with the same hooks on the skipped layers). As TransformerLens's start_at_layer.
  int start_at_layer = 0;
  const Tensor* start_resid = nullptr;
  // LogitsAt::Last only: the logits of these vocabulary ids alone, [B,K] in this order (a metric
  // that reads a few tokens' logits need not pay for the whole unembedding).
  const std::vector<int>* vocab_columns = nullptr;
  // With stop_after_layer: end that layer at its hook_z (skip its output projection and MLP),
  // for callers that read only hook_z (head-output collection).
  bool stop_at_z = false;
};

// tokens [B,T] -> logits [B,T,V] (All), [B,V] (Last) or empty (None). Hooks on the embedding
// and on skipped layers do not run.
Tensor forward(const Model& m, const Batch& batch, const Hooks* hooks = nullptr,
               const ForwardOptions& opts = {});

}  // namespace cs
