#include "interp/ablation.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "interp/graph.h"
#include "ops/error.h"
#include "ops/position_mean.h"

namespace cs {

namespace {

std::string z_name(int l) { return HookPoint{Hook::z, l}.name(); }
std::string mlp_name(int l) { return HookPoint{Hook::mlp_out, l}.name(); }

// act [B,T,F] -> mean [T,F] over the rows that reach each position, and fallback [F] over every
// real position; positions at or past a prompt's length are padding and excluded.
void position_means(const Tensor& act, const Batch& batch, int64_t n, int64_t f, Tensor& mean,
                    Tensor& fallback) {
  const int64_t B = act.dim(0), T = act.dim(1);
  mean = n == 1 ? Tensor({T, f}) : Tensor({T, n, f});
  fallback = n == 1 ? Tensor({f}) : Tensor({n, f});
  position_mean(mean.ptr(), fallback.ptr(), act.ptr(), B, T, n * f, batch.lengths.data());
}

// What one hook writes: slots (heads, or {0} for an MLP) of an activation [B,T,n,f].
struct Replacement {
  AblationKind kind;
  std::vector<int> slots;
  std::vector<int> positions;  // empty = all
  int64_t n, f;
  const Tensor* ref = nullptr;       // Resample [B,T,n,f]; Mean [T_ref,n,f]
  const Tensor* fallback = nullptr;  // Mean [n,f]
  std::string name;

