// Hook points named as in TransformerLens, and the registry a forward pass consults.
// Every intermediate of the forward passes through `Hooks::run` (llama.cpp's `cb(cur, name, il)`):
// a hook may read (cache) or overwrite the activation in place. A point nobody hooked costs one
// lookup; activations that exist only for hooks (hook_result, split q/k/v inputs) are computed
// only when hooked.
// A norm's hook_normalized is TransformerLens's: the input centred (LayerNorm) and divided by
// its scale, before the norm's weight and bias are applied; a hook that edits it edits that.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ops/tensor.h"

namespace cs {

enum class Hook : int {
  embed,               // hook_embed                      [B,T,D]
  pos_embed,           // hook_pos_embed                  [B,T,D]
  resid_pre,           // blocks.L.hook_resid_pre         [B,T,D]
  ln1_normalized,      // blocks.L.ln1.hook_normalized    [B,T,D]   x/scale, before ln1's weight/bias
  q_input,             // blocks.L.hook_q_input           [B,T,H,D]   (split per-head inputs)
  k_input,             // blocks.L.hook_k_input           [B,T,Hkv,D]
  v_input,             // blocks.L.hook_v_input           [B,T,Hkv,D]
  q,                   // blocks.L.attn.hook_q            [B,T,H,dh]
  k,                   // blocks.L.attn.hook_k            [B,T,Hkv,dh]
  v,                   // blocks.L.attn.hook_v            [B,T,Hkv,dh]
  attn_scores,         // blocks.L.attn.hook_attn_scores  [B,H,T,T]  (masked entries -inf)
  pattern,             // blocks.L.attn.hook_pattern      [B,H,T,T]
  z,                   // blocks.L.attn.hook_z            [B,T,H,dh]
  result,              // blocks.L.attn.hook_result       [B,T,H,D]  z_h W_O[h], no bias
  ln1_post_normalized, // blocks.L.ln1_post.hook_normalized [B,T,D] (Gemma 2: the attention's
                       //   output over its RMS, before ln1_post's weight)
  attn_out,            // blocks.L.hook_attn_out          [B,T,D]
  resid_mid,           // blocks.L.hook_resid_mid         [B,T,D]   (not for parallel residual)
  mlp_in,              // blocks.L.hook_mlp_in            [B,T,D]   (residual read by the MLP)
  ln2_normalized,      // blocks.L.ln2.hook_normalized    [B,T,D]   x/scale, before ln2's weight/bias
  mlp_pre,             // blocks.L.mlp.hook_pre           [B,T,d_mlp]
  mlp_post,            // blocks.L.mlp.hook_post          [B,T,d_mlp]
  ln2_post_normalized, // blocks.L.ln2_post.hook_normalized [B,T,D] (Gemma 2, as ln1_post)
  mlp_out,             // blocks.L.hook_mlp_out           [B,T,D]
  resid_post,          // blocks.L.hook_resid_post        [B,T,D]
  ln_final_normalized, // ln_final.hook_normalized        [B,T,D]   x/scale, before the weight/bias
  count
};

struct HookPoint {
  Hook hook = Hook::embed;
  int layer = -1;  // -1 for the model-level points (embed, pos_embed, ln_final)

  std::string name() const;
  // Parses a TransformerLens name ("blocks.3.attn.hook_z", "hook_embed"); throws cs::Error
  // listing valid forms if unknown.
  static HookPoint parse(std::string_view name);
  bool operator<(const HookPoint& o) const {
    return hook != o.hook ? hook < o.hook : layer < o.layer;
  }
  bool operator==(const HookPoint& o) const { return hook == o.hook && layer == o.layer; }
};

// A hook sees the activation with its TransformerLens shape and may change it in place.
using HookFn = std::function<void(const HookPoint&, Tensor&)>;

class Hooks {
 public:
  void add(const HookPoint& p, HookFn fn) { fns_[p].push_back(std::move(fn)); }
  // Copy the activation into cache[p.name()] every time it passes.
  void cache(const HookPoint& p, std::map<std::string, Tensor>* cache);
  bool active(Hook h, int layer) const { return !fns_.empty() && fns_.count({h, layer}); }
  void run(Hook h, int layer, Tensor& t) const;
  bool empty() const { return fns_.empty(); }
  void clear() { fns_.clear(); }

 private:
  std::map<HookPoint, std::vector<HookFn>> fns_;
};

using ActivationCache = std::map<std::string, Tensor>;

}  // namespace cs
