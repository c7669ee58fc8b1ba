#include "baselines/subnetwork_probing.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "interp/metric_grad.h"
#include "interp/task_metric.h"
#include "attribution/last_token_grad.h"
#include "model/process_weights.h"
#include "model/transformer.h"
#include "ops/adam.h"
#include "ops/error.h"
#include "ops/kl.h"
#include "ops/position_mean.h"
#include "ops/rng.h"
#include "ops/timer.h"

namespace cs {

namespace {

constexpr double kBeta = 2.0 / 3.0, kGamma = -0.1, kZeta = 1.1;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// One batch of prompts: its inputs, ablated activations and metric targets.
struct Chunk {
  size_t first = 0;
  Batch clean;
  ActivationCache abl;            // hook name -> ablated value, same shape as the activation
  std::vector<int32_t> vocab;     // task metric columns (empty: all)
  Tensor p_clean;                 // [B,V] clean next-token probabilities (KL)
  std::vector<double> negent;     // [B] sum_v p log p of each clean distribution
};

// Where the masks live: index l * per_layer + x * H + h for head h's q (x = 0), k (1), v (2) in
// layer l; l * per_layer + 3H for layer l's MLP.
struct MaskLayout {
  int L = 0, H = 0, mlps = 0, per_layer = 0;
  std::vector<HookPoint> points;  // hook_q/k/v (and hook_mlp_out) of every layer

