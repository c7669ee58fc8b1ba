#include "model/config.h"

#include <cmath>

#include "ops/error.h"

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

void validate_config(const ModelConfig& c, const std::string& path) {
  auto bound = [&](const char* what, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      throw Error(path + ": " + what + " is " + std::to_string(v) + "; it must be from " + std::to_string(lo) + " to " +
                  std::to_string(hi));
  };
  bound("the number of layers", c.n_layers, 1, kMaxLayers);
  bound("the number of attention heads", c.n_heads, 1, kMaxHeads);
  bound("the number of key/value heads", c.n_kv_heads, 1, c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0)
    throw Error(path + ": " + std::to_string(c.n_heads) + " attention heads are not a multiple of " +
                std::to_string(c.n_kv_heads) + " key/value heads");
  bound("the hidden size", c.d_model, 1, kMaxDim);
  bound("the head size", c.d_head, 1, kMaxDim);
  bound("the MLP size", c.d_mlp, c.attn_only ? 0 : 1, kMaxDim);
  bound("the context length", c.n_ctx, 1, kMaxDim);
  bound("the vocabulary size", c.vocab_size, 1, kMaxVocab);
  if (!std::isfinite(c.norm_eps) || c.norm_eps < 0)
    throw Error(path + ": the norm epsilon is " + std::to_string(c.norm_eps) + "; it must be a finite number >= 0");
  if (c.positions == Positions::Rotary) {
    if (!std::isfinite(c.rope.theta) || !(c.rope.theta > 0))
      throw Error(path + ": rope_theta is " + std::to_string(c.rope.theta) +
                  "; RoPE needs a positive base (10000 in most models), else every rotation is NaN");
    if (c.rotary_dim <= 0 || c.rotary_dim % 2 != 0 || c.rotary_dim > c.d_head)
      throw Error(path + ": " + std::to_string(c.rotary_dim) + " rotary dims per head: RoPE needs an even count in (0, head size]");
  }
}

}  // namespace cs
