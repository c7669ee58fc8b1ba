// CheckpointFiles: single-file or sharded (index.json + weight_map) safetensors checkpoints.
#include "model/checkpoint_files.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ops/error.h"
#include "ops/files.h"

namespace cs {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;  // keeps weight_map order for names()

namespace {

constexpr const char* kSingle = "model.safetensors";
constexpr const char* kIndex = "model.safetensors.index.json";

// Shard names come from a downloaded file: keep them inside the model directory.
bool safe_shard_name(const std::string& s) {
  if (s.empty() || fs::path(s).is_absolute()) return false;
  for (const fs::path& part : fs::path(s))
    if (part == "..") return false;
  return true;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_safetensors_index(const std::string& text, const std::string& index) {
  ojson j;
  try {
    j = ojson::parse(text);
  } catch (const ojson::parse_error& e) {
    throw Error(index + ": not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const ojson::exception&) {  // out_of_range.406: a number beyond double's range
    throw Error(index + ": not valid JSON (a number too large for a double)");
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(index + ": no \"weight_map\" object; not a safetensors index");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, v] : j["weight_map"].items()) {
    if (!v.is_string()) throw Error(index + ": weight_map entry for " + name + " is not a string");
    const std::string shard = v.get<std::string>();
    if (!safe_shard_name(shard))
      throw Error(index + ": weight_map entry for " + name + " names shard " + ojson(shard).dump() +
                  ", which is not a file inside the model directory");
    out.emplace_back(name, shard);
  }
  return out;
}

CheckpointFiles::CheckpointFiles(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(dir + ": not a directory; expected a Hugging Face model directory");
  const std::string single = (fs::path(dir) / kSingle).string();
  const std::string index = (fs::path(dir) / kIndex).string();

  if (fs::exists(fs::symlink_status(single, ec))) {
    files_->emplace_back(single);
    for (const TensorInfo& t : (*files_)[0].tensors()) {
      where_[t.name] = 0;
      names_.push_back(t.name);
    }
    return;
  }
  if (!fs::exists(fs::symlink_status(index, ec)))
    throw Error(dir + ": no weights found; looked for " + kSingle + " and " + kIndex);

  std::unordered_map<std::string, size_t> shard_ids;  // shard file name -> index into files_
  for (const auto& [name, shard] : parse_safetensors_index(read_input_file(index, kMaxSmallJsonBytes), index)) {
    auto it = shard_ids.find(shard);
    if (it == shard_ids.end()) {
      const std::string shard_path = (fs::path(dir) / shard).string();
      if (!fs::exists(fs::symlink_status(shard_path, ec)))
        throw Error(index + ": shard " + shard + " (holding " + name + ") is missing; looked for " +
                    shard_path);
      files_->emplace_back(shard_path);
      it = shard_ids.emplace(shard, files_->size() - 1).first;
    }
    if (!(*files_)[it->second].find(name))
      throw Error(index + ": weight_map puts tensor " + name + " in " + shard +
                  ", but that shard has no such tensor");
    where_[name] = it->second;
    names_.push_back(name);
  }
}

const SafetensorsFile& CheckpointFiles::require(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error(dir_ + ": checkpoint has no tensor named " + name);
  return (*files_)[it->second];
}

const TensorInfo* CheckpointFiles::find(const std::string& name) const {
  auto it = where_.find(name);
  return it == where_.end() ? nullptr : (*files_)[it->second].find(name);
}

uint64_t CheckpointFiles::data_bytes() const {
  uint64_t n = 0;
  for (const std::string& name : names_) {
    const TensorInfo* t = find(name);
    n += t->end - t->begin;
  }
  return n;
}

Tensor CheckpointFiles::read_f32(const std::string& name) const {
  Tensor t = require(name).read_f32(name);  // SafetensorsFile errors carry the shard path
  release(name);                            // copied: its pages need not stay resident
  return t;
}

const std::string& CheckpointFiles::file_of(const std::string& name) const {
  return require(name).path();
}

}  // namespace cs
