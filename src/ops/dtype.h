// Element types of checkpoints and weights, and the exact conversions between them.
// Shared by the safetensors reader/writer (model) and the dtype-aware GEMM (ops/gemm.h).
#pragma once
#include <cstdint>
#include <string>

namespace cs {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dt);   // "F32", "BF16", ...: the spelling of safetensors headers
int dtype_size(DType dt);           // bytes per element
bool dtype_from_name(const std::string& name, DType* out);  // false if unknown

// Exact widening conversions (every f16 and bf16 value is representable in f32).
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);
// Narrowing conversions, IEEE round-to-nearest-even; overflow goes to inf, NaN stays NaN.
uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);

// Bulk forms of the same conversions (vectorised loops; bit-identical to the scalar ones).
void widen_bf16(float* dst, const uint16_t* src, int64_t n);
void widen_f16(float* dst, const uint16_t* src, int64_t n);
void narrow_to_bf16(uint16_t* dst, const float* src, int64_t n);

}  // namespace cs
