// Flags shared by the commands that run a task on a model (discover, compare): the ground truth
// to evaluate against.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "discovery/ground_truth.h"

namespace cs {

// --truth: a name under data/truth, a file path, "none", or (empty) the model's own reference
// circuit MODEL/circuits/<task>.json when the model ships one.
inline std::optional<GroundTruth> resolve_truth(const std::string& flag, const std::string& model_dir,
                                                const std::string& task) {
  if (flag == "none") return std::nullopt;
  if (flag.empty()) {
    auto own = std::filesystem::path(model_dir) / "circuits" / (task + ".json");
    if (std::filesystem::exists(own)) return load_ground_truth(own.string());
    return std::nullopt;
  }
  if (std::filesystem::exists(flag)) return load_ground_truth(flag);
  return ground_truth_by_name(flag);
}

}  // namespace cs
