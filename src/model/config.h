// ModelConfig: the architecture of a decoder-only transformer, as a plain struct.
// Variants are enums; each architecture file (arch_*.cpp) builds one from config.json.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/rotary.h"

namespace cs {

// Bounds on the sizes a config.json may give: far above any published model (GPT-3 has 96 layers
// of 96 heads), low enough that layers x heads and every tensor size stay well inside int64 and
// the head index (layer * n_heads + head) inside int.
inline constexpr int kMaxLayers = 1024;
inline constexpr int kMaxHeads = 1024;
inline constexpr int kMaxDim = 1 << 20;         // d_model, d_head, d_mlp, n_ctx
inline constexpr int kMaxVocab = 1 << 24;

enum class Norm { LayerNorm, RMSNorm };
// SwiGLU (Llama): silu(gate) * up. GeGLU (Gemma): gelu_new(gate) * up, the tanh approximation.
enum class Activation { GeluNew, GeluErf, SwiGLU, Relu, GeGLU };
// A gated MLP has W_gate and multiplies act(gate) by the up projection.
inline bool gated(Activation a) { return a == Activation::SwiGLU || a == Activation::GeGLU; }
// Learned: absolute positions added to the residual (GPT-2). Rotary: RoPE on q,k (NeoX, Llama).
// Shortformer: learned positions added to the q and k inputs only (TransformerLens attn-only).
enum class Positions { Learned, Rotary, Shortformer };

struct ModelConfig {
  std::string model_type;      // config.json's model_type ("gpt2", "gpt_neox", "llama", ...)
  std::string family;          // human-readable family name
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;          // == n_heads unless grouped-query attention
  int d_model = 0;
  int d_head = 0;
  int d_mlp = 0;               // 0 for attention-only models
  int n_ctx = 0;
  int vocab_size = 0;
  float norm_eps = 1e-5f;
  Norm norm = Norm::LayerNorm;
  Activation act = Activation::GeluNew;
  Positions positions = Positions::Learned;
  bool parallel_residual = false;  // NeoX: x + attn(ln1(x)) + mlp(ln2(x))
  bool tied_embeddings = true;
  bool attn_only = false;
  int rotary_dim = 0;              // dims of each head that get RoPE (NeoX: rotary_pct * d_head)
  Rope rope;                       // theta, and Llama 3.1's frequency scaling when it has one
  bool rotary_interleaved = false; // false: GPT-NeoX/Llama "rotate_half" layout
  std::string dtype_on_disk;       // "F32", "F16", "BF16"

  // Gemma's embedding multiplier: the residual stream starts at W_E[token] * embed_scale
  // (sqrt(d_model) rounded to the compute dtype, as transformers' normalizer); 1 elsewhere.
  float embed_scale = 1.0f;
  // Attention scores are scale * q.k with scale = attn_scale, or 1/sqrt(d_head) when 0
  // (Gemma 2: query_pre_attn_scalar^-1/2).
  float attn_scale = 0.0f;
  // Gemma 2 soft-capping: x -> cap * tanh(x / cap) on the attention scores (before the mask) and
  // on the final logits; 0: none.
  float attn_softcap = 0.0f;
  float final_softcap = 0.0f;
  // Per layer, the sliding-window size of its attention (a query attends to the `window` keys
  // ending at its own position); 0 or absent: full causal attention. Gemma 2: even layers.
  std::vector<int> layer_window;
  // Gemma 2: RMSNorms on attn_out and mlp_out before they join the residual stream
  // (LayerWeights::ln1_post_w, ln2_post_w).
  bool post_norms = false;

  float attention_scale() const { return attn_scale > 0 ? attn_scale : 1.0f / std::sqrt(static_cast<float>(d_head)); }
  int window(int layer) const {
    return layer >= 0 && layer < static_cast<int>(layer_window.size()) ? layer_window[layer] : 0;
  }

  int n_heads_total() const { return n_layers * n_heads; }
  int64_t qkv_width() const { return static_cast<int64_t>(n_heads + 2 * n_kv_heads) * d_head; }
  std::string describe() const;    // one paragraph of every setting, for `circuitscan info`
};

// Throws cs::Error naming `path` unless every size is within the bounds above and consistent
// (heads a multiple of key/value heads, rotary dims even and within a head, norm eps and rope
// theta finite, theta positive). Run on every config an architecture reads.
void validate_config(const ModelConfig& c, const std::string& path);

}  // namespace cs
