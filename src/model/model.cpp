#include "model/model.h"

#include <cmath>
#include <filesystem>
#include <cstring>

#include "model/architecture.h"
#include "model/memory_check.h"
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
      {{"gemma2"}, gemma2_config, gemma2_weights},
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

namespace {

// The first prefix + name the checkpoint has, its shape checked against `shape`.
std::string locate(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                   const std::string& name, const std::vector<int64_t>& shape) {
  for (const std::string& p : prefixes) {
    if (!f.has(p + name)) continue;
    const TensorInfo* info = f.find(p + name);
    if (info->shape != shape)
      throw Error(f.file_of(p + name) + ": tensor " + p + name + " has shape " +
                  shape_str(info->shape) + ", config.json says " + shape_str(shape) +
                  ": the weights do not match config.json");
    return p + name;
  }
  throw Error("checkpoint is missing tensor '" + prefixes.front() + name +
              "': the weights do not match config.json's model_type");
}

bool is_half(DType dt) { return dt == DType::BF16 || dt == DType::F16; }

}  // namespace

Tensor take_tensor(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                   const std::string& name, const std::vector<int64_t>& shape) {
  return f.read_f32(locate(f, prefixes, name, shape));
}

Tensor transpose2d(const Tensor& t) {
  const int64_t R = t.dim(0), C = t.dim(1);
  Tensor r({C, R});
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) r.data[j * R + i] = t.data[i * C + j];
  return r;
}

Weight take_weight(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                   const std::string& name, const std::vector<int64_t>& disk_shape, OnDisk how) {
  const std::string full = locate(f, prefixes, name, disk_shape);
  const TensorInfo& info = *f.find(full);
  if (disk_shape.size() != 2) throw Error("take_weight: " + full + " is not a matrix");
  if (!is_half(info.dtype)) {
    Tensor t = f.read_f32(full);
    return how == OnDisk::Linear ? Weight(transpose2d(t)) : Weight(std::move(t));
  }
  const bool linear = how == OnDisk::Linear;
  std::vector<int64_t> shape = linear ? std::vector<int64_t>{disk_shape[1], disk_shape[0]} : disk_shape;
  const uint8_t* bytes = f.bytes(full);
  if (reinterpret_cast<uintptr_t>(bytes) % alignof(uint16_t) == 0)
    return Weight::mapped(info.dtype, std::move(shape), linear, reinterpret_cast<const uint16_t*>(bytes), f.keep());
  // An odd data offset (no writer we know makes one): an aligned copy, same dtype.
  auto bits = std::make_shared<std::vector<uint16_t>>(static_cast<size_t>(Tensor::numel_of(disk_shape)));
  std::memcpy(bits->data(), bytes, bits->size() * sizeof(uint16_t));
  f.release(full);
  const uint16_t* p = bits->data();
  return Weight::half(info.dtype, std::move(shape), linear, p, std::move(bits));
}

void take_unembedding(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                      const std::string& name, const ModelConfig& c, Weights& w) {
  if (!c.tied_embeddings || has_tensor(f, prefixes, name))
    w.W_U = take_weight(f, prefixes, name, {c.vocab_size, c.d_model}, OnDisk::Canonical);
  else
    w.W_U = w.W_E;
  w.b_U = Tensor({c.vocab_size});
}

Weight take_stacked_linear(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                           const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                           int64_t in) {
  std::vector<std::string> full;
  int64_t total = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    full.push_back(locate(f, prefixes, names[i], {rows[i], in}));
    total += rows[i];
  }
  const DType dt = f.find(full[0])->dtype;
  bool same = true;
  for (const std::string& n : full) same = same && f.find(n)->dtype == dt;
  if (same && is_half(dt)) {  // [total, in]: the stacked [out, in] rows, one memcpy per tensor
    auto bits = std::make_shared<std::vector<uint16_t>>(static_cast<size_t>(total * in));
    size_t at = 0;
    for (size_t i = 0; i < full.size(); ++i) {
      const size_t n = static_cast<size_t>(rows[i] * in);
      std::memcpy(bits->data() + at, f.bytes(full[i]), n * sizeof(uint16_t));
      f.release(full[i]);
      at += n;
    }
    const uint16_t* p = bits->data();
    return Weight::half(dt, {in, total}, true, p, std::move(bits));
  }
  Tensor w({in, total});  // canonical f32: tensor i's row o becomes column (offset_i + o)
  int64_t col = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    const Tensor t = f.read_f32(full[i]);
    for (int64_t o = 0; o < rows[i]; ++o)
      for (int64_t d = 0; d < in; ++d) w.data[d * total + col + o] = t.data[o * in + d];
    col += rows[i];
  }
  return Weight(std::move(w));
}

