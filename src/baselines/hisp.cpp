#include "baselines/hisp.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "interp/metric_grad.h"
#include "interp/task_metric.h"
#include "attribution/last_token_grad.h"
#include "model/process_weights.h"
#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

MethodResult hisp(const Model& m, const TokenizedTask& task, const MethodSettings& s, const HispOptions& o) {
  const Timer timer;
  const ModelConfig& c = m.cfg;
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(s.n_prompts, 0)), task.size());
  if (n == 0) throw Error("hisp: the task has no prompts");
  const size_t batch = o.batch > 0 ? static_cast<size_t>(o.batch) : n;
  const bool qkv = o.qkv;
  const int L = c.n_layers, H = c.n_heads, Hk = c.n_kv_heads, mlps = c.attn_only ? 0 : 1;
  // Grouped-query attention: per-head k/v masks on the equivalent model with one k/v head per
  // query head (a head's key and value inputs are then its own).
  if (qkv && Hk != H) return hisp(expand_kv_heads(m), task, s, o);

  // Mask points and their per-head activations; importance[(l * slots + k)], slots per layer:
  // qkv: 3H (x * H + h) then the MLP; else H then the MLP.
  const int slots = (qkv ? 3 * H : H) + mlps;
  std::vector<HookPoint> points;
  for (int l = 0; l < L; ++l) {
    if (qkv) for (Hook p : {Hook::q, Hook::k, Hook::v}) points.push_back({p, l});
    else points.push_back({Hook::z, l});
    if (mlps) points.push_back({Hook::mlp_out, l});
  }
  std::vector<double> imp(static_cast<size_t>(L) * slots, 0.0);

  MethodResult r;
  r.method = "hisp";
  int passes = 0;
  for (size_t first = 0; first < n; first += batch) {
    const size_t nb = std::min(batch, n - first);
    const Batch bt = clean_batch(task, first, nb);
    Hooks hooks;
    ActivationCache acts, grads;
    for (const HookPoint& p : points) hooks.cache(p, &acts);
    LastTokenPass pass = forward_last_token(m, bt, &hooks, metric_vocab(task, first, nb));
    // Row b of the gradient of sum_b M_b is dM_b/dlogits: prompts do not interact.
    const Tensor g_last = task_metric_grad(task, pass.logits, first, pass.vocab, 1.0);
    backward_last_token(m, pass, g_last, {points}, &grads);
    const int64_t B = bt.B, T = bt.T;
    passes++;

    // sum over t, j of x * grad, per prompt and slot; |.| summed over prompts.
    for (const HookPoint& p : points) {
      const Tensor& x = acts.at(p.name());
      const Tensor& gr = grads.at(p.name());
      const bool mlp = p.hook == Hook::mlp_out;
      const int64_t n_slot = mlp ? 1 : x.dim(2), f = mlp ? x.dim(2) : x.dim(3);
      const int base = p.layer * slots + (mlp ? slots - 1 : p.hook == Hook::k ? H : p.hook == Hook::v ? 2 * H : 0);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < n_slot; ++k) {
          double dot = 0;
          for (int64_t t = 0; t < bt.lengths[b]; ++t) {
            const int64_t o = ((b * T + t) * n_slot + k) * f;
            for (int64_t j = 0; j < f; ++j) dot += static_cast<double>(x.data[o + j]) * gr.data[o + j];
          }
          imp[base + k] += std::fabs(dot);
        }
    }
  }
  for (double& v : imp) v /= static_cast<double>(n);
  if (o.normalize)
    for (int l = 0; l < L; ++l) {
      double norm = 0;
      for (int k = 0; k < slots; ++k) norm += imp[l * slots + k] * imp[l * slots + k];
      norm = std::max(std::sqrt(norm), 1e-6);  // ACDC clamps the norm at 1e-6
      for (int k = 0; k < slots; ++k) imp[l * slots + k] /= norm;
    }
  r.head_scores.assign(static_cast<size_t>(L) * H, 0.0);
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < H; ++h) {
      double v = imp[l * slots + h];
      if (qkv) v = std::max({v, imp[l * slots + H + h], imp[l * slots + 2 * H + h]});
      r.head_scores[static_cast<size_t>(l) * H + h] = v;
    }
  for (int l = 0; l < L && mlps; ++l) r.mlp_scores.push_back(imp[l * slots + slots - 1]);
  r.stats["forward_passes"] = passes;
  r.stats["backward_passes"] = passes;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
