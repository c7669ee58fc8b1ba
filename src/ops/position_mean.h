// Per-position means of activations over prompts of different lengths (mean ablation, as
// TransformerLens-style ablations average over a reference batch): x [B,T,F], prompt b has
// lengths[b] real positions and padding after them.
#pragma once
#include <cstdint>

namespace cs {

// mean [T,F]: at position t, the mean over the prompts longer than t (0 where none is).
// fallback [F] (null: skipped): the mean over every real position of every prompt.
// Sums in double, prompts in order, so the result does not depend on threads.
void position_mean(float* mean, float* fallback, const float* x, int64_t B, int64_t T, int64_t F,
                   const int* lengths);

}  // namespace cs
