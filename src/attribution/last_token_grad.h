// Forward and backward passes for a metric that reads only each prompt's last-token logits
// (KL, probability difference, logit difference), without the [B, T, V] logits a full
// forward_record would unembed (GPT-2: 50,257 floats per token; most of the pass's time and
// memory): forward_record's logit_positions keeps one row per prompt.
#pragma once
#include <cstdint>
#include <vector>

#include "model/backward.h"

namespace cs {

struct LastTokenPass {
  ForwardRecord rec;
  Tensor logits;                 // [B, V'] at each prompt's last token
  std::vector<int32_t> vocab;    // columns of logits (empty: all V)
};

// vocab: sorted token ids the metric reads (metric_vocab), or empty for the whole vocabulary.
LastTokenPass forward_last_token(const Model& m, const Batch& batch, const Hooks* hooks,
                                 const std::vector<int32_t>& vocab);

// dlast [B, V']: d metric / d logits at the last token. Hook gradients as backward().
void backward_last_token(const Model& m, const LastTokenPass& pass, const Tensor& dlast,
                         const BackwardRequest& req, ActivationCache* hook_grads);

}  // namespace cs
