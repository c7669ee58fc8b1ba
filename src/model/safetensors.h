// Safetensors reader and writer (Hugging Face format).
// File layout: u64 little-endian header length N, then N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are bytes relative to the start of the data section.
// Spec: https://github.com/huggingface/safetensors (README, "Format").
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ops/dtype.h"
#include "ops/tensor.h"

namespace cs {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // byte offsets relative to the data section
};

// A parsed and validated header: every tensor's offsets inside the data section, which starts at
// byte data_offset of the file.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in header order
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;
};

// Validates the header of a safetensors file held in bytes[0, size): its length field, JSON,
// dtypes, shapes against data_offsets, offsets inside the file, no two tensors overlapping.
// Errors name `path`. SafetensorsFile's first step, and the safetensors fuzz target's entry point.
SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t size, const std::string& path);

// A safetensors file, memory-mapped read-only. The whole header is validated on open,
// so reads never touch bytes outside the file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in header order
  const TensorInfo* find(const std::string& name) const;               // nullptr if absent
  // F32/F16/BF16/F64 converted to float; throws on an absent tensor or an integer dtype.
  Tensor read_f32(const std::string& name) const;
  // Integer dtypes (I64/I32/I16/I8/U8/BOOL) widened to int64; throws on float dtypes.
  std::vector<int64_t> read_i64(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The tensor's bytes inside the mapping (valid while this object lives), any dtype.
  const uint8_t* bytes(const std::string& name) const { return bytes_of(require(name)); }
  // Drops the tensor's pages from this process's resident memory (the mapping stays valid: a
  // later read faults them back in from the file). For tensors copied out at load, so a model
  // read through the mapping never holds its bytes twice.
  void release(const std::string& name) const;

 private:
  const TensorInfo& require(const std::string& name) const;
  const uint8_t* bytes_of(const TensorInfo& t) const { return data_ + t.begin; }
  void unmap();

  std::string path_;
  const uint8_t* map_ = nullptr;  // whole file
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section, inside map_
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// Writes atomically: a temp file in the same directory, then rename over `path`.
// Tensors are converted to `dtype` (F32, F16 or BF16, round-to-nearest-even).
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       DType dtype, const std::map<std::string, std::string>& metadata = {});

// A tensor the writer pulls in chunks, so a checkpoint larger than memory can be written (random
// presets) and weights of any dtype saved without an f32 copy: read(begin, n, out) writes the f32
// values of row-major elements [begin, begin + n) to out.
struct TensorSource {
  std::string name;
  std::vector<int64_t> shape;
  std::function<void(int64_t begin, int64_t n, float* out)> read;
};
void write_safetensors(const std::string& path, const std::vector<TensorSource>& tensors,
                       DType dtype, const std::map<std::string, std::string>& metadata = {});

}  // namespace cs
