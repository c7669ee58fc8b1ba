// GPT-2 (Radford et al. 2019) from Hugging Face GPT2LMHeadModel checkpoints.
// Conv1D weights are stored [in, out], which is already our canonical layout.
#include "model/architecture.h"
#include "ops/error.h"

namespace cs {

ModelConfig gpt2_config(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  c.model_type = "gpt2";
  c.family = "GPT-2";
  c.n_layers = config_int(j, path, "n_layer");
  c.n_heads = config_int(j, path, "n_head");
  c.n_kv_heads = c.n_heads;
  c.d_model = config_int(j, path, "n_embd");
  if (c.n_heads <= 0 || c.d_model % c.n_heads != 0)
    throw Error(path + ": n_embd (" + std::to_string(c.d_model) + ") is not divisible by n_head (" +
                std::to_string(c.n_heads) + ")");
  c.d_head = c.d_model / c.n_heads;
  c.d_mlp = config_int_or(j, path, "n_inner", 4 * c.d_model);
  c.n_ctx = config_int(j, path, "n_positions");
  c.vocab_size = config_int(j, path, "vocab_size", 1, kMaxVocab);
  c.norm_eps = static_cast<float>(config_number_or(j, path, "layer_norm_epsilon", 1e-5));
  std::string act = config_string_or(j, path, "activation_function", "gelu_new");
  if (act == "gelu_new" || act == "gelu_pytorch_tanh") c.act = Activation::GeluNew;
  else if (act == "gelu") c.act = Activation::GeluErf;
  else if (act == "relu") c.act = Activation::Relu;
  else throw Error(path + ": activation_function '" + act + "' is not supported (use gelu_new, gelu or relu)");
  if (config_bool_or(j, path, "scale_attn_by_inverse_layer_idx", false) ||
      config_bool_or(j, path, "reorder_and_upcast_attn", false))
    throw Error(path + ": scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported");
  c.tied_embeddings = config_bool_or(j, path, "tie_word_embeddings", true);
  c.positions = Positions::Learned;
  return c;
}

Weights take_gpt2_embeddings(const CheckpointFiles& f, const std::vector<std::string>& p, const ModelConfig& c) {
  Weights w;
  w.W_E = take_weight(f, p, "wte.weight", {c.vocab_size, c.d_model}, OnDisk::Canonical);
  w.W_pos = take_weight(f, p, "wpe.weight", {c.n_ctx, c.d_model}, OnDisk::Canonical);
  return w;
}

void take_gpt2_attention(const CheckpointFiles& f, const std::vector<std::string>& p, const std::string& h,
                         const ModelConfig& c, bool optional_biases, LayerWeights& lw) {
  const int64_t D = c.d_model, HD = c.n_heads * c.d_head, W = c.qkv_width();
  lw.ln1_w = take_tensor(f, p, h + "ln_1.weight", {D});
  lw.ln1_b = take_tensor(f, p, h + "ln_1.bias", {D});
  lw.W_qkv = take_weight(f, p, h + "attn.c_attn.weight", {D, W}, OnDisk::Canonical);
  if (!optional_biases || has_tensor(f, p, h + "attn.c_attn.bias")) lw.b_qkv = take_tensor(f, p, h + "attn.c_attn.bias", {W});
  lw.W_O = take_weight(f, p, h + "attn.c_proj.weight", {HD, D}, OnDisk::Canonical);
  if (!optional_biases || has_tensor(f, p, h + "attn.c_proj.bias")) lw.b_O = take_tensor(f, p, h + "attn.c_proj.bias", {D});
}

Weights gpt2_weights(const CheckpointFiles& f, const ModelConfig& c) {
  const std::vector<std::string> p = {"transformer.", ""};
  const int64_t D = c.d_model, F = c.d_mlp;
  Weights w = take_gpt2_embeddings(f, p, c);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    LayerWeights lw;
    take_gpt2_attention(f, p, h, c, false, lw);
    lw.ln2_w = take_tensor(f, p, h + "ln_2.weight", {D});
    lw.ln2_b = take_tensor(f, p, h + "ln_2.bias", {D});
    lw.W_in = take_weight(f, p, h + "mlp.c_fc.weight", {D, F}, OnDisk::Canonical);
    lw.b_in = take_tensor(f, p, h + "mlp.c_fc.bias", {F});
    lw.W_out = take_weight(f, p, h + "mlp.c_proj.weight", {F, D}, OnDisk::Canonical);
    lw.b_out = take_tensor(f, p, h + "mlp.c_proj.bias", {D});
    w.layers.push_back(std::move(lw));
  }
  w.lnf_w = take_tensor(f, p, "ln_f.weight", {D});
  w.lnf_b = take_tensor(f, p, "ln_f.bias", {D});
  take_unembedding(f, {""}, "lm_head.weight", c, w);
  return w;
}

}  // namespace cs
