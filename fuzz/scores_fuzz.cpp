// Head-score files as `eval --scores` reads them (a discover circuit.json, or {"scores": {...}}),
// for two fields; accepted scores stay within the supported model shape.
#include "evaluation/scores_file.h"
#include "fuzz.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* field : {"score", "softmax"})
    cs::fuzz::run([&] {
      const cs::HeadScores s = cs::head_scores_from_text(text, "circuit.json", field);
      for (const auto& [h, v] : s.by_head)
        if (h.layer < 0 || h.layer >= cs::kMaxLayers || h.head < 0 || h.head >= cs::kMaxHeads) __builtin_trap();
      if (s.n_layers < 0 || s.n_layers > cs::kMaxLayers || s.n_heads < 0 || s.n_heads > cs::kMaxHeads) __builtin_trap();
    });
  return 0;
}
