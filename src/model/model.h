// Model: immutable configuration and weights (whisper.cpp's context); every run's state lives in
// the forward call, so one loaded model serves any number of runs and patching experiments.
#pragma once
#include <string>

#include "model/config.h"
#include "model/weights.h"

namespace cs {

struct LoadOptions {
  bool process_weights = false;  // TransformerLens defaults: fold LN, center writing weights,
                                 // center unembed, fold value biases
};

struct Model {
  ModelConfig cfg;
  Weights w;
  std::string dir;               // the directory it was loaded from ("" if built in memory)

  int64_t parameter_count() const;
};

// Reads config.json and the safetensors weights of a Hugging Face model directory, or of a hub id
// in the local Hugging Face cache (resolve_model_path); Model::dir is the directory read.
Model load_model(const std::string& path, const LoadOptions& opts = {});
// The model types load_model understands, for error messages and `info`.
std::string supported_model_types();

}  // namespace cs
