// Writes a model as a Hugging Face checkpoint directory (config.json + model.safetensors) that
// circuitscan loads back and, for GPT-2, transformers loads as GPT2LMHeadModel.
#pragma once
#include <string>

#include "model/model.h"
#include "model/safetensors.h"
#include "ops/files.h"  // write_file_atomic, StagedDir

namespace cs {

// Supported: model_type gpt2 and circuitscan_attn_only (GPT-2 tensor names). Weights must be
// unprocessed (processing is a view for analysis, not a checkpoint). The directory appears
// complete or not at all (StagedDir): a failure leaves nothing new.
void save_model(const Model& m, const std::string& dir, DType dtype = DType::F32);

// config.json and model.safetensors into `dir` (an existing directory, e.g. a StagedDir's), for
// callers that add files of their own before committing.
void write_model_files(const Model& m, const std::string& dir, DType dtype = DType::F32);

}  // namespace cs
