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
  const int steps = o.steps;
  const double lr = o.lr, lambda = o.lambda;
  const bool kl = o.metric_kl;
  const int L = c.n_layers, H = c.n_heads, mlps = c.attn_only ? 0 : 1, per_layer = 3 * H + mlps;
  const int n_masks = L * per_layer;  // index l * per_layer + x * H + h; MLP: l * per_layer + 3H
  const Hook letters[3] = {Hook::q, Hook::k, Hook::v};

  std::vector<HookPoint> points;
  for (int l = 0; l < L; ++l) {
    for (Hook p : letters) points.push_back({p, l});
    if (mlps) points.push_back({Hook::mlp_out, l});
  }

  // Batches, their ablated activations and clean targets.
  std::vector<Chunk> chunks;
  ActivationCache means;
  if (s.ablation == AblationKind::Mean) {
    const Batch ref = corrupt_batch(task, 0, n);
    Hooks hk;
    ActivationCache acts;
    for (const HookPoint& p : points) hk.cache(p, &acts);
    forward(m, ref, &hk, {LogitsAt::None});
    for (auto& [name, t] : acts) {  // [n,T,...] -> [T,F]: per-position means over the prompts
      const int64_t T = t.dim(1), F = t.numel() / (t.dim(0) * T);
      Tensor mean({T, F});
      position_mean(mean.ptr(), nullptr, t.ptr(), t.dim(0), T, F, ref.lengths.data());
      means[name] = std::move(mean);
    }
  }
  int forwards = s.ablation == AblationKind::Mean ? 1 : 0, backwards = 0;
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
      for (const HookPoint& p : points) hk.cache(p, &ch.abl);
      forward(m, cor, &hk, {LogitsAt::None});
      ++forwards;
    } else if (s.ablation == AblationKind::Mean) {
      for (const auto& [name, mean] : means) {
        const int64_t T = ch.clean.T, F = mean.dim(1);
        const bool mlp = name.find("mlp_out") != std::string::npos;
        Tensor t = mlp ? Tensor({ch.clean.B, T, F}) : Tensor({ch.clean.B, T, H, F / H});
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

  // Mask logits and Adam state.
  const double p0 = (0.9 - kGamma) / (kZeta - kGamma);
  std::vector<double> logit(n_masks, std::log(p0 / (1 - p0))), m1(n_masks, 0.0), m2(n_masks, 0.0);
  std::vector<double> mask(n_masks), dmask(n_masks), gmask(n_masks);
  const int n_tensors = L * (3 + mlps);
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

  for (int step = 0; step < steps; ++step) {
    for (int i = 0; i < n_masks; ++i) {
      const double u = std::clamp(rng.uniform(), 0.0001, 0.9999);
      const double sg = sigmoid((std::log(u) - std::log(1 - u) + logit[i]) / kBeta);
      const double sb = sg * (kZeta - kGamma) + kGamma;
      mask[i] = std::clamp(sb, 0.0, 1.0);
      dmask[i] = sb > 0 && sb < 1 ? (kZeta - kGamma) * sg * (1 - sg) / kBeta : 0.0;
    }
    const int64_t D = c.d_model, dh = c.d_head, W = c.qkv_width();
    for (int l = 0; l < L; ++l) {
      const LayerWeights& lw = base.w.layers[l];
      LayerWeights& mw = mm.w.layers[l];
      for (int x = 0; x < 3; ++x)
        for (int h = 0; h < H; ++h) {
          const float k = static_cast<float>(mask[l * per_layer + x * H + h]);
          const int64_t col = (x * H + h) * dh;
          for (int64_t d = 0; d < D; ++d)
            for (int64_t j = 0; j < dh; ++j) mw.W_qkv.data[d * W + col + j] = k * lw.W_qkv.data[d * W + col + j];
          for (int64_t j = 0; j < dh && !lw.b_qkv.empty(); ++j) mw.b_qkv.data[col + j] = k * lw.b_qkv.data[col + j];
        }
      if (!mlps) continue;
      const float k = static_cast<float>(mask[l * per_layer + 3 * H]);
      for (size_t i = 0; i < lw.W_out.data.size(); ++i) mw.W_out.data[i] = k * lw.W_out.data[i];
      for (size_t i = 0; i < lw.b_out.data.size(); ++i) mw.b_out.data[i] = k * lw.b_out.data[i];
    }

    std::fill(gmask.begin(), gmask.end(), 0.0);
    metric = 0;
    for (const Chunk& ch : chunks) {
      // Masked activations before the hook (m x), then + (1 - m) x_abl.
      ActivationCache raw, grads;
      Hooks hk;
      for (const HookPoint& p : points) {
        const std::string name = p.name();
        hk.cache(p, &raw);
        const Tensor* abl = ch.abl.count(name) ? &ch.abl.at(name) : nullptr;
        if (!abl) continue;
        const bool mlp = p.hook == Hook::mlp_out;
        const int base = p.layer * per_layer + (mlp ? 3 * H : (p.hook == Hook::k ? H : p.hook == Hook::v ? 2 * H : 0));
        hk.add(p, [abl, base, mlp, &mask](const HookPoint&, Tensor& t) {
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
      ++forwards;
      const int64_t B = ch.clean.B, T = ch.clean.T, V = pass.logits.dim(1);
      const Tensor& last = pass.logits;
      Tensor g_last({B, V});
      if (kl) {  // the mean KL over the n prompts, and its gradient (softmax z - p) / n
        for (int64_t b = 0; b < B; ++b)
          metric += kl_to_softmax(ch.p_clean.ptr() + b * V, ch.negent[b], last.ptr() + b * V, V,
                                  g_last.ptr() + b * V, 1.0 / n) / n;
      } else {
        std::vector<double> values;
        g_last = task_metric_grad(task, last, ch.first, ch.vocab, -1.0 / n, &values);
        for (double v : values) metric -= v / n;
      }
      backward_last_token(mm, pass, g_last, {points}, &grads);
      ++backwards;

      // dM/dm = sum g . (x - x_abl), x = (m x) / m.
      for (const HookPoint& p : points) {
        const std::string name = p.name();
        const Tensor& xm = raw.at(name);
        const Tensor& g = grads.at(name);
        const Tensor* abl = ch.abl.count(name) ? &ch.abl.at(name) : nullptr;
        const bool mlp = p.hook == Hook::mlp_out;
        const int64_t n_slot = mlp ? 1 : xm.dim(2), f = mlp ? xm.dim(2) : xm.dim(3);
        const int base = p.layer * per_layer + (mlp ? 3 * H : (p.hook == Hook::k ? H : p.hook == Hook::v ? 2 * H : 0));
        for (int64_t k = 0; k < n_slot; ++k) {
          const int i = base + static_cast<int>(k);
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
    }

    // Regulariser and Adam.
    reg = 0;
    const AdamStep<double> adam(lr, step + 1);
    for (int i = 0; i < n_masks; ++i) {
      const bool mlp = mlps && i % per_layer == 3 * H;
      const double size = mlp ? 1.0 : H, sg = sigmoid(logit[i] - shift);
      reg += sg / (size * n_tensors);
      const double g = gmask[i] * dmask[i] + lambda * sg * (1 - sg) / (size * n_tensors);
      logit[i] = adam.update(logit[i], g, m1[i], m2[i]);
    }
    loss = metric + lambda * reg;
  }

  MethodResult r;
  r.method = "sp";
  r.head_scores.assign(static_cast<size_t>(L) * H, 0.0);
  double l0 = 0;
  for (int i = 0; i < n_masks; ++i) l0 += sigmoid(logit[i] - shift) / n_masks;
  for (int l = 0; l < L; ++l) {
    for (int h = 0; h < H; ++h) {
      const int i = l * per_layer + h;
      r.head_scores[static_cast<size_t>(l) * H + h] = std::max({logit[i], logit[i + H], logit[i + 2 * H]});
    }
    if (mlps) r.mlp_scores.push_back(logit[l * per_layer + 3 * H]);
  }
  r.stats["steps"] = steps;
  r.stats["final_loss"] = loss;
  r.stats["final_metric"] = metric;
  r.stats["expected_l0"] = l0;
  r.stats["forward_passes"] = forwards;
  r.stats["backward_passes"] = backwards;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
