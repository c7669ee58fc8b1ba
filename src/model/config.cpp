#include "model/config.h"

namespace cs {

std::string ModelConfig::describe() const {
  auto norm_s = norm == Norm::LayerNorm ? "LayerNorm" : "RMSNorm";
  const char* act_s = act == Activation::GeluNew ? "gelu_new"
                      : act == Activation::GeluErf ? "gelu"
                      : act == Activation::SwiGLU ? "SwiGLU (silu gate)"
                      : act == Activation::GeGLU ? "GeGLU (gelu tanh gate)"
                                                  : "relu";
  const char* pos_s = positions == Positions::Learned ? "learned absolute"
                      : positions == Positions::Rotary ? "rotary"
                                                       : "shortformer (q/k only)";
  std::string s;
  s += "family: " + family + " (model_type " + model_type + ")\n";
  s += "layers: " + std::to_string(n_layers) + ", heads: " + std::to_string(n_heads);
  if (n_kv_heads != n_heads) s += " (" + std::to_string(n_kv_heads) + " key/value heads, GQA)";
  s += ", d_model: " + std::to_string(d_model) + ", d_head: " + std::to_string(d_head);
  s += attn_only ? ", attention only" : ", d_mlp: " + std::to_string(d_mlp);
  s += "\ncontext: " + std::to_string(n_ctx) + ", vocab: " + std::to_string(vocab_size) + "\n";
  s += std::string("norm: ") + norm_s + " (eps " + std::to_string(norm_eps) + "), activation: " +
       act_s + ", positions: " + pos_s;
  if (positions == Positions::Rotary) {
    s += " (rotary dims " + std::to_string(rotary_dim) + ", theta " + std::to_string(rope.theta);
    if (rope.scaled())
      s += ", llama3 scaling: factor " + std::to_string(rope.factor) + ", low/high freq factors " +
           std::to_string(rope.low_freq_factor) + "/" + std::to_string(rope.high_freq_factor) +
           ", original context " + std::to_string(static_cast<int>(rope.original_max_position));
    s += ")";
  }
  if (embed_scale != 1.0f) s += "\nembedding scale: " + std::to_string(embed_scale);
  if (attn_scale > 0) s += ", attention scale: " + std::to_string(attn_scale);
  if (attn_softcap > 0) s += ", attention soft-cap: " + std::to_string(attn_softcap);
  if (final_softcap > 0) s += ", final logit soft-cap: " + std::to_string(final_softcap);
  if (post_norms) s += ", norms after attention and MLP too";
  int sliding = 0, w = 0;
  for (int x : layer_window)
    if (x > 0) ++sliding, w = x;
  if (sliding > 0)
    s += "\nsliding-window attention (window " + std::to_string(w) + ") on " + std::to_string(sliding) +
         " of " + std::to_string(n_layers) + " layers";
  s += "\nresidual: " + std::string(parallel_residual ? "parallel" : "sequential") +
       ", embeddings: " + (tied_embeddings ? "tied" : "untied");
  if (!dtype_on_disk.empty()) s += ", dtype on disk: " + dtype_on_disk;
  return s;
}

}  // namespace cs
