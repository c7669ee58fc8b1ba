// GPT-NeoX (Black et al. 2022) and Pythia (Biderman et al. 2023) from Hugging Face
// GPTNeoXForCausalLM checkpoints: LayerNorm, rotary on the first rotary_pct of each head's dims,
// parallel residual x + attn(ln1(x)) + mlp(ln2(x)) (use_parallel_residual), untied embed_out.
#include "model/architecture.h"
#include "ops/error.h"

namespace cs {

namespace {

// Transformers 5 nests rotary settings in rope_parameters; 4.x wrote them at the top level.
const nlohmann::json* rope_parameters(const nlohmann::json& j, const std::string& path) {
  for (const char* key : {"rope_parameters", "rope_scaling"})
    if (const nlohmann::json* rp = config_object(j, path, key)) return rp;
  return nullptr;
}

}  // namespace

ModelConfig neox_config(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  c.model_type = "gpt_neox";
  c.family = "GPT-NeoX / Pythia";
  c.n_layers = config_int(j, path, "num_hidden_layers");
  c.n_heads = config_int(j, path, "num_attention_heads");
  c.n_kv_heads = c.n_heads;
  c.d_model = config_int(j, path, "hidden_size");
  if (c.n_heads <= 0 || c.d_model % c.n_heads != 0)
    throw Error(path + ": hidden_size (" + std::to_string(c.d_model) +
                ") is not divisible by num_attention_heads (" + std::to_string(c.n_heads) + ")");
  c.d_head = c.d_model / c.n_heads;
  c.d_mlp = config_int(j, path, "intermediate_size");
  c.n_ctx = config_int(j, path, "max_position_embeddings");
  c.vocab_size = config_int(j, path, "vocab_size", 1, kMaxVocab);
  c.norm = Norm::LayerNorm;
  c.norm_eps = static_cast<float>(config_number_or(j, path, "layer_norm_eps", 1e-5));

  const std::string act = config_string_or(j, path, "hidden_act", "gelu");
  if (act == "gelu") c.act = Activation::GeluErf;
  else if (act == "gelu_new" || act == "gelu_fast" || act == "gelu_pytorch_tanh") c.act = Activation::GeluNew;
  else if (act == "relu") c.act = Activation::Relu;
  else throw Error(path + ": hidden_act '" + act + "' is not supported (use gelu, gelu_new or relu)");

  // Rotary: rope_parameters (transformers 5) > top-level rope_theta / rotary_emb_base (4.x).
  const nlohmann::json* rp = rope_parameters(j, path);
  double pct = config_number_or(j, path, "rotary_pct", config_number_or(j, path, "partial_rotary_factor", 1.0));
  double theta = config_number_or(j, path, "rotary_emb_base", config_number_or(j, path, "rope_theta", 10000.0));
  if (rp) {
    const std::string type = config_string_or(*rp, path, "rope_type", config_string_or(*rp, path, "type", "default"));
    if (type != "default")
      throw Error(path + ": rope_type '" + type + "' is not supported (only the default RoPE)");
    pct = config_number_or(*rp, path, "partial_rotary_factor", pct);
    theta = config_number_or(*rp, path, "rope_theta", theta);
  }
  if (!(pct > 0.0 && pct <= 1.0))
    throw Error(path + ": rotary_pct " + std::to_string(pct) + " must be in (0, 1]");
  c.positions = Positions::Rotary;
  c.rotary_dim = static_cast<int>(c.d_head * pct);  // as transformers: int(head_size * rotary_pct)
  if (c.rotary_dim % 2 != 0 || c.rotary_dim == 0)
    throw Error(path + ": rotary_pct " + std::to_string(pct) + " gives " +
                std::to_string(c.rotary_dim) + " rotary dims per head; RoPE needs an even, non-zero count");
  if (!(theta > 0 && theta <= 1e30))  // 0 or negative: every rotation angle is NaN or inf
    throw Error(path + ": rope_theta is " + std::to_string(theta) + "; RoPE needs a positive base (10000 in most models)");
  c.rope.theta = static_cast<float>(theta);
  c.rotary_interleaved = false;
  if (config_bool_or(j, path, "rotary_emb_interleaved", false))
    throw Error(path + ": interleaved rotary embeddings are not supported");

  c.parallel_residual = config_bool_or(j, path, "use_parallel_residual", true);
  c.tied_embeddings = config_bool_or(j, path, "tie_word_embeddings", false);
  return c;
}

Weights neox_weights(const CheckpointFiles& f, const ModelConfig& c) {
  const std::vector<std::string> p = {"gpt_neox.", ""};
  const int64_t D = c.d_model, F = c.d_mlp, V = c.vocab_size, H = c.n_heads, dh = c.d_head;
  const int64_t W = c.qkv_width();  // 3 H dh
  Weights w;
  w.W_E = take_weight(f, p, "embed_in.weight", {V, D}, OnDisk::Canonical);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string L = "layers." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.ln1_w = take_tensor(f, p, L + "input_layernorm.weight", {D});
    lw.ln1_b = take_tensor(f, p, L + "input_layernorm.bias", {D});

    // query_key_value is nn.Linear [3 H dh, D] whose output rows are grouped per head:
    // row (h*3 + s)*dh + j is head h, s in {q,k,v}, dim j. Canonical column: s*H*dh + h*dh + j.
    std::vector<int64_t> row_of(W);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < 3; ++s)
        for (int64_t j = 0; j < dh; ++j) row_of[s * H * dh + h * dh + j] = (h * 3 + s) * dh + j;
    lw.W_qkv = take_linear_rows(f, p, L + "attention.query_key_value.weight", {W, D}, row_of);
    if (has_tensor(f, p, L + "attention.query_key_value.bias")) {
      const Tensor qkv_b = take_tensor(f, p, L + "attention.query_key_value.bias", {W});
      lw.b_qkv = Tensor({W});
      for (int64_t col = 0; col < W; ++col) lw.b_qkv.data[col] = qkv_b.data[row_of[col]];
    }

    lw.W_O = take_weight(f, p, L + "attention.dense.weight", {D, H * dh}, OnDisk::Linear);
    if (has_tensor(f, p, L + "attention.dense.bias"))
      lw.b_O = take_tensor(f, p, L + "attention.dense.bias", {D});
    lw.ln2_w = take_tensor(f, p, L + "post_attention_layernorm.weight", {D});
    lw.ln2_b = take_tensor(f, p, L + "post_attention_layernorm.bias", {D});
    lw.W_in = take_weight(f, p, L + "mlp.dense_h_to_4h.weight", {F, D}, OnDisk::Linear);
    lw.b_in = take_tensor(f, p, L + "mlp.dense_h_to_4h.bias", {F});
    lw.W_out = take_weight(f, p, L + "mlp.dense_4h_to_h.weight", {D, F}, OnDisk::Linear);
    lw.b_out = take_tensor(f, p, L + "mlp.dense_4h_to_h.bias", {D});
    w.layers.push_back(std::move(lw));
  }
  w.lnf_w = take_tensor(f, p, "final_layer_norm.weight", {D});
  w.lnf_b = take_tensor(f, p, "final_layer_norm.bias", {D});
  take_unembedding(f, {""}, "embed_out.weight", c, w);
  return w;
}

}  // namespace cs
