// Llama (Touvron et al. 2023; Llama 3: Grattafiori et al. 2024) and the families that share its
// checkpoint layout: Mistral and Qwen2 / Qwen2.5 (q/k/v biases). RMSNorm, RoPE on whole heads
// (rotate_half; Llama 3.1's "llama3" frequency scaling), SwiGLU MLP, grouped-query attention,
// tied embeddings where the config says so (Llama 3.2, Qwen2.5 0.5B).
// Hugging Face nn.Linear weights are [out, in]: bf16/f16 ones are used in place from the mapped
// file (stored transposed), f32 ones copied to the canonical [in, out].
#include "model/architecture.h"
#include "ops/error.h"

namespace cs {

namespace {

// sliding_window is an integer, or null when the model attends to its whole context.
int sliding_window(const nlohmann::json& j, const std::string& path) {
  if (config_string_or(j, path, "model_type", "") == "qwen2" && !config_bool_or(j, path, "use_sliding_window", false))
    return 0;
  return config_int_or(j, path, "sliding_window", 0, 0);
}

}  // namespace

ModelConfig llama_config(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  c.model_type = config_string_or(j, path, "model_type", "llama");
  c.family = c.model_type == "qwen2" ? "Qwen2" : c.model_type == "mistral" ? "Mistral" : "Llama";
  c.n_layers = config_int(j, path, "num_hidden_layers");
  c.n_heads = config_int(j, path, "num_attention_heads");
  c.n_kv_heads = config_int_or(j, path, "num_key_value_heads", c.n_heads);
  c.d_model = config_int(j, path, "hidden_size");
  if (c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0)
    throw Error(path + ": num_attention_heads (" + std::to_string(c.n_heads) +
                ") must be a positive multiple of num_key_value_heads (" +
                std::to_string(c.n_kv_heads) + ")");
  if (const int head_dim = config_int_or(j, path, "head_dim", 0); head_dim > 0) {
    c.d_head = head_dim;
  } else {
    if (c.d_model % c.n_heads != 0)
      throw Error(path + ": hidden_size (" + std::to_string(c.d_model) +
                  ") is not divisible by num_attention_heads and no head_dim is given");
    c.d_head = c.d_model / c.n_heads;
  }
  c.d_mlp = config_int(j, path, "intermediate_size");
  c.n_ctx = config_int(j, path, "max_position_embeddings");
  if (int window = sliding_window(j, path); window > 0 && window < c.n_ctx) c.n_ctx = window;
  c.vocab_size = config_int(j, path, "vocab_size", 1, kMaxVocab);
  c.norm = Norm::RMSNorm;
  c.norm_eps = static_cast<float>(config_number_or(j, path, "rms_norm_eps", 1e-6));

  const std::string act = config_string_or(j, path, "hidden_act", "silu");
  if (act != "silu" && act != "swish")
    throw Error(path + ": hidden_act '" + act + "' is not supported for " + c.model_type +
                " (only silu, i.e. SwiGLU)");
  c.act = Activation::SwiGLU;
  if (config_bool_or(j, path, "mlp_bias", false))
    throw Error(path + ": mlp_bias is not supported (the canonical SwiGLU gate has no bias)");

  // RoPE: rope_parameters (transformers 5) or top-level rope_theta plus rope_scaling (4.x).
  // Llama 3.1 / 3.2 scale the frequencies (rope_type "llama3"); other scaled variants (linear,
  // dynamic, yarn, longrope) are refused rather than run with the wrong frequencies.
  double theta = config_number_or(j, path, "rope_theta", 10000.0);
  double pct = config_number_or(j, path, "partial_rotary_factor", 1.0);
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    const nlohmann::json* p = config_object(j, path, key);
    if (!p) continue;
    const nlohmann::json& rp = *p;
    const std::string type =
        config_string_or(rp, path, "rope_type", config_string_or(rp, path, "type", "default"));
    if (type == "llama3") {
      for (const char* k : {"factor", "low_freq_factor", "high_freq_factor"})
        if (!rp.contains(k) || !rp[k].is_number())
          throw Error(path + ": " + key + " of rope_type llama3 needs a number '" + k + "'");
      c.rope.factor = static_cast<float>(rp["factor"].get<double>());
      c.rope.low_freq_factor = static_cast<float>(rp["low_freq_factor"].get<double>());
      c.rope.high_freq_factor = static_cast<float>(rp["high_freq_factor"].get<double>());
      // transformers falls back to max_position_embeddings when it is missing
      const double ctx = config_number_or(j, path, "max_position_embeddings", 8192);
      c.rope.original_max_position =
          static_cast<float>(config_number_or(rp, path, "original_max_position_embeddings", ctx));
      if (!(c.rope.factor > 0) || !(c.rope.high_freq_factor > c.rope.low_freq_factor) ||
          !(c.rope.low_freq_factor > 0) || !(c.rope.original_max_position > 0))
        throw Error(path + ": " + key + " llama3 scaling needs factor > 0 and high_freq_factor > "
                    "low_freq_factor > 0 (got factor " + std::to_string(c.rope.factor) + ", " +
                    std::to_string(c.rope.low_freq_factor) + "/" + std::to_string(c.rope.high_freq_factor) + ")");
    } else if (type != "default") {
      throw Error(path + ": " + key + " rope_type '" + type +
                  "' is not supported (the default RoPE and Llama 3's 'llama3' scaling are; linear, "
                  "dynamic, yarn and longrope change the frequencies differently)");
    }
    theta = config_number_or(rp, path, "rope_theta", theta);
    pct = config_number_or(rp, path, "partial_rotary_factor", pct);
  }
  if (!(pct > 0.0 && pct <= 1.0))
    throw Error(path + ": partial_rotary_factor " + std::to_string(pct) + " must be in (0, 1]");
  c.positions = Positions::Rotary;
  if (!(theta > 0 && theta <= 1e30))  // 0 or negative: every rotation angle is NaN or inf
    throw Error(path + ": rope_theta is " + std::to_string(theta) + "; RoPE needs a positive base (10000 in most models)");
  c.rope.theta = static_cast<float>(theta);
  c.rotary_dim = static_cast<int>(c.d_head * pct);
  if (c.rotary_dim <= 0 || c.rotary_dim % 2 != 0 || c.rotary_dim > c.d_head)
    throw Error(path + ": " + std::to_string(c.rotary_dim) +
                " rotary dims per head: RoPE needs an even count in (0, head_dim]");
  c.rotary_interleaved = false;
  c.parallel_residual = false;
  c.tied_embeddings = config_bool_or(j, path, "tie_word_embeddings", false);
  return c;
}