  explicit MaskLayout(const ModelConfig& c)
      : L(c.n_layers), H(c.n_heads), mlps(c.attn_only ? 0 : 1), per_layer(3 * c.n_heads + mlps) {
    for (int l = 0; l < L; ++l) {
      for (Hook p : {Hook::q, Hook::k, Hook::v}) points.push_back({p, l});
      if (mlps) points.push_back({Hook::mlp_out, l});
    }
  }
  int size() const { return L * per_layer; }
  // The first mask of a hook point (its heads follow).
  int first(const HookPoint& p) const {
    const int x = p.hook == Hook::mlp_out ? 3 * H : p.hook == Hook::k ? H : p.hook == Hook::v ? 2 * H : 0;
    return p.layer * per_layer + x;
  }
};

// The per-position means over the corrupt prompts of every hook point, [T,F] each (Mean ablation).
ActivationCache corrupt_means(const Model& m, const TokenizedTask& task, size_t n, const MaskLayout& lay) {
  const Batch ref = corrupt_batch(task, 0, n);
  Hooks hk;
  ActivationCache acts, means;
  for (const HookPoint& p : lay.points) hk.cache(p, &acts);
  forward(m, ref, &hk, {LogitsAt::None});
  for (auto& [name, t] : acts) {  // [n,T,...] -> [T,F]
    const int64_t T = t.dim(1), F = t.numel() / (t.dim(0) * T);
    Tensor mean({T, F});
    position_mean(mean.ptr(), nullptr, t.ptr(), t.dim(0), T, F, ref.lengths.data());
    means[name] = std::move(mean);
  }
  return means;
}

// The batches, their ablated activations and clean targets; counts the forward passes.
std::vector<Chunk> make_chunks(const Model& m, const TokenizedTask& task, const MethodSettings& s, size_t n,
                               size_t batch, bool kl, const MaskLayout& lay, int& forwards) {
  ActivationCache means;
  if (s.ablation == AblationKind::Mean) {
    means = corrupt_means(m, task, n, lay);
    ++forwards;
  }
  std::vector<Chunk> chunks;
  for (size_t first = 0; first < n; first += batch) {
    Chunk ch;
    ch.first = first;
    const size_t nb = std::min(batch, n - first);
    ch.clean = clean_batch(task, first, nb);
    if (s.ablation == AblationKind::Resample) {
      const Batch cor = corrupt_batch(task, first, nb);
      if (cor.T != ch.clean.T || cor.lengths != ch.clean.lengths)
        throw Error("subnetwork probing: resample ablation needs each corrupt prompt as long as its clean prompt");
      Hooks hk;
      for (const HookPoint& p : lay.points) hk.cache(p, &ch.abl);
      forward(m, cor, &hk, {LogitsAt::None});
      ++forwards;
    } else if (s.ablation == AblationKind::Mean) {
      for (const auto& [name, mean] : means) {
        const int64_t T = ch.clean.T, F = mean.dim(1);
        const bool mlp = name.find("mlp_out") != std::string::npos;
        Tensor t = mlp ? Tensor({ch.clean.B, T, F}) : Tensor({ch.clean.B, T, lay.H, F / lay.H});
        for (int64_t b = 0; b < ch.clean.B; ++b)
          std::copy_n(mean.ptr(), std::min(T, mean.dim(0)) * F, t.ptr() + b * T * F);
        ch.abl[name] = std::move(t);
      }
    }
    if (kl) {
      const Tensor logits = forward(m, ch.clean, nullptr, {LogitsAt::Last});
      ++forwards;
      const int64_t V = logits.dim(1);
      ch.p_clean = Tensor::uninit(logits.shape);
      for (int64_t b = 0; b < ch.clean.B; ++b)
        ch.negent.push_back(reference_distribution(ch.p_clean.ptr() + b * V, logits.ptr() + b * V, V));
    } else {
      ch.vocab = metric_vocab(task, first, nb);
    }
    chunks.push_back(std::move(ch));
  }
  return chunks;
}

// mm's masked weights from base's: head h's W_Q/W_K/W_V columns and bias by its q/k/v mask, an
// MLP's W_out and b_out by its mask.
void scale_weights(Model& mm, const Model& base, const std::vector<double>& mask, const MaskLayout& lay) {
  const ModelConfig& c = base.cfg;
  const int64_t D = c.d_model, dh = c.d_head, W = c.qkv_width();
  for (int l = 0; l < lay.L; ++l) {
    const LayerWeights& lw = base.w.layers[l];
    LayerWeights& mw = mm.w.layers[l];
    for (int x = 0; x < 3; ++x)
      for (int h = 0; h < lay.H; ++h) {
        const float k = static_cast<float>(mask[l * lay.per_layer + x * lay.H + h]);
        const int64_t col = (x * lay.H + h) * dh;
        for (int64_t d = 0; d < D; ++d)
          for (int64_t j = 0; j < dh; ++j) mw.W_qkv.data[d * W + col + j] = k * lw.W_qkv.data[d * W + col + j];
        for (int64_t j = 0; j < dh && !lw.b_qkv.empty(); ++j) mw.b_qkv.data[col + j] = k * lw.b_qkv.data[col + j];
      }
    if (!lay.mlps) continue;
    const float k = static_cast<float>(mask[l * lay.per_layer + 3 * lay.H]);
    for (size_t i = 0; i < lw.W_out.data.size(); ++i) mw.W_out.data[i] = k * lw.W_out.data[i];
    for (size_t i = 0; i < lw.b_out.data.size(); ++i) mw.b_out.data[i] = k * lw.b_out.data[i];
  }
}

// One batch through the masked model mm: adds dM/dm = sum g . (x - x_abl) to gmask (x = (m x) / m,
// g the gradient at the hook point) and returns the batch's part of M (the mean over n prompts).
double chunk_gradient(const Model& mm, const TokenizedTask& task, const Chunk& ch, size_t n, bool kl,
                      const std::vector<double>& mask, const std::vector<double>& dmask, const MaskLayout& lay,
                      std::vector<double>& gmask) {
  // Masked activations before the hook (m x), then + (1 - m) x_abl.
  ActivationCache raw, grads;
  Hooks hk;
  for (const HookPoint& p : lay.points) {
    hk.cache(p, &raw);
    const auto it = ch.abl.find(p.name());
    if (it == ch.abl.end()) continue;
    const Tensor* abl = &it->second;
    const bool mlp = p.hook == Hook::mlp_out;
    hk.add(p, [abl, base = lay.first(p), mlp, &mask](const HookPoint&, Tensor& t) {
      const int64_t n_slot = mlp ? 1 : t.dim(2), f = mlp ? t.dim(2) : t.dim(3), rows = t.dim(0) * t.dim(1);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < n_slot; ++k) {
          const float w = static_cast<float>(1 - mask[base + k]);
          const int64_t o = (r * n_slot + k) * f;
          for (int64_t j = 0; j < f; ++j) t.data[o + j] += w * abl->data[o + j];
        }
    });
  }
  LastTokenPass pass = forward_last_token(mm, ch.clean, &hk, ch.vocab);
  const int64_t B = ch.clean.B, T = ch.clean.T, V = pass.logits.dim(1);
  const Tensor& last = pass.logits;
  Tensor g_last({B, V});
  double metric = 0;
  if (kl) {  // the mean KL over the n prompts, and its gradient (softmax z - p) / n
    for (int64_t b = 0; b < B; ++b)
      metric += kl_to_softmax(ch.p_clean.ptr() + b * V, ch.negent[b], last.ptr() + b * V, V,
                              g_last.ptr() + b * V, 1.0 / n) / n;
  } else {
    std::vector<double> values;
    g_last = task_metric_grad(task, last, ch.first, ch.vocab, -1.0 / n, &values);
    for (double v : values) metric -= v / n;
  }
  backward_last_token(mm, pass, g_last, {lay.points}, &grads);

  for (const HookPoint& p : lay.points) {
    const std::string name = p.name();
    const Tensor& xm = raw.at(name);
    const Tensor& g = grads.at(name);
    const auto it = ch.abl.find(name);
    const Tensor* abl = it == ch.abl.end() ? nullptr : &it->second;
    const bool mlp = p.hook == Hook::mlp_out;
    const int64_t n_slot = mlp ? 1 : xm.dim(2), f = mlp ? xm.dim(2) : xm.dim(3);
    for (int64_t k = 0; k < n_slot; ++k) {
      const int i = lay.first(p) + static_cast<int>(k);
      if (dmask[i] == 0) continue;
      const double inv = 1.0 / mask[i];
      double sum = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < ch.clean.lengths[b]; ++t) {
          const int64_t o = (((b * T + t) * n_slot) + k) * f;
          for (int64_t j = 0; j < f; ++j)
            sum += static_cast<double>(g.data[o + j]) * (xm.data[o + j] * inv - (abl ? abl->data[o + j] : 0.0f));
        }
      gmask[i] += sum;
    }
  }
  return metric;
}

}  // namespace

