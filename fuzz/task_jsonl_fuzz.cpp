// A user task file (JSON Lines), tokenized with the bundled GPT-2 tokenizer, with and without
// BOS and a prompt cap; an accepted task must be consistent (one answer per prompt, positions
// inside their prompts).
#include "fuzz.h"
#include "interp/task.h"
#include "model/tokenizer.h"

namespace {
const cs::Tokenizer& gpt2() {
  static const cs::Tokenizer t = cs::Tokenizer::for_model_dir(CS_SOURCE_DIR "/data/gpt2-tokenizer");
  return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (int variant = 0; variant < 2; ++variant)
    cs::fuzz::run([&] {
      cs::TaskOptions o;
      o.prepend_bos = variant == 1;
      o.max_file_prompts = variant == 1 ? 3 : 0;
      const cs::TokenizedTask t = cs::jsonl_task_from_text(text, "task.jsonl", gpt2(), o);
      if (t.answer.size() != t.size() || t.wrong.size() != t.size() || t.prompts.size() != t.size()) __builtin_trap();
      if (!t.corrupt.empty() && t.corrupt.size() != t.size()) __builtin_trap();
      if (!t.negative.empty() && t.negative.size() != t.size()) __builtin_trap();
      const auto& end = t.positions.at("end");
      for (size_t i = 0; i < t.size(); ++i)
        if (end[i] < 0 || static_cast<size_t>(end[i]) >= t.clean[i].size()) __builtin_trap();
    });
  return 0;
}
