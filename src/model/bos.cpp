#include "model/bos.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace cs {

BosChoice default_prepend_bos(const std::string& model_dir, const Tokenizer& tok) {
  if (!model_dir.empty()) {
    std::ifstream f(std::filesystem::path(model_dir) / "config.json");
    const nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("default_prepend_bos") && j["default_prepend_bos"].is_boolean())
      return {j["default_prepend_bos"].get<bool>(), "default_prepend_bos in the model's config.json"};
  }
  if (tok.adds_bos()) return {true, "the tokenizer adds it, as transformers' tokenizer(text) does"};
  if (tok.bos_id() < 0) return {false, "the tokenizer has no BOS token"};
  return {true, "TransformerLens's default"};
}

}  // namespace cs
