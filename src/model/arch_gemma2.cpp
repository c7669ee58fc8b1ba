// Gemma 2 (Gemma Team 2024b): Gemma's layout (arch_gemma.cpp: RMSNorm as 1 + w, scaled
// embedding, GeGLU, tied embeddings) plus, as transformers' modeling_gemma2.py runs it:
//   - attention scores scaled by query_pre_attn_scalar^-1/2 instead of head_dim^-1/2;
//   - soft-capping: scores -> 50 tanh(scores / 50) before the mask, logits -> 30 tanh(logits / 30)
//     (attn_logit_softcapping, final_logit_softcapping; null turns one off);
//   - sliding-window attention (a query sees its last sliding_window keys) on the layers
//     layer_types marks "sliding_attention", by default the even ones;
//   - four norms per layer: input_layernorm (ln1) and post_attention_layernorm (ln1_post, on the
//     attention's output), pre_feedforward_layernorm (ln2) and post_feedforward_layernorm
//     (ln2_post, on the MLP's output), TransformerLens's names in brackets.
#include <cmath>

#include "model/architecture.h"
#include "ops/error.h"

namespace cs {

namespace {

// A positive number, or 0 when the key is null or absent (the feature is off).
float optional_positive(const nlohmann::json& j, const std::string& path, const char* key,
                        double fallback) {
  if (!j.contains(key)) return static_cast<float>(fallback);
  if (j[key].is_null()) return 0.0f;
  if (!j[key].is_number() || !(j[key].get<double>() > 0))
    throw Error(path + ": " + key + " must be a positive number or null, got " + j[key].dump());
  return static_cast<float>(j[key].get<double>());
}

}  // namespace

ModelConfig gemma2_config(const nlohmann::json& j, const std::string& path) {
  nlohmann::json as_gemma = j;
  as_gemma.erase("sliding_window");  // read here: Gemma 2 keeps its full context
  ModelConfig c = gemma_config(as_gemma, path);
  c.model_type = "gemma2";
  c.family = "Gemma 2";
  c.post_norms = true;
  // transformers' defaults (configuration_gemma2.py) for keys a config leaves out
  const float qpas = optional_positive(j, path, "query_pre_attn_scalar", 256.0);
  if (qpas <= 0) throw Error(path + ": query_pre_attn_scalar must be a positive number");
  c.attn_scale = static_cast<float>(std::pow(static_cast<double>(qpas), -0.5));
  c.attn_softcap = optional_positive(j, path, "attn_logit_softcapping", 50.0);
  c.final_softcap = optional_positive(j, path, "final_logit_softcapping", 30.0);

  int window = 4096;
  if (j.contains("sliding_window")) {
    if (j["sliding_window"].is_null()) window = 0;
    else if (j["sliding_window"].is_number_integer() && j["sliding_window"].get<int>() > 0)
      window = j["sliding_window"].get<int>();
    else
      throw Error(path + ": sliding_window must be a positive integer or null, got " + j["sliding_window"].dump());
  }
  c.layer_window.assign(c.n_layers, 0);
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    const nlohmann::json& lt = j["layer_types"];
    if (!lt.is_array() || static_cast<int>(lt.size()) != c.n_layers)
      throw Error(path + ": layer_types must list one entry per layer (" + std::to_string(c.n_layers) + ")");
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string t = lt[l].is_string() ? lt[l].get<std::string>() : lt[l].dump();
      if (t == "sliding_attention") c.layer_window[l] = window;
      else if (t != "full_attention")
        throw Error(path + ": layer_types[" + std::to_string(l) + "] is '" + t +
                    "', expected sliding_attention or full_attention");
    }
  } else {
    for (int l = 0; l < c.n_layers; l += 2) c.layer_window[l] = window;  // modeling_gemma2: even layers
  }
  for (int& w : c.layer_window)
    if (w >= c.n_ctx) w = 0;  // a window as long as the context is full attention
  return c;
}

Weights gemma2_weights(const CheckpointFiles& f, const ModelConfig& c) {
  // Gemma's reader takes post_attention_layernorm as ln2 (Gemma 1's name for it); in Gemma 2 that
  // norm follows the attention and pre_feedforward_layernorm is the MLP's input norm.
  Weights w = gemma_weights(f, c);
  const std::vector<std::string> p = {"model.", ""};
  const int64_t D = c.d_model;
  auto one_plus = [](Tensor t) {
    for (float& x : t.data) x = 1.0f + x;
    return t;
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string L = "layers." + std::to_string(l) + ".";
    LayerWeights& lw = w.layers[l];
    lw.ln1_post_w = std::move(lw.ln2_w);
    lw.ln2_w = one_plus(take_tensor(f, p, L + "pre_feedforward_layernorm.weight", {D}));
    lw.ln2_post_w = one_plus(take_tensor(f, p, L + "post_feedforward_layernorm.weight", {D}));
  }
  return w;
}

}  // namespace cs
