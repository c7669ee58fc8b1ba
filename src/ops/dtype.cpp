// DType names, sizes and conversions. See dtype.h.
#include "ops/dtype.h"

#include <bit>

namespace cs {

namespace {

constexpr DType kAllDTypes[] = {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I64,
                                DType::I32, DType::I16, DType::I8,   DType::U8,  DType::BOOL};

uint32_t f32_bits(float f) { return std::bit_cast<uint32_t>(f); }
float bits_f32(uint32_t u) { return std::bit_cast<float>(u); }

}  // namespace

// ---- dtypes -------------------------------------------------------------------------------

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::BOOL: return "BOOL";
  }
  return "?";
}

int dtype_size(DType dt) {
  switch (dt) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: return 1;
  }
  return 0;
}

bool dtype_from_name(const std::string& name, DType* out) {
  for (DType dt : kAllDTypes) {
    if (name == dtype_name(dt)) {
      *out = dt;
      return true;
    }
  }
  return false;
}

// ---- half-precision conversions ------------------------------------------------------------

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000 | (mant << 13));  // inf / NaN (payload kept)
  if (exp != 0) return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));  // rebias 15 -> 127
  if (mant == 0) return bits_f32(sign);
  // Subnormal: mant * 2^-24. With p the top set bit, that is 1.f * 2^(p-24).
  int p = std::bit_width(mant) - 1;
  uint32_t e32 = static_cast<uint32_t>(p + 103);  // p - 24 + 127
  return bits_f32(sign | (e32 << 23) | ((mant << (23 - p)) & 0x7fffff));
}

float bf16_to_f32(uint16_t b) { return bits_f32(static_cast<uint32_t>(b) << 16); }

uint16_t f32_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7fffffff;
  if (x > 0x7f800000) return sign | 0x7e00 | ((x >> 13) & 0x3ff);  // NaN: quiet, top payload
  if (x >= 0x477ff000) return sign | 0x7c00;  // >= 65520 (65504 + half ulp, tie to even) -> inf
  if (x >= 0x38800000) {                       // normal f16 (>= 2^-14)
    uint32_t r = (((x >> 23) - 112) << 10) | ((x >> 13) & 0x3ff);
    uint32_t rem = x & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) ++r;  // a carry into the exponent is right
    return sign | static_cast<uint16_t>(r);
  }
  // Subnormal f16: round(|f| * 2^24). Below 2^-25 (f32 exponent 102) that rounds to zero.
  uint32_t e32 = x >> 23;
  if (e32 < 102) return sign;
  uint32_t m = (x & 0x7fffff) | 0x800000;  // |f| = m * 2^(e32 - 150)
  uint32_t shift = 126 - e32;              // 14..24
  uint32_t r = m >> shift;
  uint32_t rem = m & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (r & 1))) ++r;  // r == 0x400 is the smallest normal: right
  return sign | static_cast<uint16_t>(r);
}

uint16_t f32_to_bf16(float f) {
  uint32_t x = f32_bits(f);
  if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x0040);  // quiet NaN
  x += 0x7fff + ((x >> 16) & 1);  // round to nearest even; overflow correctly lands on inf
  return static_cast<uint16_t>(x >> 16);
}

// ---- bulk conversions ----------------------------------------------------------------------

void widen_bf16(float* dst, const uint16_t* src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(static_cast<uint32_t>(src[i]) << 16);
}

void widen_f16(float* dst, const uint16_t* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

void narrow_to_bf16(uint16_t* dst, const float* src, int64_t n) {
  // Branch-free form of f32_to_bf16: NaN keeps its sign and top payload, quieted.
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t x = std::bit_cast<uint32_t>(src[i]);
    const uint32_t rounded = (x + 0x7fff + ((x >> 16) & 1)) >> 16;
    const uint32_t nan = (x >> 16) | 0x0040;
    dst[i] = static_cast<uint16_t>((x & 0x7fffffff) > 0x7f800000 ? nan : rounded);
  }
}

}  // namespace cs
