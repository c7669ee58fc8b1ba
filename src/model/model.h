// Model: immutable configuration and weights (whisper.cpp's context); every run's state lives in
// the forward call, so one loaded model serves any number of runs and patching experiments.
#pragma once
#include <optional>
#include <string>

#include "model/config.h"
#include "model/weights.h"
#include "ops/gemm.h"

namespace cs {

struct LoadOptions {
  bool process_weights = false;  // TransformerLens defaults: fold LN, center writing weights,
                                 // center unembed, fold value biases
  // Compute precision (ops/gemm.h). Unset: bf16 for a bf16 checkpoint (as transformers runs
  // it), exact for f32 and f16 ones. bf16 on an f32/f16 checkpoint narrows its matrices to bf16.
  std::optional<Precision> precision;
  // Free memory to check the model against, in bytes; 0: what the machine reports.
  uint64_t memory_available = 0;
};

struct Model {
  ModelConfig cfg;
  Weights w;
  std::string dir;               // where it was loaded from ("" if built in memory)
  // How the forward and backward multiply by the weights (ops/gemm.h): exact f32, or bf16
  // inputs with f32 accumulation. load_model picks it from the checkpoint's dtype.
  Precision precision = Precision::Exact;

  int64_t parameter_count() const;
};

// Reads config.json and the safetensors weights of a Hugging Face model directory.
Model load_model(const std::string& dir, const LoadOptions& opts = {});
// Sets m.precision; bf16 narrows every matrix that is not bf16 yet (owned bf16 copies) and
// rounds Gemma's embedding multiplier to bf16. Exact leaves the weights as they are.
void set_precision(Model& m, Precision p);
// Every matrix as an owned f32 copy (training updates them in place). Exact precision.
void to_f32_weights(Model& m);
// The model types load_model understands, for error messages and `info`.
std::string supported_model_types();

}  // namespace cs
