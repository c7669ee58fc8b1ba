#include "discovery/last_token_grad.h"

namespace cs {

std::vector<int64_t> last_positions(const Batch& batch) {
  std::vector<int64_t> p(batch.B);
  for (int64_t b = 0; b < batch.B; ++b) p[b] = b * batch.T + batch.last(b);
  return p;
}

LastTokenPass forward_last_token(const Model& m, const Batch& batch, const Hooks* hooks,
                                 const std::vector<int32_t>& vocab) {
  LastTokenPass p;
  p.vocab = vocab;
  p.logits = forward_record(m, batch, &p.rec, hooks, vocab, last_positions(batch));  // [B, V']
  return p;
}

void backward_last_token(const Model& m, LastTokenPass& p, const Tensor& dlast,
                         const BackwardRequest& req, ActivationCache* hook_grads) {
  backward(m, p.rec, dlast, nullptr, req, hook_grads);
}

}  // namespace cs
