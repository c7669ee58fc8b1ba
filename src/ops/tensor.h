// Tensor: a dense row-major float32 array with a shape. Owns its data.
// Kept deliberately plain: kernels take raw pointers and explicit dims (llm.c style),
// this type only carries buffers between layers of the code.
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/aligned.h"

namespace cs {

// The cache-line-aligned allocator of ops/aligned.h, default-initialising: resize() leaves floats
// uninitialised, so a kernel output that is about to be overwritten is not zero-filled first.
// Aligned because glibc gives large blocks page + 16 bytes: a weight row whose 16-float loads
// straddle two lines costs the streamed GEMMs (ops/gemm_streamed.h) two misses per load.
template <class T>
struct DefaultInitAllocator : AlignedAllocator<T> {
  template <class U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <class U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float, DefaultInitAllocator<float>> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> s, float fill = 0.0f) : shape(std::move(s)) {
    data.assign(static_cast<size_t>(numel_of(shape)), fill);
  }
  // A tensor whose elements are left uninitialised: only for outputs a kernel overwrites whole
  // (sgemm with beta 0, norms, activations). Skips a memset of every element (forward pass over
  // 250 docstring prompts: ~10% of its time).
  static Tensor uninit(std::vector<int64_t> s) {
    Tensor t;
    t.shape = std::move(s);
    t.data.resize(static_cast<size_t>(numel_of(t.shape)));
    return t;
  }

  static int64_t numel_of(const std::vector<int64_t>& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
  }
  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  int ndim() const { return static_cast<int>(shape.size()); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  bool empty() const { return data.empty(); }

  // Reinterpret with a new shape of the same element count.
  void reshape(std::vector<int64_t> s) {
    if (numel_of(s) != numel()) throw std::invalid_argument("reshape: element count mismatch");
    shape = std::move(s);
  }
  std::string shape_str() const {
    std::string r = "[";
    for (size_t i = 0; i < shape.size(); ++i) r += (i ? "," : "") + std::to_string(shape[i]);
    return r + "]";
  }
};

// max |a-b| / max |b|: the normalised error used by every golden test.
inline double rel_max_error(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    num = std::max(num, d < 0 ? -d : d);
    den = std::max(den, static_cast<double>(b[i] < 0 ? -b[i] : b[i]));
  }
  return den == 0 ? num : num / den;
}

}  // namespace cs
