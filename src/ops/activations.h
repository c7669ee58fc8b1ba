// Pointwise activations.
#pragma once
#include <cstdint>

namespace cs {

// GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
void gelu_new_forward(float* out, const float* inp, int64_t n);
// Exact erf GELU (GPT-NeoX "gelu").
void gelu_erf_forward(float* out, const float* inp, int64_t n);
// SwiGLU's gate: out = silu(gate) * up.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
// GeGLU's gate (Gemma): out = gelu_new(gate) * up.
void geglu_forward(float* out, const float* gate, const float* up, int64_t n);

double gelu_new_naive(double x);
double gelu_erf_naive(double x);
double silu_naive(double x);

}  // namespace cs
