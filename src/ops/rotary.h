// Rotary position embeddings (Su et al. 2021), "rotate_half" layout as in GPT-NeoX and Llama.
#pragma once
#include <cstdint>

namespace cs {

// x: [T, n, dh] rows for positions pos0..pos0+T-1 (n heads per position, head stride dh, row
// stride ld); rotates the first rot_dim dims of each head in place: pairs (i, i + rot_dim/2).
void rotary_forward(float* x, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                    float theta, int64_t pos0 = 0);
// Inverse rotation (the backward pass of rotary_forward).
void rotary_backward(float* dx, int64_t T, int64_t n, int64_t dh, int64_t ld, int64_t rot_dim,
                     float theta, int64_t pos0 = 0);

}  // namespace cs
