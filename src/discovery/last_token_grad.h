// Forward and backward passes for a metric that reads only each prompt's last-token logits, over
// the whole vocabulary (KL, probability difference), without the [B, T, V] logits that
// model/backward.h's forward_record returns when no vocabulary subset is given (GPT-2: 50,257
// floats per token; most of the pass's time and memory).
//
// How: forward_record runs with vocab_rows = {0 .. D-1} (its logits, [B, T, D], are not used); the
// last-token logits [B, V] are computed here from the record's ln_final rows. For the backward,
// the record's gathered unembedding rows are replaced by the D x D identity, so that backward()'s
// unembedding step (d ln_final = dlogits W_U_rows) receives d metric / d ln_final = dlast W_U
// exactly. Vocabularies no larger than D take the plain path (full logits).
#pragma once
#include <cstdint>
#include <vector>

#include "model/backward.h"

namespace cs {

struct LastTokenPass {
  ForwardRecord rec;
  Tensor logits;                 // [B, V'] at each prompt's last token
  std::vector<int32_t> vocab;    // columns of logits (empty: all V)
  bool via_identity = false;
};

// vocab: sorted token ids the metric reads (metric_vocab), or empty for the whole vocabulary.
LastTokenPass forward_last_token(const Model& m, const Batch& batch, const Hooks* hooks,
                                 const std::vector<int32_t>& vocab);

// dlast [B, V']: d metric / d logits at the last token. Hook gradients as backward().
void backward_last_token(const Model& m, LastTokenPass& pass, const Batch& batch, const Tensor& dlast,
                         const BackwardRequest& req, ActivationCache* hook_grads);

}  // namespace cs
