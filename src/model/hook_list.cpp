#include "model/hook_list.h"

#include <fnmatch.h>

#include <algorithm>

#include "model/transformer.h"
#include "ops/error.h"

namespace cs {

std::vector<HookShape> hook_shapes(const Model& m, int batch, int seq_len) {
  if (batch < 1 || seq_len < 1) throw Error("hook shapes need a batch and a sequence length of at least 1");
  if (m.cfg.n_ctx > 0 && seq_len > m.cfg.n_ctx)
    throw Error("sequence length " + std::to_string(seq_len) + " is longer than the model's context (" +
                std::to_string(m.cfg.n_ctx) + ")");
  std::vector<std::vector<int>> seqs(static_cast<size_t>(batch), std::vector<int>(static_cast<size_t>(seq_len)));
  for (auto& s : seqs)
    for (int t = 0; t < seq_len; ++t) s[static_cast<size_t>(t)] = t % std::max(1, m.cfg.vocab_size);
  const Batch b = Batch::from_sequences(seqs);
  // Two passes: hooking the split q/k/v inputs sends the forward down the per-head path, where
  // ln1.hook_normalized is not visited, so they are listed from a pass of their own.
  auto split_input = [](Hook h) { return h == Hook::q_input || h == Hook::k_input || h == Hook::v_input; };
  std::vector<HookShape> seen;
  for (const bool split : {false, true}) {
    Hooks hooks;
    auto record = [&seen](const HookPoint& p, Tensor& t) {
      for (const HookShape& s : seen)
        if (s.point == p) return;
      seen.push_back({p, t.shape});
    };
    for (int h = 0; h < static_cast<int>(Hook::count); ++h) {
      if (split_input(static_cast<Hook>(h)) != split) continue;
      hooks.add({static_cast<Hook>(h), -1}, record);
      for (int l = 0; l < m.cfg.n_layers; ++l) hooks.add({static_cast<Hook>(h), l}, record);
    }
    forward(m, b, &hooks, {LogitsAt::None});
  }
  // Forward order: the model-level points before the layers (ln_final after them), each layer's
  // in the order of the Hook enum, which is the order its block visits them.
  auto place = [&m](const HookPoint& p) {
    return p.layer >= 0 ? p.layer : p.hook == Hook::ln_final_normalized ? m.cfg.n_layers : -1;
  };
  std::stable_sort(seen.begin(), seen.end(), [&](const HookShape& x, const HookShape& y) {
    return place(x.point) != place(y.point) ? place(x.point) < place(y.point) : x.point.hook < y.point.hook;
  });
  return seen;
}

std::vector<HookPoint> match_hooks(const std::string& pattern, const std::vector<HookShape>& all) {
  std::vector<HookPoint> out;
  const bool wild = pattern.find_first_of("*?[") != std::string::npos;
  for (const HookShape& s : all) {
    const std::string name = s.point.name();
    if (wild ? fnmatch(pattern.c_str(), name.c_str(), 0) == 0 : name == pattern) out.push_back(s.point);
  }
  if (out.empty()) {
    if (!wild) HookPoint::parse(pattern);  // a malformed name gets parse's list of valid forms
    throw Error("hook '" + pattern + "' matches no hook point of this model (`circuitscan hooks MODEL` lists them all)");
  }
  return out;
}

}  // namespace cs
