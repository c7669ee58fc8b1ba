// Rotary position embeddings (Su et al. 2021), "rotate_half" layout as in GPT-NeoX and Llama.
#pragma once
#include <cstdint>
#include <vector>

namespace cs {

// The rotary frequencies of a model: base theta, and optionally Llama 3.1's frequency scaling
// (config.json rope_scaling / rope_parameters with rope_type "llama3"): wavelengths longer than
// original_max_position / low_freq_factor are divided by factor, shorter than
// original_max_position / high_freq_factor kept, and those between interpolated smoothly.
struct Rope {
  float theta = 10000.0f;
  float factor = 0.0f;  // 0: no scaling
  float low_freq_factor = 1.0f, high_freq_factor = 4.0f;
  float original_max_position = 8192.0f;

  Rope() = default;
  Rope(float base) : theta(base) {}  // NOLINT: a bare theta is the unscaled rope
  bool scaled() const { return factor > 0.0f; }
};

// inv_freq [rot_dim / 2] in float32, computed as transformers does (modeling_rope_utils.py:
// _compute_default_rope_parameters, then _compute_llama3_parameters when scaled).
std::vector<float> rope_inv_freq(int64_t rot_dim, const Rope& rope);

// x: [T, n, dh] rows for positions pos0..pos0+T-1 (n heads per position, head stride dh, row
// stride ld); rotates the first rot_dim dims of each head in place: pairs (i, i + rot_dim/2).
void rotary_forward(float* x, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                    const Rope& rope, int64_t pos0 = 0);
// Inverse rotation (the backward pass of rotary_forward).
void rotary_backward(float* dx, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                     const Rope& rope, int64_t pos0 = 0);

}  // namespace cs
