// Whether a model's prompts start with BOS when nobody says: TransformerLens (which O'Neill & Bui
// used) prepends BOS by default, so a model that says nothing gets it. A model trained on rows
// without BOS says so in its config.json with TransformerLens's key "default_prepend_bos": false
// (the shipped zoo model). The CLI's --prepend-bos / --no-prepend-bos and the Python module's
// prepend_bos= override it.
#pragma once
#include <string>

#include "model/tokenizer.h"

namespace cs {

struct BosChoice {
  bool prepend = true;
  std::string why;  // "--prepend-bos", "default_prepend_bos in the model's config.json", ...
};

// The model's default: config.json's default_prepend_bos, else whether the tokenizer has a BOS.
BosChoice default_prepend_bos(const std::string& model_dir, const Tokenizer& tok);

}  // namespace cs
