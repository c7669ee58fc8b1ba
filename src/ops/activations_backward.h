// Backward passes of the pointwise activations in activations.h. dinp is overwritten
// (each activation has exactly one reader, unlike the residual stream).
#pragma once
#include <cstdint>

namespace cs {

// dinp[i] = gelu_new'(inp[i]) * dout[i]
void gelu_new_backward(float* dinp, const float* inp, const float* dout, int64_t n);
// dinp[i] = gelu_erf'(inp[i]) * dout[i]
void gelu_erf_backward(float* dinp, const float* inp, const float* dout, int64_t n);
// dinp[i] = (inp[i] > 0) * dout[i]
void relu_backward(float* dinp, const float* inp, const float* dout, int64_t n);
// out = silu(gate) * up:  dgate = dout * up * silu'(gate),  dup = dout * silu(gate).
void swiglu_backward(float* dgate, float* dup, const float* gate, const float* up,
                     const float* dout, int64_t n);

// out = gelu_new(gate) * up:  dgate = dout * up * gelu_new'(gate),  dup = dout * gelu_new(gate).
void geglu_backward(float* dgate, float* dup, const float* gate, const float* up,
                    const float* dout, int64_t n);

}  // namespace cs
