#include "discovery/last_token_grad.h"

#include <algorithm>
#include <numeric>

#include "ops/matmul.h"

namespace cs {

LastTokenPass forward_last_token(const Model& m, const Batch& batch, const Hooks* hooks,
                                 const std::vector<int32_t>& vocab) {
  const ModelConfig& c = m.cfg;
  const int64_t D = c.d_model, B = batch.B, T = batch.T;
  LastTokenPass p;
  p.vocab = vocab;
  p.via_identity = vocab.empty() && c.vocab_size > D;
  std::vector<int32_t> rows = vocab;
  if (p.via_identity) {
    rows.resize(static_cast<size_t>(D));
    std::iota(rows.begin(), rows.end(), 0);
  }
  const Tensor all = forward_record(m, batch, &p.rec, hooks, rows);  // [B,T,V'] or [B,T,D]
  if (!p.via_identity) {
    const int64_t V = all.dim(2);
    p.logits = Tensor({B, V});
    for (int64_t b = 0; b < B; ++b)
      std::copy_n(all.ptr() + (b * T + batch.last(b)) * V, V, p.logits.ptr() + b * V);
    return p;
  }
  const int64_t V = c.vocab_size;
  Tensor x({B, D});
  for (int64_t b = 0; b < B; ++b)
    std::copy_n(p.rec.ln_final.ptr() + (b * T + batch.last(b)) * D, D, x.ptr() + b * D);
  p.logits = Tensor({B, V});
  matmul_nt(p.logits.ptr(), x.ptr(), m.w.W_U.ptr(), m.w.b_U.empty() ? nullptr : m.w.b_U.ptr(), B, D, V);
  return p;
}

void backward_last_token(const Model& m, LastTokenPass& p, const Batch& batch, const Tensor& dlast,
                         const BackwardRequest& req, ActivationCache* hook_grads) {
  const int64_t D = m.cfg.d_model, B = batch.B, T = batch.T;
  Tensor g = dlast;  // [B, V'] -> the gradient the unembedding step must pass on
  int64_t width = dlast.dim(1);
  if (p.via_identity) {
    g = Tensor({B, D});  // d metric / d ln_final = dlast W_U
    matmul(g.ptr(), dlast.ptr(), m.w.W_U.ptr(), nullptr, B, m.cfg.vocab_size, D);
    p.rec.W_U_rows = Tensor({D, D});
    for (int64_t i = 0; i < D; ++i) p.rec.W_U_rows.data[i * D + i] = 1.0f;
    width = D;
  }
  Tensor dlogits({B, T, width});
  for (int64_t b = 0; b < B; ++b)
    std::copy_n(g.ptr() + b * width, width, dlogits.ptr() + (b * T + batch.last(b)) * width);
  backward(m, p.rec, dlogits, nullptr, req, hook_grads);
}

}  // namespace cs
