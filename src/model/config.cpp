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
  if (positions == Positions::Rotary)
    s += " (rotary dims " + std::to_string(rotary_dim) + ", theta " + std::to_string(rope_theta) + ")";
  s += "\nresidual: " + std::string(parallel_residual ? "parallel" : "sequential") +
       ", embeddings: " + (tied_embeddings ? "tied" : "untied");
  if (!dtype_on_disk.empty()) s += ", dtype on disk: " + dtype_on_disk;
  return s;
}

}  // namespace cs
