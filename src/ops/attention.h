// Causal self-attention for one (batch, head) at a time, on strided q/k/v rows.
#pragma once
#include <cstdint>

namespace cs {

// Every kernel works on the query rows at positions q0..T-1 of a sequence of T keys (R = T - q0
// rows; q0 = 0: the whole [T,T] matrix, q0 = T - 1: the last query only). q and z point at
// the row of position q0; scores and p are [R,T].

// scores[R,T] = scale * q[R,dh] k[T,dh]^T with row strides ldq/ldk; keys after the query
// (j > q0 + i) set to -inf (TransformerLens hook_attn_scores convention).
void attention_scores(float* scores, const float* q, int64_t ldq, const float* k, int64_t ldk,
                      int64_t T, int64_t dh, float scale, int64_t q0 = 0);
// In-place row softmax of causal scores [R,T] (masked entries become exactly 0).
void causal_softmax(float* p, int64_t T, int64_t q0 = 0);
// z[R,dh] (row stride ldz) = p[R,T] v[T,dh] (row stride ldv).
void attention_values(float* z, int64_t ldz, const float* p, const float* v, int64_t ldv,
                      int64_t T, int64_t dh, int64_t q0 = 0);

// Naive reference: z = softmax(mask(scale q k^T)) v, contiguous [T,dh] inputs; p [T,T] out.
void attention_naive(float* z, float* p, const float* q, const float* k, const float* v, int64_t T,
                     int64_t dh, float scale);

}  // namespace cs
