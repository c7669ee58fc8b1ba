#include "attribution/last_token_grad.h"

namespace cs {

LastTokenPass forward_last_token(const Model& m, const Batch& batch, const Hooks* hooks,
                                 const std::vector<int32_t>& vocab) {
  LastTokenPass p;
  p.vocab = vocab;
  p.logits = forward_record(m, batch, &p.rec, hooks, vocab, batch.last_positions());  // [B, V']
  return p;
}

void backward_last_token(const Model& m, const LastTokenPass& p, const Tensor& dlast,
                         const BackwardRequest& req, ActivationCache* hook_grads) {
  backward(m, p.rec, dlast, nullptr, req, hook_grads);
}

}  // namespace cs