MethodResult subnetwork_probing(const Model& m, const TokenizedTask& task, const MethodSettings& s,
                                const SpOptions& o) {
  const Timer timer;
  const ModelConfig& c = m.cfg;
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(s.n_prompts, 0)), task.size());
  if (n == 0) throw Error("subnetwork probing: the task has no prompts");
  // Grouped-query attention: per-head k/v masks on the equivalent model with one k/v head per
  // query head.
  if (c.n_kv_heads != c.n_heads) return subnetwork_probing(expand_kv_heads(m), task, s, o);
  const size_t batch = o.batch > 0 ? static_cast<size_t>(o.batch) : n;
  const MaskLayout lay(c);
  const int L = lay.L, H = lay.H, n_masks = lay.size();
  int forwards = 0, backwards = 0;
  const std::vector<Chunk> chunks = make_chunks(m, task, s, n, batch, o.metric_kl, lay, forwards);

  // Mask logits and Adam state.
  const double p0 = (0.9 - kGamma) / (kZeta - kGamma);
  std::vector<double> logit(n_masks, std::log(p0 / (1 - p0))), m1(n_masks, 0.0), m2(n_masks, 0.0);
  std::vector<double> mask(n_masks), dmask(n_masks), gmask(n_masks);
  const int n_tensors = L * (3 + lay.mlps);
  const double shift = kBeta * std::log(-kGamma / kZeta);
  SplitMix64 rng(s.seed, 0x5b9e7ull);
  // The masked weights are rewritten every step in f32: a bf16/f16 model's W_qkv and W_out are
  // widened here (base), the rest stays as loaded.
  Model base = m;
  for (LayerWeights& lw : base.w.layers)
    for (Weight* w : {&lw.W_qkv, &lw.W_out})
      if (!w->empty() && !w->is_f32()) *w = Weight(w->to_tensor());
  Model mm = base;  // weights scaled by the masks, step by step
  double loss = 0, metric = 0, reg = 0;

  for (int step = 0; step < o.steps; ++step) {
    for (int i = 0; i < n_masks; ++i) {  // a hard-concrete sample of every mask
      const double u = std::clamp(rng.uniform(), 0.0001, 0.9999);
      const double sg = sigmoid((std::log(u) - std::log(1 - u) + logit[i]) / kBeta);
      const double sb = sg * (kZeta - kGamma) + kGamma;
      mask[i] = std::clamp(sb, 0.0, 1.0);
      dmask[i] = sb > 0 && sb < 1 ? (kZeta - kGamma) * sg * (1 - sg) / kBeta : 0.0;
    }
    scale_weights(mm, base, mask, lay);
    std::fill(gmask.begin(), gmask.end(), 0.0);
    metric = 0;
    for (const Chunk& ch : chunks) {
      metric += chunk_gradient(mm, task, ch, n, o.metric_kl, mask, dmask, lay, gmask);
      ++forwards;
      ++backwards;
    }

    // Regulariser and Adam.
    reg = 0;
    const AdamStep<double> adam(o.lr, step + 1);
    for (int i = 0; i < n_masks; ++i) {
      const bool mlp = lay.mlps && i % lay.per_layer == 3 * H;
      const double size = mlp ? 1.0 : H, sg = sigmoid(logit[i] - shift);
      reg += sg / (size * n_tensors);
      const double g = gmask[i] * dmask[i] + o.lambda * sg * (1 - sg) / (size * n_tensors);
      logit[i] = adam.update(logit[i], g, m1[i], m2[i]);
    }
    loss = metric + o.lambda * reg;
  }

  MethodResult r;
  r.method = "sp";
  r.head_scores.assign(static_cast<size_t>(L) * H, 0.0);
  double l0 = 0;
  for (int i = 0; i < n_masks; ++i) l0 += sigmoid(logit[i] - shift) / n_masks;
  for (int l = 0; l < L; ++l) {
    for (int h = 0; h < H; ++h) {
      const int i = l * lay.per_layer + h;
      r.head_scores[static_cast<size_t>(l) * H + h] = std::max({logit[i], logit[i + H], logit[i + 2 * H]});
    }
    if (lay.mlps) r.mlp_scores.push_back(logit[l * lay.per_layer + 3 * H]);
  }
  r.stats["steps"] = o.steps;
  r.stats["final_loss"] = loss;
  r.stats["final_metric"] = metric;
  r.stats["expected_l0"] = l0;
  r.stats["forward_passes"] = forwards;
  r.stats["backward_passes"] = backwards;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
