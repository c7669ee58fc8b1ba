#include "model/model.h"

#include <cmath>
#include <filesystem>

#include "model/architecture.h"
#include "model/model_path.h"
#include "model/process_weights.h"
#include "ops/error.h"
#include "ops/files.h"

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

namespace {

// The key's value, or nullptr when it is absent or null (HF writes null for "not set").
const nlohmann::json* config_value(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string shown(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 60) + "..." : s;
}

int checked_int(const nlohmann::json& v, const std::string& path, const char* key, int lo, int hi) {
  // Compare as the JSON number it is: 4294967300 must not wrap to 4 on the way to int.
  bool ok = false;
  if (v.is_number_unsigned()) ok = v.get<uint64_t>() >= static_cast<uint64_t>(std::max(lo, 0)) && v.get<uint64_t>() <= static_cast<uint64_t>(hi);
  else if (v.is_number_integer()) ok = v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!v.is_number_integer())
    throw Error(path + ": " + key + " must be an integer, got " + shown(v));
  if (!ok)
    throw Error(path + ": " + key + " is " + shown(v) + "; it must be from " + std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<int>(v.get<int64_t>());
}

}  // namespace

int config_int(const nlohmann::json& j, const std::string& path, const char* key, int lo, int hi) {
  const nlohmann::json* v = config_value(j, key);
  if (!v) throw Error(path + ": missing integer " + key);
  return checked_int(*v, path, key, lo, hi);
}
int config_int_or(const nlohmann::json& j, const std::string& path, const char* key, int fallback, int lo, int hi) {
  const nlohmann::json* v = config_value(j, key);
  return v ? checked_int(*v, path, key, lo, hi) : fallback;
}
double config_number_or(const nlohmann::json& j, const std::string& path, const char* key, double fallback) {
  const nlohmann::json* v = config_value(j, key);
  if (!v) return fallback;
  if (!v->is_number()) throw Error(path + ": " + key + " must be a number, got " + shown(*v));
  const double x = v->get<double>();
  if (!std::isfinite(x)) throw Error(path + ": " + key + " must be a finite number, got " + shown(*v));
  return x;
}
bool config_bool_or(const nlohmann::json& j, const std::string& path, const char* key, bool fallback) {
  const nlohmann::json* v = config_value(j, key);
  if (!v) return fallback;
  if (!v->is_boolean()) throw Error(path + ": " + key + " must be true or false, got " + shown(*v));
  return v->get<bool>();
}
std::string config_string_or(const nlohmann::json& j, const std::string& path, const char* key, const std::string& fallback) {
  const nlohmann::json* v = config_value(j, key);
  if (!v) return fallback;
  if (!v->is_string()) throw Error(path + ": " + key + " must be a string, got " + shown(*v));
  return v->get<std::string>();
}
const nlohmann::json* config_object(const nlohmann::json& j, const std::string& path, const char* key) {
  const nlohmann::json* v = config_value(j, key);
  if (v && !v->is_object()) throw Error(path + ": " + key + " must be a JSON object, got " + shown(*v));
  return v;
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

ModelConfig parse_model_config(const std::string& text, const std::string& cfg_path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(cfg_path + ": not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception&) {  // out_of_range.406: a number beyond double's range
    throw Error(cfg_path + ": not valid JSON (a number too large for a double)");
  }
  if (!j.is_object() || !j.contains("model_type") || !j["model_type"].is_string())
    throw Error(cfg_path + ": no model_type string: supported model types are " + supported_model_types());
  const std::string type = j["model_type"].get<std::string>();
  for (const Architecture& a : architectures())
    for (const std::string& t : a.model_types)
      if (t == type) {
        ModelConfig c;
        try {
          c = a.read_config(j, cfg_path);
        } catch (const nlohmann::json::exception& e) {  // a type check an architecture missed
          throw Error(cfg_path + ": a value has the wrong type (" + std::string(e.what()) + ")");
        }
        validate_config(c, cfg_path);
        return c;
      }
  throw Error(cfg_path + ": unknown model_type '" + type + "': supported model types are " +
              supported_model_types());
}

Model load_model(const std::string& path, const LoadOptions& opts) {
  namespace fs = std::filesystem;
  const std::string dir = resolve_model_path(path);  // says when `path` is neither a directory nor cached
  std::error_code ec;
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(fs::symlink_status(cfg_path, ec)))
    throw Error(cfg_path + ": not found: a model directory needs config.json beside its safetensors");
  Model m;
  m.dir = dir;
  m.cfg = parse_model_config(read_input_file(cfg_path, kMaxSmallJsonBytes), cfg_path);
  CheckpointFiles files(dir);
  for (const Architecture& a : architectures())
    for (const std::string& t : a.model_types)
      if (t == m.cfg.model_type) m.w = a.read_weights(files, m.cfg);
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

}  // namespace cs
