#include "model/hooks.h"


#include "ops/error.h"

namespace cs {

namespace {
struct HookName {
  Hook hook;
  const char* suffix;  // after "blocks.L." (or the full name for model-level points)
  bool per_layer;
};
constexpr HookName kNames[] = {
    {Hook::embed, "hook_embed", false},
    {Hook::pos_embed, "hook_pos_embed", false},
    {Hook::resid_pre, "hook_resid_pre", true},
    {Hook::ln1_normalized, "ln1.hook_normalized", true},
    {Hook::q_input, "hook_q_input", true},
    {Hook::k_input, "hook_k_input", true},
    {Hook::v_input, "hook_v_input", true},
    {Hook::q, "attn.hook_q", true},
    {Hook::k, "attn.hook_k", true},
    {Hook::v, "attn.hook_v", true},
    {Hook::attn_scores, "attn.hook_attn_scores", true},
    {Hook::pattern, "attn.hook_pattern", true},
    {Hook::z, "attn.hook_z", true},
    {Hook::result, "attn.hook_result", true},
    {Hook::ln1_post_normalized, "ln1_post.hook_normalized", true},
    {Hook::attn_out, "hook_attn_out", true},
    {Hook::resid_mid, "hook_resid_mid", true},
    {Hook::mlp_in, "hook_mlp_in", true},
    {Hook::ln2_normalized, "ln2.hook_normalized", true},
    {Hook::mlp_pre, "mlp.hook_pre", true},
    {Hook::mlp_post, "mlp.hook_post", true},
    {Hook::ln2_post_normalized, "ln2_post.hook_normalized", true},
    {Hook::mlp_out, "hook_mlp_out", true},
    {Hook::resid_post, "hook_resid_post", true},
    {Hook::ln_final_normalized, "ln_final.hook_normalized", false},
};
static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(Hook::count));
}  // namespace

std::string HookPoint::name() const {
  const HookName& n = kNames[static_cast<int>(hook)];
  if (!n.per_layer) return n.suffix;
  return "blocks." + std::to_string(layer) + "." + n.suffix;
}

HookPoint HookPoint::parse(std::string_view s) {
  for (const HookName& n : kNames)
    if (!n.per_layer && s == n.suffix) return {n.hook, -1};
  if (s.substr(0, 7) == "blocks.") {
    std::string_view rest = s.substr(7);
    size_t dot = rest.find('.');
    if (dot != std::string_view::npos && dot > 0) {
      // Plain decimal digits, at most 6 of them: "4294967296" must not wrap to layer 0.
      const std::string_view num = rest.substr(0, dot);
      bool digits = num.size() <= 6;
      int layer = 0;
      for (size_t i = 0; digits && i < num.size(); ++i) {
        digits = num[i] >= '0' && num[i] <= '9';
        layer = layer * 10 + (num[i] - '0');
      }
      std::string_view suffix = rest.substr(dot + 1);
      if (digits)
        for (const HookName& n : kNames)
          if (n.per_layer && suffix == n.suffix) return {n.hook, static_cast<int>(layer)};
    }
  }
  throw Error("unknown hook point '" + std::string(s) +
              "': use TransformerLens names such as hook_embed, blocks.0.hook_resid_pre, "
              "blocks.0.attn.hook_z, blocks.0.attn.hook_result, blocks.0.mlp.hook_post, "
              "ln_final.hook_normalized");
}

void Hooks::cache(const HookPoint& p, std::map<std::string, Tensor>* cache) {
  add(p, [cache](const HookPoint& hp, Tensor& t) { (*cache)[hp.name()] = t; });
}

void Hooks::run(Hook h, int layer, Tensor& t) const {
  auto it = fns_.find({h, layer});
  if (it == fns_.end()) return;
  HookPoint p{h, layer};
  for (const HookFn& fn : it->second) fn(p, t);
}

}  // namespace cs
