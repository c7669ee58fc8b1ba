#include "baselines/subnetwork_probing.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "interp/metric_grad.h"
#include "interp/task_metric.h"
#include "attribution/last_token_grad.h"
#include "model/process_weights.h"
#include "model/transformer.h"
#include "ops/error.h"

namespace cs {

namespace {

constexpr double kBeta = 2.0 / 3.0, kGamma = -0.1, kZeta = 1.1;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// splitmix64 (Steele et al. 2014): the same draws on every platform.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull ^ 0x5b9e7ull) {}
  double uniform() {  // [0, 1)
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
};

// Per-position mean over the prompts of `act` [n,T,F] that reach each position -> [T,F].
Tensor position_mean(const Tensor& act, const std::vector<int>& lengths) {
  const int64_t n = act.dim(0), T = act.dim(1), F = act.numel() / (n * T);
  Tensor mean({T, F});
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> sum(static_cast<size_t>(F), 0.0);
    int count = 0;
    for (int64_t b = 0; b < n; ++b) {
      if (t >= lengths[b]) continue;
      ++count;
      for (int64_t j = 0; j < F; ++j) sum[j] += act.data[(b * T + t) * F + j];
    }
    for (int64_t j = 0; j < F; ++j) mean.data[t * F + j] = count ? static_cast<float>(sum[j] / count) : 0.0f;
  }
  return mean;
}

// One batch of prompts: its inputs, ablated activations and metric targets.
struct Chunk {
  size_t first = 0;
  Batch clean;
  ActivationCache abl;            // hook name -> ablated value, same shape as the activation
  std::vector<int32_t> vocab;     // task metric columns (empty: all)
  Tensor p_clean;                 // [B,V] clean next-token probabilities (KL)
};

}  // namespace

MethodResult subnetwork_probing(const Model& m, const TokenizedTask& task, const MethodSettings& s) {
  const auto t0 = std::chrono::steady_clock::now();
  const ModelConfig& c = m.cfg;
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(s.n_prompts, 0)), task.size());
  if (n == 0) throw Error("subnetwork probing: the task has no prompts");
  // Grouped-query attention: per-head k/v masks on the equivalent model with one k/v head per
  // query head.
  if (c.n_kv_heads != c.n_heads) return subnetwork_probing(expand_kv_heads(m), task, s);
  const size_t batch = static_cast<size_t>(std::max(1.0, s.param("batch", static_cast<double>(n))));
  const int steps = static_cast<int>(s.param("steps", 200));
  const double lr = s.param("lr", 0.01), lambda = s.param("lambda", 50);
  const bool kl = s.param("metric_kl", 1) != 0;
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
    for (auto& [name, t] : acts) means[name] = position_mean(t, ref.lengths);
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
      ch.p_clean = forward(m, ch.clean, nullptr, {LogitsAt::Last});
      ++forwards;
      const int64_t V = ch.p_clean.dim(1);
      for (int64_t b = 0; b < ch.clean.B; ++b) {
        float* z = ch.p_clean.ptr() + b * V;
        const float mx = *std::max_element(z, z + V);
        double sum = 0;
        for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(z[v]) - mx);
        for (int64_t v = 0; v < V; ++v) z[v] = static_cast<float>(std::exp(static_cast<double>(z[v]) - mx) / sum);
      }
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
  Rng rng(s.seed);
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
      if (kl) {  // d/dz KL(p || softmax z) = softmax z - p
        for (int64_t b = 0; b < B; ++b) {
          const float* z = last.ptr() + b * V;
          const float* p = ch.p_clean.ptr() + b * V;
          const float mx = *std::max_element(z, z + V);
          double sum = 0;
          for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(z[v]) - mx);
          const double lse = mx + std::log(sum);
          for (int64_t v = 0; v < V; ++v) {
            const double lq = z[v] - lse;
            if (p[v] > 0) metric += p[v] * (std::log(static_cast<double>(p[v])) - lq) / n;
            g_last.data[b * V + v] = static_cast<float>((std::exp(lq) - p[v]) / n);
          }
        }
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
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int i = 0; i < n_masks; ++i) {
      const bool mlp = mlps && i % per_layer == 3 * H;
      const double size = mlp ? 1.0 : H, sg = sigmoid(logit[i] - shift);
      reg += sg / (size * n_tensors);
      const double g = gmask[i] * dmask[i] + lambda * sg * (1 - sg) / (size * n_tensors);
      m1[i] = b1 * m1[i] + (1 - b1) * g;
      m2[i] = b2 * m2[i] + (1 - b2) * g * g;
      const double mh = m1[i] / (1 - std::pow(b1, step + 1)), vh = m2[i] / (1 - std::pow(b2, step + 1));
      logit[i] -= lr * mh / (std::sqrt(vh) + eps);
    }
    loss = metric + lambda * reg;
  }

  MethodResult r;
  r.method = "subnetwork-probing";
  r.head_scores.assign(static_cast<size_t>(L) * H, 0.0);
  double l0 = 0;
  for (int i = 0; i < n_masks; ++i) l0 += sigmoid(logit[i] - shift) / n_masks;
  for (int l = 0; l < L; ++l) {
    for (int h = 0; h < H; ++h) {
      const int i = l * per_layer + h;
      r.head_scores[static_cast<size_t>(l) * H + h] = std::max({logit[i], logit[i + H], logit[i + 2 * H]});
    }
    if (mlps) r.stats["mlp." + std::to_string(l)] = logit[l * per_layer + 3 * H];
  }
  r.stats["steps"] = steps;
  r.stats["final_loss"] = loss;
  r.stats["final_metric"] = metric;
  r.stats["expected_l0"] = l0;
  r.stats["forward_passes"] = forwards;
  r.stats["backward_passes"] = backwards;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace cs
