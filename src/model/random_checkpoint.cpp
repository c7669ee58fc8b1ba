// write_random_checkpoint (init.h): Llama-layout random checkpoints in Hugging Face format.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/init.h"
#include "model/safetensors.h"
#include "model/save.h"
#include "ops/error.h"

namespace cs {

namespace {

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Element i of tensor `id`: mean 0, standard deviation `std`, from one hash of (seed, id, i), so
// the values do not depend on how the writer chunks the tensor or on the thread count.
TensorSource random_source(std::string name, std::vector<int64_t> shape, uint64_t seed, uint64_t id,
                           float std) {
  const uint64_t key = splitmix(seed ^ (id << 32));
  return {std::move(name), std::move(shape), [key, std](int64_t b, int64_t n, float* out) {
            const float k = std * std::sqrt(3.0f) / 32768.0f;  // sum of 4 U(0,1) has variance 1/3
#pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; ++i) {
              const uint64_t h = splitmix(key + static_cast<uint64_t>(b + i));
              const int32_t s = static_cast<int32_t>(h & 0xffff) + static_cast<int32_t>((h >> 16) & 0xffff) +
                                static_cast<int32_t>((h >> 32) & 0xffff) + static_cast<int32_t>(h >> 48) - 2 * 65535;
              out[i] = static_cast<float>(s) * 0.5f * k;
            }
          }};
}

TensorSource constant_source(std::string name, std::vector<int64_t> shape, float value) {
  return {std::move(name), std::move(shape), [value](int64_t, int64_t n, float* out) {
            std::fill(out, out + n, value);
          }};
}

}  // namespace

void write_random_checkpoint(const ModelConfig& c, const std::string& dir, DType dtype, uint64_t seed) {
  const bool gemma2 = c.model_type == "gemma2", qwen2 = c.model_type == "qwen2";
  if (c.model_type != "llama" && !qwen2 && !gemma2)
    throw Error("write_random_checkpoint: model_type '" + c.model_type + "' is not a Llama layout");
  const int64_t D = c.d_model, F = c.d_mlp, V = c.vocab_size, H = c.n_heads, Hk = c.n_kv_heads,
                dh = c.d_head;
  nlohmann::json j;
  j["model_type"] = c.model_type;
  j["architectures"] = {gemma2 ? "Gemma2ForCausalLM" : qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["hidden_size"] = D;
  j["intermediate_size"] = F;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = H;
  j["num_key_value_heads"] = Hk;
  j["head_dim"] = dh;
  j["max_position_embeddings"] = c.n_ctx;
  j["vocab_size"] = V;
  j["rms_norm_eps"] = c.norm_eps;
  j["rope_theta"] = c.rope.theta;
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["torch_dtype"] = dtype == DType::BF16 ? "bfloat16" : dtype == DType::F16 ? "float16" : "float32";
  if (c.rope.scaled())
    j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", c.rope.factor},
                         {"low_freq_factor", c.rope.low_freq_factor},
                         {"high_freq_factor", c.rope.high_freq_factor},
                         {"original_max_position_embeddings", static_cast<int>(c.rope.original_max_position)}};
  if (gemma2) {
    j["hidden_activation"] = "gelu_pytorch_tanh";
    j["query_pre_attn_scalar"] = static_cast<int>(std::lround(1.0 / (c.attention_scale() * c.attention_scale())));
    j["attn_logit_softcapping"] = c.attn_softcap;
    j["final_logit_softcapping"] = c.final_softcap;
    int window = 0;
    nlohmann::json types = nlohmann::json::array();
    for (int l = 0; l < c.n_layers; ++l) {
      window = std::max(window, c.window(l));
      types.push_back(c.window(l) > 0 ? "sliding_attention" : "full_attention");
    }
    j["sliding_window"] = window;
    j["layer_types"] = types;
  } else {
    j["hidden_act"] = "silu";
  }
  if (qwen2) j["use_sliding_window"] = false;

  // Values as init.h says; Gemma stores its norm scales as w with the norm applying 1 + w.
  const float norm_value = gemma2 ? 0.0f : 1.0f;
  const float std = 0.02f, proj = 0.02f / std::sqrt(2.0f * c.n_layers);
  std::vector<TensorSource> t;
  uint64_t id = 0;
  t.push_back(random_source("model.embed_tokens.weight", {V, D}, seed, id++, std));
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string L = "model.layers." + std::to_string(l) + ".";
    t.push_back(constant_source(L + "input_layernorm.weight", {D}, norm_value));
    t.push_back(random_source(L + "self_attn.q_proj.weight", {H * dh, D}, seed, id++, std));
    t.push_back(random_source(L + "self_attn.k_proj.weight", {Hk * dh, D}, seed, id++, std));
    t.push_back(random_source(L + "self_attn.v_proj.weight", {Hk * dh, D}, seed, id++, std));
    if (qwen2)
      for (const char* b : {"q_proj", "k_proj", "v_proj"})
        t.push_back(constant_source(L + "self_attn." + b + ".bias", {std::string(b) == "q_proj" ? H * dh : Hk * dh}, 0.0f));
    t.push_back(random_source(L + "self_attn.o_proj.weight", {D, H * dh}, seed, id++, proj));
    t.push_back(constant_source(L + "post_attention_layernorm.weight", {D}, norm_value));
    if (gemma2) {
      t.push_back(constant_source(L + "pre_feedforward_layernorm.weight", {D}, norm_value));
      t.push_back(constant_source(L + "post_feedforward_layernorm.weight", {D}, norm_value));
    }
    t.push_back(random_source(L + "mlp.gate_proj.weight", {F, D}, seed, id++, std));
    t.push_back(random_source(L + "mlp.up_proj.weight", {F, D}, seed, id++, std));
    t.push_back(random_source(L + "mlp.down_proj.weight", {D, F}, seed, id++, proj));
  }
  t.push_back(constant_source("model.norm.weight", {D}, norm_value));
  if (!c.tied_embeddings) t.push_back(random_source("lm_head.weight", {V, D}, seed, id++, std));

  std::filesystem::create_directories(dir);
  write_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), t, dtype, {{"format", "pt"}});
  write_file_atomic((std::filesystem::path(dir) / "config.json").string(), j.dump(2) + "\n");
}

}  // namespace cs
