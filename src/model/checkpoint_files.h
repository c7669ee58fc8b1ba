// CheckpointFiles: the weights of a Hugging Face model directory, as one name -> tensor view.
// Either a single model.safetensors, or model.safetensors.index.json whose "weight_map" sends
// each tensor name to a shard file in the same directory. Every file is opened (mmapped and
// validated) up front, so a bad checkpoint fails at load time rather than mid-run.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/safetensors.h"
#include "ops/tensor.h"

namespace cs {

// model.safetensors.index.json's text -> its weight_map as (tensor name, shard file) pairs in
// file order, every shard a relative path inside the model directory. Errors name `index`.
// CheckpointFiles' first step for sharded checkpoints, and the index fuzz target's entry point.
std::vector<std::pair<std::string, std::string>> parse_safetensors_index(const std::string& text,
                                                                         const std::string& index);

class CheckpointFiles {
 public:
  explicit CheckpointFiles(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  Tensor read_f32(const std::string& name) const;         // errors name the file and tensor
  std::vector<std::string> names() const { return names_; }  // header / weight_map order
  const std::string& file_of(const std::string& name) const;  // path of the file holding it
  // The tensor's bytes in its file's mapping, and what keeps every mapping alive (a weight that
  // views the bytes holds it, so the files stay mapped as long as the model lives).
  const uint8_t* bytes(const std::string& name) const { return require(name).bytes(name); }
  std::shared_ptr<const void> keep() const { return files_; }
  void release(const std::string& name) const { require(name).release(name); }
  // Bytes of every tensor in the checkpoint (file sizes less headers).
  uint64_t data_bytes() const;

 private:
  const SafetensorsFile& require(const std::string& name) const;

  std::string dir_;
  std::shared_ptr<std::vector<SafetensorsFile>> files_ = std::make_shared<std::vector<SafetensorsFile>>();
  std::unordered_map<std::string, size_t> where_;  // tensor name -> index into files_
  std::vector<std::string> names_;
};

}  // namespace cs
