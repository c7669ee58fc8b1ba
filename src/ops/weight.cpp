#include "ops/weight.h"

#include <cstring>

#include "ops/error.h"

namespace cs {

MatRef MatRef::block(int64_t r0, int64_t nr, int64_t c0, int64_t nc) const {
  MatRef b = *this;
  const int64_t off = trans ? c0 * ld + r0 : r0 * ld + c0;
  b.p = static_cast<const char*>(p) + off * dtype_size(dtype);
  b.rows = nr;
  b.cols = nc;
  return b;
}

float MatRef::at(int64_t r, int64_t c) const {
  const int64_t i = trans ? c * ld + r : r * ld + c;
  switch (dtype) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    default: throw Error(std::string("MatRef: unsupported dtype ") + dtype_name(dtype));
  }
}

Weight Weight::half(DType dtype, std::vector<int64_t> shape, bool transposed, const uint16_t* p,
                    std::shared_ptr<const void> keep) {
  if (dtype != DType::BF16 && dtype != DType::F16)
    throw Error(std::string("Weight::half: dtype ") + dtype_name(dtype) + " is not BF16 or F16");
  if (transposed && shape.size() != 2) throw Error("Weight::half: only a 2-D weight can be transposed");
  Weight w;
  w.shape = std::move(shape);
  w.dtype_ = dtype;
  w.transposed_ = transposed;
  w.half_ = p;
  w.keep_ = std::move(keep);
  return w;
}

Weight Weight::narrowed(const Tensor& t, DType dtype) {
  if (dtype == DType::F32) return Weight(t);
  if (dtype != DType::BF16) throw Error(std::string("Weight::narrowed: cannot narrow to ") + dtype_name(dtype));
  auto bits = std::make_shared<std::vector<uint16_t>>(static_cast<size_t>(t.numel()));
  narrow_to_bf16(bits->data(), t.ptr(), t.numel());
  const uint16_t* p = bits->data();
  return half(dtype, t.shape, false, p, std::move(bits));
}

std::string Weight::shape_str() const {
  std::string r = "[";
  for (size_t i = 0; i < shape.size(); ++i) r += (i ? "," : "") + std::to_string(shape[i]);
  return r + "]";
}

const float* Weight::ptr() const {
  if (dtype_ != DType::F32)
    throw Error(std::string("a ") + dtype_name(dtype_) + " weight " + shape_str() +
                " reached code that needs f32 weights; load the model with --precision exact "
                "and f32 weights (--dtype f32) for this method");
  return data.data();
}

float* Weight::ptr() { return const_cast<float*>(static_cast<const Weight*>(this)->ptr()); }

MatRef Weight::mat() const {
  if (shape.size() != 2) throw Error("Weight::mat: weight " + shape_str() + " is not 2-D");
  if (dtype_ == DType::F32) return MatRef::f32(data.data(), shape[0], shape[1], shape[1]);
  return {dtype_, half_, shape[0], shape[1], transposed_ ? shape[0] : shape[1], transposed_};
}

void Weight::rows_f32(int64_t r0, int64_t n, float* out) const {
  const MatRef m = mat();
  if (r0 < 0 || n < 0 || r0 + n > m.rows)
    throw Error("Weight::rows_f32: rows [" + std::to_string(r0) + "," + std::to_string(r0 + n) +
                ") outside " + shape_str());
  const int64_t C = m.cols;
  if (!m.trans) {
    for (int64_t r = 0; r < n; ++r) {
      float* o = out + r * C;
      const int64_t at = (r0 + r) * m.ld;
      if (m.dtype == DType::F32) std::memcpy(o, static_cast<const float*>(m.p) + at, C * sizeof(float));
      else if (m.dtype == DType::BF16) widen_bf16(o, static_cast<const uint16_t*>(m.p) + at, C);
      else widen_f16(o, static_cast<const uint16_t*>(m.p) + at, C);
    }
    return;
  }
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = m.at(r0 + r, c);
}

Tensor Weight::to_tensor() const {
  if (dtype_ == DType::F32) {
    Tensor t = Tensor::uninit(shape);
    if (!data.empty()) std::memcpy(t.ptr(), data.data(), data.size() * sizeof(float));
    return t;
  }
  Tensor t = Tensor::uninit(shape);
  if (shape.size() == 2) {
    rows_f32(0, shape[0], t.ptr());
  } else if (dtype_ == DType::BF16) {
    widen_bf16(t.ptr(), half_, t.numel());
  } else {
    widen_f16(t.ptr(), half_, t.numel());
  }
  return t;
}

}  // namespace cs
