// Vector expf from glibc's libmvec (_ZGVdN8v_expf with AVX2, <= 1 ulp; linked through libm's
// linker script). glibc's <math.h> declares these SIMD variants only under -ffast-math; this
// declaration, the same one glibc writes, lets `#pragma omp simd` loops that call cs_expf
// vectorise without fast-math's other licences. Measured: gelu_new over 1.3M floats ~6x faster
// than scalar expf.
#pragma once

extern "C" float expf(float) noexcept __attribute__((simd("notinbranch")));

namespace cs {
inline float cs_expf(float x) { return ::expf(x); }
}  // namespace cs
