// Random models: named configuration presets and GPT-2-style initialisation. Used by
// `init-random` (speed benchmarks: no pretrained weights can be downloaded here) and the trainer.
#pragma once
#include <string>
#include <vector>

#include "model/model.h"
#include "ops/dtype.h"

namespace cs {

// Presets: "gpt2-small" (124M), "gpt2-tiny", "toy-gpt2-4l" (4 layers, 8 heads, d_model 128),
// "attn-only-4l" (TransformerLens docstring model shape), "pythia-160m", "llama-1b", and at the
// published shapes of the models the field studies now: "qwen2.5-0.5b", "gemma-2-2b",
// "llama-3.2-1b", "llama-3.1-8b" (written by write_random_checkpoint, in bf16 by default).
ModelConfig preset_config(const std::string& name);
std::string preset_names();              // comma-separated
std::vector<std::string> preset_list();  // the same names


// GPT-2 initialisation (normal 0.02; residual-writing projections scaled by 1/sqrt(2 n_layers);
// norms 1, biases 0), deterministic per seed.
Model random_model(const ModelConfig& cfg, uint64_t seed, float init_std = 0.02f);

// A random checkpoint of a Llama-layout config (model_type llama, qwen2 or gemma2) written as
// transformers writes it (config.json, model.safetensors with Hugging Face tensor names), streamed
// tensor by tensor so a model larger than memory can be written (Llama-3.1-8B: 16 GB in bf16).
// Values: an approximately normal (sum of four uniforms) 0.02 init, residual-writing projections
// scaled by 1/sqrt(2 n_layers), norms at 1, biases 0; deterministic per seed at any thread count.
void write_random_checkpoint(const ModelConfig& cfg, const std::string& dir, DType dtype, uint64_t seed);

}  // namespace cs
