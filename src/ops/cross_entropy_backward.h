// Softmax cross-entropy over rows of logits, forward and backward in one pass.
#pragma once
#include <cstdint>

namespace cs {

// For each row n of logits [N,V] with target t = targets[n]:
//   losses[n] = logsumexp(logits[n]) - logits[n,t]
//   dlogits[n] = dloss * (softmax(logits[n]) - onehot(t))      (if dlogits != null; overwritten)
// A negative target marks an ignored row: loss 0 and a zero gradient row.
// Throws cs::Error if a target is >= V.
void cross_entropy_forward_backward(float* losses, float* dlogits, const float* logits,
                                    const int32_t* targets, int64_t N, int64_t V, float dloss);

}  // namespace cs
