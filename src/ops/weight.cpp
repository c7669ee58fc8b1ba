#include "ops/weight.h"

#include <sys/mman.h>
#include <unistd.h>

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

Weight Weight::mapped(DType dtype, std::vector<int64_t> shape, bool transposed, const uint16_t* p,
                      std::shared_ptr<const void> keep) {
  Weight w = half(dtype, std::move(shape), transposed, p, std::move(keep));
  w.mapped_ = true;
  return w;
}

namespace {

void narrow(uint16_t* dst, const float* src, int64_t n, DType dtype) {
  if (dtype == DType::BF16) narrow_to_bf16(dst, src, n);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

void widen_any(float* dst, const uint16_t* src, int64_t n, DType dtype) {
  if (dtype == DType::BF16) widen_bf16(dst, src, n);
  else widen_f16(dst, src, n);
}

}  // namespace

Weight Weight::narrowed(const Tensor& t, DType dtype) {
  if (dtype == DType::F32) return Weight(t);
  if (dtype != DType::BF16 && dtype != DType::F16)
    throw Error(std::string("Weight::narrowed: cannot narrow to ") + dtype_name(dtype));
  auto bits = std::make_shared<std::vector<uint16_t>>(static_cast<size_t>(t.numel()));
  narrow(bits->data(), t.ptr(), t.numel(), dtype);
  const uint16_t* p = bits->data();
  return half(dtype, t.shape, false, p, std::move(bits));
}

Weight Weight::converted(DType dtype) const {
  if (dtype == dtype_ && !transposed_) {
    if (dtype_ == DType::F32) return *this;
    auto bits = std::make_shared<std::vector<uint16_t>>(half_, half_ + numel());
    const uint16_t* p = bits->data();
    return half(dtype_, shape, false, p, std::move(bits));
  }
  return narrowed(to_tensor(), dtype);
}

void Weight::scale_along(int axis, const float* s, bool keep_dtype) {
  if (empty()) return;
  if (shape.size() != 2) throw Error("Weight::scale_along: weight " + shape_str() + " is not 2-D");
  const int64_t R = shape[0], C = shape[1];
  if (dtype_ != DType::F32 && !keep_dtype) {
    Weight f(to_tensor());
    release_pages();
    *this = std::move(f);
  }
  if (dtype_ == DType::F32) {
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < C; ++j) data[i * C + j] *= s[axis == 0 ? i : j];
    return;
  }
  // Storage rows: R of C elements, or (transposed) C of R elements. A stored row is scaled by
  // one factor when the scaled axis runs across rows, elementwise by s when it runs along them.
  const bool along = (axis == 1) != transposed_;
  const int64_t rows = transposed_ ? C : R, cols = transposed_ ? R : C;
  auto bits = std::make_shared<std::vector<uint16_t>>(static_cast<size_t>(R * C));
#pragma omp parallel
  {
    std::vector<float> buf(cols);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      widen_any(buf.data(), half_ + r * cols, cols, dtype_);
      if (along)
        for (int64_t j = 0; j < cols; ++j) buf[j] *= s[j];
      else
        for (int64_t j = 0; j < cols; ++j) buf[j] *= s[r];
      narrow(bits->data() + r * cols, buf.data(), cols, dtype_);
    }
  }
  release_pages();
  const bool t = transposed_;
  const DType dt = dtype_;
  const uint16_t* p = bits->data();
  *this = half(dt, shape, t, p, std::move(bits));
}

void Weight::release_pages() const {
  if (!mapped_ || !half_) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(half_) + page - 1) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(half_ + numel())) / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

std::string Weight::shape_str() const {
  std::string r = "[";
  for (size_t i = 0; i < shape.size(); ++i) r += (i ? "," : "") + std::to_string(shape[i]);
  return r + "]";
}

const float* Weight::ptr() const {
  if (dtype_ != DType::F32)
    throw Error(std::string("a ") + dtype_name(dtype_) + " weight " + shape_str() +
                " reached code that reads f32 weights only (an internal error: that step should "
                "widen the model first with to_f32_weights)");
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

void Weight::elements_f32(int64_t begin, int64_t n, float* out) const {
  if (begin < 0 || n < 0 || begin + n > numel())
    throw Error("Weight::elements_f32: elements [" + std::to_string(begin) + "," +
                std::to_string(begin + n) + ") outside " + shape_str());
  if (dtype_ == DType::F32) {
    std::memcpy(out, data.data() + begin, static_cast<size_t>(n) * sizeof(float));
  } else if (!transposed_) {
    widen_any(out, half_ + begin, n, dtype_);
  } else {
    const MatRef m = mat();
    for (int64_t i = 0; i < n; ++i) out[i] = m.at((begin + i) / m.cols, (begin + i) % m.cols);
  }
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
  } else {
    widen_any(t.ptr(), half_, t.numel(), dtype_);
  }
  return t;
}

}  // namespace cs
