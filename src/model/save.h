// Writes a model as a Hugging Face checkpoint directory (config.json + model.safetensors) that
// circuitscan loads back and, for GPT-2, transformers loads as GPT2LMHeadModel.
#pragma once
#include <string>

#include "model/model.h"
#include "model/safetensors.h"

namespace cs {

// Supported: model_type gpt2 and circuitscan_attn_only (GPT-2 tensor names). Weights must be
// unprocessed (processing is a view for analysis, not a checkpoint). Files are written
// atomically.
void save_model(const Model& m, const std::string& dir, DType dtype = DType::F32);

// Atomic text write (temp file + rename), used for every output file.
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace cs
