// The forward pass of every supported architecture, with hook points at every intermediate.
#pragma once
#include "model/batch.h"
#include "model/hooks.h"
#include "model/model.h"

namespace cs {

enum class LogitsAt { All, Last, None };

struct ForwardOptions {
  LogitsAt logits = LogitsAt::All;  // Last: [B,V] at each sequence's last real token
  int stop_after_layer = -1;        // >= 0: skip layers after this one (logits then empty)
};

// tokens [B,T] -> logits [B,T,V] (All), [B,V] (Last) or empty (None).
Tensor forward(const Model& m, const Batch& batch, const Hooks* hooks = nullptr,
               const ForwardOptions& opts = {});

}  // namespace cs