Weight take_linear_rows(const CheckpointFiles& f, const std::vector<std::string>& prefixes,
                        const std::string& name, const std::vector<int64_t>& disk_shape,
                        const std::vector<int64_t>& row_of) {
  const std::string full = locate(f, prefixes, name, disk_shape);
  const int64_t out = disk_shape[0], in = disk_shape[1];
  if (static_cast<int64_t>(row_of.size()) != out) throw Error("take_linear_rows: row_of has the wrong size");
  const DType dt = f.find(full)->dtype;
  if (is_half(dt)) {
    auto bits = std::make_shared<std::vector<uint16_t>>(static_cast<size_t>(out * in));
    const uint8_t* src = f.bytes(full);
    for (int64_t c = 0; c < out; ++c)
      std::memcpy(bits->data() + c * in, src + row_of[c] * in * sizeof(uint16_t), in * sizeof(uint16_t));
    f.release(full);
    const uint16_t* p = bits->data();
    return Weight::half(dt, {in, out}, true, p, std::move(bits));
  }
  const Tensor t = f.read_f32(full);
  Tensor w({in, out});
  for (int64_t c = 0; c < out; ++c)
    for (int64_t d = 0; d < in; ++d) w.data[d * out + c] = t.data[row_of[c] * in + d];
  return Weight(std::move(w));
}

int64_t Model::parameter_count() const {
  int64_t n = w.W_E.numel() + w.W_pos.numel() + w.lnf_w.numel() + w.lnf_b.numel();
  if (!cfg.tied_embeddings) n += w.W_U.numel();
  for (const LayerWeights& l : w.layers) {
    for (const Weight* t : {&l.W_qkv, &l.W_O, &l.W_in, &l.W_gate, &l.W_out}) n += t->numel();
    for (const Tensor* t : {&l.ln1_w, &l.ln1_b, &l.b_qkv, &l.b_O, &l.ln2_w, &l.ln2_b, &l.b_in,
                            &l.b_out, &l.ln1_post_w, &l.ln2_post_w})
      n += t->numel();
  }
  return n;
}

namespace {

// The dtype most of the checkpoint's bytes are stored in.
DType checkpoint_dtype(const CheckpointFiles& f) {
  uint64_t by[3] = {0, 0, 0};  // F32 (and F64), F16, BF16
  for (const std::string& name : f.names()) {
    const TensorInfo* t = f.find(name);
    by[t->dtype == DType::F16 ? 1 : t->dtype == DType::BF16 ? 2 : 0] += t->end - t->begin;
  }
  return by[2] >= by[1] && by[2] > by[0] ? DType::BF16 : by[1] > by[0] ? DType::F16 : DType::F32;
}

}  // namespace

// bf16 precision: every matrix in bf16 (oneDNN's bf16 matmul reads it), and Gemma's embedding
// multiplier rounded to bf16 as transformers' normalizer is in a bf16 run.
void set_precision(Model& m, Precision p) {
  m.precision = p;
  if (p != Precision::BF16) return;
  auto narrow = [](Weight& w) {
    if (!w.empty() && w.dtype() != DType::BF16) w = w.converted(DType::BF16);
  };
  narrow(m.w.W_E), narrow(m.w.W_pos), narrow(m.w.W_U);
  for (LayerWeights& l : m.w.layers)
    for (Weight* w : {&l.W_qkv, &l.W_O, &l.W_in, &l.W_gate, &l.W_out}) narrow(*w);
  m.cfg.embed_scale = bf16_to_f32(f32_to_bf16(m.cfg.embed_scale));
}

void to_f32_weights(Model& m) {
  m.precision = Precision::Exact;
  auto widen = [](Weight& w) {
    if (!w.empty() && !w.is_f32()) w = Weight(w.to_tensor());
  };
  widen(m.w.W_E), widen(m.w.W_pos), widen(m.w.W_U);
  for (LayerWeights& l : m.w.layers)
    for (Weight* w : {&l.W_qkv, &l.W_O, &l.W_in, &l.W_gate, &l.W_out}) widen(*w);
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
  if (m.cfg.dtype_on_disk.empty() && !files.names().empty())
    m.cfg.dtype_on_disk = dtype_name(checkpoint_dtype(files));
  const Precision precision =
      opts.precision.value_or(m.cfg.dtype_on_disk == "BF16" ? Precision::BF16 : Precision::Exact);
  m.precision = precision;
  const MemoryNeed need = estimate_memory(m.cfg, files, m.precision, opts.process_weights);
  std::string hint;
  if (m.cfg.dtype_on_disk == "F32" && m.precision == Precision::Exact)
    hint = "with --precision bf16 its weights would take half as much";
  check_memory(dir, need, opts.memory_available ? opts.memory_available : available_memory(), hint);
  for (const Architecture& a : architectures())
    for (const std::string& t : a.model_types)
      if (t == m.cfg.model_type) m.w = a.read_weights(files, m.cfg);
  set_precision(m, precision);  // narrows f32/f16 matrices for bf16
  if (opts.process_weights) process_weights(m);
  return m;
}

}  // namespace cs
