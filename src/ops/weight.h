// Weight: one parameter matrix (or vector) of a model in its storage dtype, and MatRef, the
// non-owning view of a 2-D weight that the GEMM entry points (ops/gemm.h) take.
//
// Storage is one of
//   - F32, owned, in the canonical layout: weights built or trained in memory and f32
//     checkpoints. `data` holds the elements, exactly as a Tensor's; ptr() and data work as
//     they always have, so f32 code (trainer, weight processing, toy models) is unchanged;
//   - BF16 or F16, read-only: a view into the memory-mapped checkpoint (kept alive by `keep`),
//     or an owned immutable buffer (fused q/k/v, weights narrowed at load). A 2-D half weight
//     may be stored transposed: nn.Linear keeps [out, in] on disk, the canonical layout is
//     [in, out], and the GEMM reads either (so no copy is made to transpose).
// Half weights are never widened whole: the GEMM widens the panel it is working on (exact
// precision) or hands the bf16 bits to oneDNN (bf16 precision). Code that needs f32 elements of
// a half weight reads them through row()/to_tensor(), and f32-only code gets a clear error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/dtype.h"
#include "ops/tensor.h"

namespace cs {

// A 2-D matrix of logical shape [rows, cols] in any float dtype: element (r, c) is at
// p[r * ld + c], or p[c * ld + r] when trans (stored as its transpose, [cols, rows]).
struct MatRef {
  DType dtype = DType::F32;
  const void* p = nullptr;
  int64_t rows = 0, cols = 0;
  int64_t ld = 0;  // elements between consecutive stored rows
  bool trans = false;

  static MatRef f32(const float* p, int64_t rows, int64_t cols, int64_t ld) {
    return {DType::F32, p, rows, cols, ld, false};
  }
  // The rows [r0, r0 + nr) and columns [c0, c0 + nc) of this matrix.
  MatRef block(int64_t r0, int64_t nr, int64_t c0, int64_t nc) const;
  MatRef t() const { return {dtype, p, cols, rows, ld, !trans}; }  // the transpose
  // Element (r, c) widened to f32 (slow: for references and tests).
  float at(int64_t r, int64_t c) const;
};

class Weight {
 public:
  std::vector<int64_t> shape;                             // logical shape (canonical layout)
  std::vector<float, DefaultInitAllocator<float>> data;   // F32 elements; empty for half dtypes

  Weight() = default;
  Weight(Tensor t) : shape(std::move(t.shape)), data(std::move(t.data)) {}  // owned f32
  // A half (BF16/F16) weight over `p` (which `keep` keeps alive); transposed: 2-D only,
  // stored as [shape[1], shape[0]].
  static Weight half(DType dtype, std::vector<int64_t> shape, bool transposed, const uint16_t* p,
                     std::shared_ptr<const void> keep);
  // The same over bytes of a memory-mapped file (release_pages may drop them from memory).
  static Weight mapped(DType dtype, std::vector<int64_t> shape, bool transposed, const uint16_t* p,
                       std::shared_ptr<const void> keep);
  // An owned half weight narrowed from f32 elements in the canonical layout.
  static Weight narrowed(const Tensor& t, DType dtype);

  DType dtype() const { return dtype_; }
  bool is_f32() const { return dtype_ == DType::F32; }
  bool transposed() const { return transposed_; }
  int64_t numel() const { return shape.empty() ? 0 : Tensor::numel_of(shape); }
  bool empty() const { return numel() == 0; }
  int64_t dim(int i) const { return shape.at(i < 0 ? shape.size() + i : i); }
  int ndim() const { return static_cast<int>(shape.size()); }
  std::string shape_str() const;
  size_t storage_bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  // F32 elements; throws cs::Error for a half weight ("this path needs f32 weights").
  const float* ptr() const;
  float* ptr();
  // The 2-D view for the GEMM (any dtype).
  MatRef mat() const;
  // Logical rows [r0, r0 + n) of a 2-D weight, widened to f32 into out [n, cols].
  void rows_f32(int64_t r0, int64_t n, float* out) const;
  // Canonical row-major elements [begin, begin + n) as f32 (any dtype, any storage order).
  void elements_f32(int64_t begin, int64_t n, float* out) const;
  // A canonical-layout f32 copy (small weights: norms, biases, tests).
  Tensor to_tensor() const;
  // A copy in `dtype` (F32, BF16 or F16; values rounded to nearest even), canonical layout.
  Weight converted(DType dtype) const;
  // The same weight with logical element (i, j) multiplied by s[i] (axis 0) or s[j] (axis 1).
  // An f32 weight is scaled in place. A half weight comes back owned: in its dtype and storage
  // order (each product rounded once) if keep_dtype, else as exact f32 products, canonical.
  // Folding an RMSNorm scale into the matrix that reads its output.
  void scale_along(int axis, const float* s, bool keep_dtype);
  // A memory-mapped weight that has been copied out drops its pages from resident memory
  // (they would be read back from the file if used again); no-op otherwise.
  void release_pages() const;

 private:
  DType dtype_ = DType::F32;
  bool transposed_ = false;
  const uint16_t* half_ = nullptr;
  bool mapped_ = false;
  std::shared_ptr<const void> keep_;
};

}  // namespace cs
