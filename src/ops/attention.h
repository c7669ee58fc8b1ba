// Causal self-attention for one (batch, head) at a time, on strided q/k/v rows.
#pragma once
#include <cstdint>

namespace cs {

// scores[T,T] = scale * q[T,dh] k[T,dh]^T with row strides ldq/ldk; entries above the diagonal
// set to -inf (TransformerLens hook_attn_scores convention).
void attention_scores(float* scores, const float* q, int64_t ldq, const float* k, int64_t ldk,
                      int64_t T, int64_t dh, float scale);
// In-place row softmax of a causal [T,T] score matrix (masked entries become exactly 0).
void causal_softmax(float* p, int64_t T);
// z[T,dh] (row stride ldz) = p[T,T] v[T,dh] (row stride ldv).
void attention_values(float* z, int64_t ldz, const float* p, const float* v, int64_t ldv,
                      int64_t T, int64_t dh);

// Naive reference: z = softmax(mask(scale q k^T)) v, contiguous [T,dh] inputs; p [T,T] out.
void attention_naive(float* z, float* p, const float* q, const float* k, const float* v, int64_t T,
                     int64_t dh, float scale);

}  // namespace cs
