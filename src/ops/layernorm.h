// Normalisation kernels over rows of length C.
#pragma once
#include <cstdint>

namespace cs {

// out[N,C] = (inp - mean) * rstd * w + b. mean/rstd [N] are saved for the backward pass (may be null).
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int64_t N, int64_t C, float eps);
// out[N,C] = inp * rsqrt(mean(inp^2) + eps) * w. rstd [N] may be null.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t N,
                     int64_t C, float eps);

// Naive references (double accumulation).
void layernorm_naive(float* out, const float* inp, const float* w, const float* b, int64_t N,
                     int64_t C, float eps);
void rmsnorm_naive(float* out, const float* inp, const float* w, int64_t N, int64_t C, float eps);

}  // namespace cs
