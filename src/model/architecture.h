// The registry of architectures: each arch_*.cpp turns a config.json into a ModelConfig and maps
// its checkpoint's tensor names into the canonical Weights layout.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/checkpoint_files.h"
#include "model/config.h"
#include "model/weights.h"

namespace cs {

struct Architecture {
  std::vector<std::string> model_types;  // config.json model_type values it accepts
  ModelConfig (*read_config)(const nlohmann::json& config, const std::string& path);
  Weights (*read_weights)(const CheckpointFiles& files, const ModelConfig& cfg);
};

const std::vector<Architecture>& architectures();

// Shared helpers for the architecture files: typed reads of config.json whose every error names
// the file and the key ("config.json: n_layer is 4294967300; it must be from 1 to 1048576"). An
// absent or null key takes the fallback; a present key of the wrong type, out of range or (for
// numbers) not finite is an error, never silently replaced by the fallback.
int config_int(const nlohmann::json& j, const std::string& path, const char* key, int lo = 1, int hi = kMaxDim);
int config_int_or(const nlohmann::json& j, const std::string& path, const char* key, int fallback, int lo = 1,
                  int hi = kMaxDim);
double config_number_or(const nlohmann::json& j, const std::string& path, const char* key, double fallback);
bool config_bool_or(const nlohmann::json& j, const std::string& path, const char* key, bool fallback);
std::string config_string_or(const nlohmann::json& j, const std::string& path, const char* key,
                             const std::string& fallback);
const nlohmann::json* config_object(const nlohmann::json& j, const std::string& path, const char* key);  // or nullptr

// config.json's text -> ModelConfig (architecture by model_type, then validate_config). Errors
// name `path`. load_model's first step, and the config fuzz target's entry point.
ModelConfig parse_model_config(const std::string& text, const std::string& path);

// Reads `name` (trying each prefix in turn) and checks its shape; errors name file and tensor.
Tensor take_tensor(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                   const std::string& name, const std::vector<int64_t>& shape);
bool has_tensor(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                const std::string& name);
// [out, in] (nn.Linear) -> [in, out].
Tensor transpose2d(const Tensor& t);

// How a matrix is stored on disk relative to the canonical layout of weights.h.
enum class OnDisk {
  Canonical,  // as the canonical layout (GPT-2 Conv1D [in, out], embeddings [V, D])
  Linear,     // nn.Linear [out, in]: the canonical [in, out] is its transpose
};
// A matrix in the checkpoint's dtype. disk_shape is the shape on disk. F32 (and F64): an owned
// f32 copy in the canonical layout (transposed if Linear), exactly what every f32 path reads;
// BF16/F16: a view into the mapped file, no copy (transposed() when Linear).
Weight take_weight(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                   const std::string& name, const std::vector<int64_t>& disk_shape, OnDisk how);
// nn.Linear weights [rows_i, in] stacked along their outputs into one canonical [in, sum rows_i]
// weight (q, k and v into W_qkv): f32 owned canonical, or one owned buffer in the checkpoint's
// half dtype, stored transposed (the stacked [out, in] rows; a copy of these tensors only).
Weight take_stacked_linear(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                           const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                           int64_t in);
// One nn.Linear weight [out, in] whose rows are reordered: canonical column c is disk row
// row_of[c] (NeoX's per-head q/k/v interleaving). F32: owned canonical; half: an owned copy in
// the checkpoint's dtype, stored transposed.
Weight take_linear_rows(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                        const std::string& name, const std::vector<int64_t>& disk_shape,
                        const std::vector<int64_t>& row_of);

// The unembedding W_U: `name` ([V, D], as the embedding) when the model is untied or the checkpoint
// has it anyway, else the embedding W_E itself (tied); b_U zero. GPT-2, NeoX, Llama, attn-only.
void take_unembedding(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                      const std::string& name, const ModelConfig& c, Weights& w);
// GPT-2's layout of the embeddings: W_E (wte) and the learned positions W_pos (wpe), [V, D] and
// [n_ctx, D]; the rest of Weights empty.
Weights take_gpt2_embeddings(const CheckpointFiles& f, const std::vector<std::string>& prefixes, const ModelConfig& c);
// GPT-2's layout of a layer's attention ("h.L." in `layer`): ln_1, attn.c_attn (q | k | v) and
// attn.c_proj, Conv1D [in, out]. The attention biases are required unless optional_biases
// (attn-only models may have none).
void take_gpt2_attention(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                         const std::string& layer, const ModelConfig& c, bool optional_biases, LayerWeights& lw);

// Architecture entry points (one file each).
ModelConfig gpt2_config(const nlohmann::json& j, const std::string& path);
Weights gpt2_weights(const CheckpointFiles& f, const ModelConfig& c);
ModelConfig neox_config(const nlohmann::json& j, const std::string& path);
Weights neox_weights(const CheckpointFiles& f, const ModelConfig& c);
ModelConfig llama_config(const nlohmann::json& j, const std::string& path);  // llama, mistral, qwen2
Weights llama_weights(const CheckpointFiles& f, const ModelConfig& c);
ModelConfig gemma_config(const nlohmann::json& j, const std::string& path);
Weights gemma_weights(const CheckpointFiles& f, const ModelConfig& c);
ModelConfig gemma2_config(const nlohmann::json& j, const std::string& path);
Weights gemma2_weights(const CheckpointFiles& f, const ModelConfig& c);
ModelConfig attn_only_config(const nlohmann::json& j, const std::string& path);
Weights attn_only_weights(const CheckpointFiles& f, const ModelConfig& c);

}  // namespace cs
