// Gemma (Gemma Team 2024, first generation): the Llama checkpoint layout with three differences,
// folded into the canonical weights at load time so the forward stays the shared one:
//   - RMSNorm scales are stored as w and applied as (1 + w): we store 1 + w (float32, as HF).
//   - The embedding is multiplied by sqrt(hidden_size) (rounded to the compute dtype, as HF's
//     normalizer) on the way in, not on the way out: cfg.embed_scale, applied where the forward
//     reads W_E's rows; W_U (tied on disk) is the stored rows. hook_embed is therefore the
//     scaled embedding, the residual stream's input.
//   - The MLP is GeGLU, gelu (tanh approximation) of the gate times the up projection.
// Multi-query attention (Gemma 2B) is grouped-query attention with one key/value head.
// Gemma 2 (soft-capping, sliding-window layers, extra norms) is arch_gemma2.cpp, built on this.
#include <cmath>

#include "model/architecture.h"
#include "ops/error.h"

namespace cs {

ModelConfig gemma_config(const nlohmann::json& j, const std::string& path) {
  // hidden_activation (newer configs) wins over hidden_act; transformers runs gelu_pytorch_tanh
  // when it is missing.
  const std::string act = config_string_or(j, path, "hidden_activation", "gelu_pytorch_tanh");
  if (act != "gelu_pytorch_tanh" && act != "gelu_new" && act != "gelu_fast")
    throw Error(path + ": hidden_activation '" + act + "' is not supported for gemma (only gelu_pytorch_tanh)");
  nlohmann::json as_llama = j;
  as_llama["hidden_act"] = "silu";  // read the shared fields with the Llama reader
  if (!as_llama.contains("tie_word_embeddings")) as_llama["tie_word_embeddings"] = true;
  ModelConfig c = llama_config(as_llama, path);
  c.model_type = "gemma";
  c.family = "Gemma";
  c.act = Activation::GeGLU;
  c.embed_scale = static_cast<float>(std::sqrt(static_cast<double>(c.d_model)));
  return c;
}

Weights gemma_weights(const CheckpointFiles& f, const ModelConfig& c) {
  Weights w = llama_weights(f, c);  // W_U is W_E's stored rows when tied
  auto one_plus = [](Tensor& t) {
    for (float& x : t.data) x = 1.0f + x;
  };
  for (LayerWeights& lw : w.layers) one_plus(lw.ln1_w), one_plus(lw.ln2_w);
  one_plus(w.lnf_w);
  return w;
}

}  // namespace cs
