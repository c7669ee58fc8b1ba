// Attention-only transformers (Elhage et al. 2021, "A Mathematical Framework for Transformer
// Circuits"; TransformerLens attn-only-Nl): LayerNorm, no MLP, and by default shortformer
// positions, which are added to the q and k inputs only and never to the residual stream.
// The format (config.json with model_type "circuitscan_attn_only", GPT-2 tensor names) is
// defined in docs/attn-only-format.md; scripts/convert_transformerlens_attn_only.py writes it.
#include "model/architecture.h"
#include "ops/error.h"

namespace cs {

ModelConfig attn_only_config(const nlohmann::json& j, const std::string& path) {
  ModelConfig c;
  c.model_type = "circuitscan_attn_only";
  c.family = "attention-only";
  c.attn_only = true;
  c.n_layers = config_int(j, path, "n_layer");
  c.n_heads = config_int(j, path, "n_head");
  c.n_kv_heads = c.n_heads;
  c.d_model = config_int(j, path, "n_embd");
  if (c.n_heads <= 0 || c.d_model <= 0)
    throw Error(path + ": n_head and n_embd must be positive");
  if (j.contains("d_head")) {
    c.d_head = config_int(j, path, "d_head");
  } else {
    if (c.d_model % c.n_heads != 0)
      throw Error(path + ": n_embd (" + std::to_string(c.d_model) + ") is not divisible by n_head (" +
                  std::to_string(c.n_heads) + ") and no d_head is given");
    c.d_head = c.d_model / c.n_heads;
  }
  if (c.d_head <= 0) throw Error(path + ": d_head must be positive");
  c.d_mlp = 0;
  c.n_ctx = config_int(j, path, "n_positions");
  c.vocab_size = config_int(j, path, "vocab_size", 1, kMaxVocab);
  c.norm = Norm::LayerNorm;
  c.norm_eps = static_cast<float>(config_number_or(j, path, "layer_norm_epsilon", 1e-5));
  const std::string norm = config_string_or(j, path, "normalization", "LN");
  if (norm != "LN")
    throw Error(path + ": normalization '" + norm + "' is not supported (only \"LN\"; write a "
                "LayerNorm without affine parameters as weight 1, bias 0)");
  const std::string pos = config_string_or(j, path, "positional_embedding_type", "shortformer");
  if (pos == "shortformer") c.positions = Positions::Shortformer;
  else if (pos == "standard") c.positions = Positions::Learned;
  else
    throw Error(path + ": positional_embedding_type '" + pos +
                "' is not supported (use \"shortformer\" or \"standard\")");
  c.tied_embeddings = config_bool_or(j, path, "tie_word_embeddings", false);
  return c;
}

Weights attn_only_weights(const CheckpointFiles& f, const ModelConfig& c) {
  const std::vector<std::string> p = {""};
  const int64_t D = c.d_model, V = c.vocab_size;
  Weights w = take_gpt2_embeddings(f, p, c);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    LayerWeights lw;
    take_gpt2_attention(f, p, h, c, true, lw);
    w.layers.push_back(std::move(lw));
  }
  w.lnf_w = take_tensor(f, p, "ln_f.weight", {D});
  w.lnf_b = take_tensor(f, p, "ln_f.bias", {D});
  take_unembedding(f, p, "lm_head.weight", c, w);
  if (has_tensor(f, p, "lm_head.bias")) w.b_U = take_tensor(f, p, "lm_head.bias", {V});
  return w;
}

}  // namespace cs
