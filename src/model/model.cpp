#include "model/model.h"

#include <filesystem>
#include <fstream>

#include "model/architecture.h"
#include "model/model_path.h"
#include "model/process_weights.h"
#include "ops/error.h"

namespace cs {

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> archs = {
      {{"gpt2"}, gpt2_config, gpt2_weights},
      {{"gpt_neox"}, neox_config, neox_weights},
      {{"llama", "mistral", "qwen2"}, llama_config, llama_weights},
      {{"gemma"}, gemma_config, gemma_weights},
      {{"circuitscan_attn_only"}, attn_only_config, attn_only_weights},
  };
  return archs;
}

std::string supported_model_types() {
  std::string r;
  for (const Architecture& a : architectures())
    for (const std::string& t : a.model_types) r += (r.empty() ? "" : ", ") + t;
  return r;
}

int config_int(const nlohmann::json& j, const std::string& path, const char* key) {
  if (!j.contains(key) || !j[key].is_number_integer())
    throw Error(path + ": missing integer '" + key + "'");
  return j[key].get<int>();
}
int config_int_or(const nlohmann::json& j, const char* key, int fallback) {
  return j.contains(key) && j[key].is_number_integer() ? j[key].get<int>() : fallback;
}
float config_float_or(const nlohmann::json& j, const char* key, float fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<float>() : fallback;
}

static std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

bool has_tensor(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                const std::string& name) {
  for (const std::string& p : prefixes)
    if (f.has(p + name)) return true;
  return false;
}

Tensor take_tensor(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                   const std::string& name, const std::vector<int64_t>& shape) {
  for (const std::string& p : prefixes) {
    if (!f.has(p + name)) continue;
    const TensorInfo* info = f.find(p + name);
    if (info->shape != shape)
      throw Error(f.file_of(p + name) + ": tensor " + p + name + " has shape " +
                  shape_str(info->shape) + ", config.json says " + shape_str(shape) +
                  ": the weights do not match config.json");
    return f.read_f32(p + name);
  }
  throw Error("checkpoint is missing tensor '" + prefixes.front() + name +
              "': the weights do not match config.json's model_type");
}

Tensor transpose2d(const Tensor& t) {
  const int64_t R = t.dim(0), C = t.dim(1);
  Tensor r({C, R});
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) r.data[j * R + i] = t.data[i * C + j];
  return r;
}

int64_t Model::parameter_count() const {
  int64_t n = w.W_E.numel() + w.W_pos.numel() + w.lnf_w.numel() + w.lnf_b.numel();
  if (!cfg.tied_embeddings) n += w.W_U.numel();
  for (const LayerWeights& l : w.layers)
    for (const Tensor* t : {&l.ln1_w, &l.ln1_b, &l.W_qkv, &l.b_qkv, &l.W_O, &l.b_O, &l.ln2_w,
                            &l.ln2_b, &l.W_in, &l.b_in, &l.W_gate, &l.W_out, &l.b_out})
      n += t->numel();
  return n;
}

Model load_model(const std::string& path, const LoadOptions& opts) {
  namespace fs = std::filesystem;
  const std::string dir = resolve_model_path(path);
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  std::ifstream in(cfg_path);
  if (!in)
    throw Error(cfg_path + ": not found: a model directory needs config.json beside its safetensors");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(cfg_path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_object() || !j.contains("model_type") || !j["model_type"].is_string())
    throw Error(cfg_path + ": no model_type string: supported model types are " + supported_model_types());
  const std::string type = j["model_type"].get<std::string>();
  for (const Architecture& a : architectures())
    for (const std::string& t : a.model_types)
      if (t == type) {
        Model m;
        m.dir = dir;
        m.cfg = a.read_config(j, cfg_path);
        CheckpointFiles files(dir);
        m.w = a.read_weights(files, m.cfg);
        if (m.cfg.dtype_on_disk.empty() && !files.names().empty()) {
          switch (files.find(files.names().front())->dtype) {
            case DType::F16: m.cfg.dtype_on_disk = "F16"; break;
            case DType::BF16: m.cfg.dtype_on_disk = "BF16"; break;
            default: m.cfg.dtype_on_disk = "F32";
          }
        }
        if (opts.process_weights) process_weights(m);
        return m;
      }
  throw Error(cfg_path + ": unknown model_type '" + type + "': supported model types are " +
              supported_model_types());
}

}  // namespace cs
