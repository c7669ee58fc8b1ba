// Head-score files as `eval --scores` reads them: a circuit.json written by `discover` (one
// per-head field, "score" by default; the model shape from its "model" object) or
// {"scores": {"9.9": 0.7, "10.0": 0.5, ...}} from any other tool (heads written 9.9, a9.h9 or A9.9).
#pragma once
#include <map>
#include <string>

#include "evaluation/ground_truth.h"

namespace cs {

struct HeadScores {
  std::map<HeadId, double> by_head;
  int n_layers = 0, n_heads = 0;  // circuit.json's "model", else 0
  std::string kind;               // "circuit.json" or "scores"
};

// Every error names the file; head indices and the model shape are bounded by kMaxLayers x
// kMaxHeads (model/config.h), so layers x heads always fits an int.
HeadScores read_head_scores(const std::string& path, const std::string& field);
// The same from the file's text; the scores fuzz target's entry point.
HeadScores head_scores_from_text(const std::string& text, const std::string& path, const std::string& field);

}  // namespace cs
