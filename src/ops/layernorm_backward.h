// Backward passes of the normalisation kernels in layernorm.h.
// Convention (llm.c): every gradient output is accumulated into (+=), so one buffer can collect the
// contributions of several readers (the residual stream); pass nullptr to skip a parameter gradient.
#pragma once
#include <cstdint>

namespace cs {

// Backward of out[N,C] = (inp - mean) * rstd * w + b, with mean/rstd [N] as layernorm_forward
// saved them. dinp [N,C] += d/dinp; dweight, dbias [C] += (either may be null).
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean, const float* rstd,
                        int64_t N, int64_t C);
// Backward of out[N,C] = inp * rstd * w, rstd [N] as rmsnorm_forward saved it.
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t N, int64_t C);

}  // namespace cs