Weights llama_weights(const CheckpointFiles& f, const ModelConfig& c) {
  const std::vector<std::string> p = {"model.", ""};
  const int64_t D = c.d_model, F = c.d_mlp, V = c.vocab_size, dh = c.d_head;
  const int64_t H = c.n_heads, Hk = c.n_kv_heads, W = c.qkv_width();
  Weights w;
  w.W_E = take_weight(f, p, "embed_tokens.weight", {V, D}, OnDisk::Canonical);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string L = "layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.ln1_w = take_tensor(f, p, L + "input_layernorm.weight", {D});

    // W_qkv [D, (H + 2 Hk) dh]: q_proj [H dh, D], k_proj and v_proj [Hk dh, D] stacked.
    // Biases (Qwen2, attention_bias) are optional per projection; absent ones are zero.
    const char* names[3] = {"q_proj", "k_proj", "v_proj"};
    const int64_t rows[3] = {H * dh, Hk * dh, Hk * dh};
    const int64_t cols[3] = {0, H * dh, (H + Hk) * dh};
    lw.W_qkv = take_stacked_linear(f, p, {L + "self_attn.q_proj.weight", L + "self_attn.k_proj.weight",
                                          L + "self_attn.v_proj.weight"}, {rows[0], rows[1], rows[2]}, D);
    for (int s = 0; s < 3; ++s) {
      const std::string base = L + "self_attn." + names[s];
      if (has_tensor(f, p, base + ".bias")) {
        if (lw.b_qkv.empty()) lw.b_qkv = Tensor({W});
        Tensor b = take_tensor(f, p, base + ".bias", {rows[s]});
        std::copy(b.data.begin(), b.data.end(), lw.b_qkv.data.begin() + cols[s]);
      }
    }
    lw.W_O = take_weight(f, p, L + "self_attn.o_proj.weight", {D, H * dh}, OnDisk::Linear);
    if (has_tensor(f, p, L + "self_attn.o_proj.bias"))
      lw.b_O = take_tensor(f, p, L + "self_attn.o_proj.bias", {D});
    lw.ln2_w = take_tensor(f, p, L + "post_attention_layernorm.weight", {D});
    lw.W_gate = take_weight(f, p, L + "mlp.gate_proj.weight", {F, D}, OnDisk::Linear);
    lw.W_in = take_weight(f, p, L + "mlp.up_proj.weight", {F, D}, OnDisk::Linear);
    lw.W_out = take_weight(f, p, L + "mlp.down_proj.weight", {D, F}, OnDisk::Linear);
    w.layers.push_back(std::move(lw));
  }
  w.lnf_w = take_tensor(f, p, "norm.weight", {D});
  take_unembedding(f, {""}, "lm_head.weight", c, w);
  return w;
}

}  // namespace cs