  void operator()(const HookPoint&, Tensor& act) const {
    const int64_t B = act.dim(0), T = act.dim(1);
    if (kind == AblationKind::Resample && (ref->dim(0) != B || ref->dim(1) != T))
      throw Error("resample ablation of " + name + ": the corrupted batch has shape [" +
                  std::to_string(ref->dim(0)) + "," + std::to_string(ref->dim(1)) +
                  "], the batch being run [" + std::to_string(B) + "," + std::to_string(T) +
                  "]: pair every clean prompt with a corrupted prompt of the same length");
    for (int p : positions)
      if (p >= T)
        throw Error("ablation of " + name + ": position " + std::to_string(p) +
                    " is past the batch's " + std::to_string(T) + " tokens");
    auto apply = [&](int64_t b, int64_t t) {
      float* row = act.ptr() + (b * T + t) * n * f;
      for (int s : slots) {
        float* dst = row + s * f;
        const float* src = nullptr;
        if (kind == AblationKind::Resample)
          src = ref->ptr() + ((b * T + t) * n + s) * f;
        else if (kind == AblationKind::Mean)
          src = t < ref->dim(0) ? ref->ptr() + (t * n + s) * f : fallback->ptr() + s * f;
        if (src)
          std::memcpy(dst, src, f * sizeof(float));
        else
          std::fill(dst, dst + f, 0.0f);
      }
    };
    for (int64_t b = 0; b < B; ++b) {
      if (positions.empty())
        for (int64_t t = 0; t < T; ++t) apply(b, t);
      else
        for (int t : positions) apply(b, t);
    }
  }
};

const Tensor* find(const ActivationCache& c, const std::string& name, const char* what) {
  auto it = c.find(name);
  if (it == c.end())
    throw Error("ablation source has no " + std::string(what) + " for " + name +
                ": was it made with make_ablation_source for this model?");
  return &it->second;
}

}  // namespace

AblationKind parse_ablation_kind(const std::string& s) {
  if (s == "zero") return AblationKind::Zero;
  if (s == "mean") return AblationKind::Mean;
  if (s == "resample") return AblationKind::Resample;
  throw Error("unknown ablation '" + s + "': use zero, mean or resample");
}

std::string to_string(AblationKind k) {
  switch (k) {
    case AblationKind::Zero:
      return "zero";
    case AblationKind::Mean:
      return "mean";
    case AblationKind::Resample:
      return "resample";
  }
  return "?";
}

AblationSource make_ablation_source(const Model& m, AblationKind kind, const Batch* reference) {
  AblationSource src;
  src.kind = kind;
  if (kind == AblationKind::Zero) return src;
  if (!reference || reference->B == 0)
    throw Error(
        to_string(kind) + " ablation needs a reference batch (" +
        (kind == AblationKind::Mean ? "the prompts to average over" : "the corrupted prompts") +
        ")");
  const ModelConfig& c = m.cfg;
  Hooks hooks;
  ActivationCache acts;
  for (int l = 0; l < c.n_layers; ++l) {
    hooks.cache({Hook::z, l}, &acts);
    if (!c.attn_only) hooks.cache({Hook::mlp_out, l}, &acts);
  }
  forward(m, *reference, &hooks, {LogitsAt::None});
  for (int l = 0; l < c.n_layers; ++l) {
    Tensor& z = acts.at(z_name(l));
    if (kind == AblationKind::Resample) {
      src.z[z_name(l)] = std::move(z);
      if (!c.attn_only) src.mlp_out[mlp_name(l)] = std::move(acts.at(mlp_name(l)));
      continue;
    }
    position_means(z, *reference, c.n_heads, c.d_head, src.z[z_name(l)], src.z_fallback[z_name(l)]);
    if (!c.attn_only)
      position_means(acts.at(mlp_name(l)), *reference, 1, c.d_model, src.mlp_out[mlp_name(l)],
                     src.mlp_out_fallback[mlp_name(l)]);
  }
  return src;
}

void add_ablation_hooks(Hooks& hooks, const Model& m, const AblationSource& src,
                        const NodeSet& nodes, const std::vector<int>& positions) {
  const ModelConfig& c = m.cfg;
  for (int p : positions)
    if (p < 0) throw Error("ablation position " + std::to_string(p) + " is negative");
  std::map<int, std::vector<int>> by_layer;
  for (auto [l, h] : nodes.heads) {
    if (l < 0 || l >= c.n_layers || h < 0 || h >= c.n_heads)
      throw Error("head " + HeadId{l, h}.str() + " is not in the model (" +
                  std::to_string(c.n_layers) + " layers x " + std::to_string(c.n_heads) +
                  " heads)");
    by_layer[l].push_back(h);
  }
  for (int l : nodes.mlps) {
    if (c.attn_only) throw Error("MLP " + std::to_string(l) + ": the model is attention-only");
    if (l < 0 || l >= c.n_layers)
      throw Error("MLP " + std::to_string(l) + " is not in the model (" +
                  std::to_string(c.n_layers) + " layers)");
  }
  auto make = [&](const std::string& name, std::vector<int> slots, int64_t n, int64_t f,
                  const ActivationCache& refs, const ActivationCache& fallbacks) {
    Replacement r{src.kind, std::move(slots), positions, n, f, nullptr, nullptr, name};
    if (src.kind != AblationKind::Zero) r.ref = find(refs, name, "activations");
    if (src.kind == AblationKind::Mean) r.fallback = find(fallbacks, name, "fallback mean");
    return r;
  };
  for (auto& [l, hs] : by_layer) {
    std::sort(hs.begin(), hs.end());
    hs.erase(std::unique(hs.begin(), hs.end()), hs.end());
    hooks.add({Hook::z, l}, make(z_name(l), hs, c.n_heads, c.d_head, src.z, src.z_fallback));
  }
  std::vector<int> mlps = nodes.mlps;
  std::sort(mlps.begin(), mlps.end());
  mlps.erase(std::unique(mlps.begin(), mlps.end()), mlps.end());
  for (int l : mlps)
    hooks.add({Hook::mlp_out, l},
              make(mlp_name(l), {0}, 1, c.d_model, src.mlp_out, src.mlp_out_fallback));
}

void add_ablation_hooks(Hooks& hooks, const Model& m, const AblationSource& src,
                        const HeadSet& heads, const std::vector<int>& positions) {
  add_ablation_hooks(hooks, m, src, NodeSet{heads.heads, {}}, positions);
}

Tensor run_with_nodes_ablated(const Model& m, const Batch& batch, const AblationSource& src,
                              const NodeSet& ablate, LogitsAt at) {
  Hooks hooks;
  add_ablation_hooks(hooks, m, src, ablate);
  return forward(m, batch, &hooks, {at});
}

Tensor run_with_heads_ablated(const Model& m, const Batch& batch, const AblationSource& src,
                              const HeadSet& ablate, LogitsAt at) {
  return run_with_nodes_ablated(m, batch, src, NodeSet{ablate.heads, {}}, at);
}

HeadSet all_heads(const Model& m) {
  HeadSet r;
  for (int l = 0; l < m.cfg.n_layers; ++l)
    for (int h = 0; h < m.cfg.n_heads; ++h) r.heads.emplace_back(l, h);
  return r;
}

HeadSet complement(const Model& m, const HeadSet& keep) {
  return HeadSet{complement(m, NodeSet{keep.heads, {}}).heads};
}

NodeSet complement(const Model& m, const NodeSet& keep) {
  const ModelConfig& c = m.cfg;
  std::vector<char> head_kept(static_cast<size_t>(c.n_layers) * c.n_heads, 0);
  std::vector<char> mlp_kept(c.n_layers, 0);
  for (auto [l, h] : keep.heads)
    if (l >= 0 && l < c.n_layers && h >= 0 && h < c.n_heads)
      head_kept[l * c.n_heads + h] = 1;
    else
      throw Error("head " + HeadId{l, h}.str() + " is not in the model");
  for (int l : keep.mlps)
    if (l >= 0 && l < c.n_layers && !c.attn_only)
      mlp_kept[l] = 1;
    else
      throw Error("MLP " + std::to_string(l) + " is not in the model");
  NodeSet r;
  for (int l = 0; l < c.n_layers; ++l) {
    for (int h = 0; h < c.n_heads; ++h)
      if (!head_kept[l * c.n_heads + h]) r.heads.emplace_back(l, h);
    if (!c.attn_only && !mlp_kept[l]) r.mlps.push_back(l);
  }
  return r;
}

}  // namespace cs
