// Backward of causal self-attention (attention.h), one (batch, head) at a time on strided rows.
#pragma once
#include <cstdint>

namespace cs {

// Backward of causal_softmax on one [T,T] matrix: ds = p * (dp - rowsum(p * dp)).
// Entries above the diagonal (masked in the forward) get 0. ds may alias dp.
void causal_softmax_backward(float* ds, const float* p, const float* dp, int64_t T);

// Backward of z = P v, P = causal_softmax(scale q k^T), for one head, given P [T,T] as saved:
//   dp [T,T]  = dz v^T             (overwritten: d/d pattern, above-diagonal entries included)
//   ds [T,T]  = softmax_backward    (overwritten: d/d attention scores; may not alias dp)
//   dq [T,dh] = scale ds k          (overwritten)
//   dk [T,dh] += scale ds^T q,  dv [T,dh] += P^T dz   (accumulated: grouped-query heads share k, v)
// Row strides: ldq for q/dq, ldkv for k/v/dk/dv, ldz for dz.
void attention_backward(float* dq, float* dk, float* dv, float* dp, float* ds, const float* dz,
                        int64_t ldz, const float* p, const float* q, int64_t ldq, const float* k,
                        const float* v, int64_t ldkv, int64_t T, int64_t dh, float scale);

// The same when the scores were soft-capped before the mask (Gemma 2: s = cap tanh(s0 / cap),
// s0 = scale q k^T): y [T,T] holds the capped scores s (causal entries; the rest is not read).
// ds is d/d s (what hook_attn_scores sees), ds0 [T,T] (scratch, overwritten) d/d s0 =
// ds (1 - (s / cap)^2), and dq, dk are taken from ds0.
void attention_backward_softcap(float* dq, float* dk, float* dv, float* dp, float* ds, float* ds0,
                                const float* dz, int64_t ldz, const float* p, const float* y,
                                float cap, const float* q, int64_t ldq, const float* k,
                                const float* v, int64_t ldkv, int64_t T, int64_t dh, float scale);

}  // namespace cs
