// Gemma 2's soft-capping and sliding-window mask, as separate steps on score or logit rows, so
// the attention and unembedding kernels stay as they are (Gemma Team 2024b; transformers'
// modeling_gemma2.py eager_attention_forward and Gemma2ForCausalLM.forward).
#pragma once
#include <cstdint>

namespace cs {

// x[i] = cap * tanh(x[i] / cap), in place, for i < n (rows of length n_cols with stride ld when
// ld > n_cols: x is rows x n_cols). Applied to attention scores before the mask, and to logits.
void softcap_forward(float* x, int64_t rows, int64_t n_cols, int64_t ld, float cap);
// Its backward given the capped values y: dx = dy * (1 - (y / cap)^2), in place on d.
void softcap_backward(float* d, const float* y, int64_t rows, int64_t n_cols, int64_t ld, float cap);

// Sliding window on causal scores s[R,T] for query rows at positions q0..q0+R-1 (row stride ld):
// keys j <= i - window become -inf (a query attends to the `window` keys ending at itself:
// transformers' sliding_window_overlay keeps kv_idx > q_idx - window).
void mask_outside_window(float* s, int64_t R, int64_t T, int64_t ld, int64_t q0, int64_t window);

}  // namespace cs
