// Random models: named configuration presets and GPT-2-style initialisation. Used by
// `init-random` (speed benchmarks: no pretrained weights can be downloaded here) and the trainer.
#pragma once
#include <string>

#include "model/model.h"

namespace cs {

// Presets: "gpt2-small" (124M), "gpt2-tiny", "toy-gpt2-4l" (4 layers, 8 heads, d_model 128),
// "attn-only-4l" (TransformerLens docstring model shape), "pythia-160m", "llama-1b".
ModelConfig preset_config(const std::string& name);
std::string preset_names();

// GPT-2 initialisation (normal 0.02; residual-writing projections scaled by 1/sqrt(2 n_layers);
// norms 1, biases 0), deterministic per seed.
Model random_model(const ModelConfig& cfg, uint64_t seed, float init_std = 0.02f);

}  // namespace cs
