// Tensor <-> numpy for the Python module. A Tensor handed to Python is moved onto the heap and
// the array views its buffer (no copy; the array owns it through a capsule). Arrays coming in are
// read in place when they are C-contiguous float32 (int64/int32 for tokens), else converted once.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <utility>
#include <vector>

#include "ops/tensor.h"

namespace cs::py_bind {

namespace py = pybind11;

// Zero-copy: the array takes the tensor's buffer.
inline py::array_t<float> to_numpy(Tensor&& t) {
  auto* owned = new Tensor(std::move(t));
  py::capsule base(owned, [](void* p) { delete static_cast<Tensor*>(p); });
  return py::array_t<float>(owned->shape, owned->ptr(), base);
}

// A float32 C-contiguous view of any array-like (converted, i.e. copied, only when it is not one).
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace cs::py_bind
