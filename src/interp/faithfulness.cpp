#include "interp/faithfulness.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "interp/metrics.h"
#include "interp/task_metric.h"
#include "ops/error.h"

namespace cs {

AblationSource task_ablation_source(const Model& m, const TokenizedTask& task,
                                    const FaithfulnessOptions& opts) {
  const size_t n = std::min<size_t>(opts.n_prompts, task.size());
  if (opts.ablation == AblationKind::Zero) return make_ablation_source(m, AblationKind::Zero, nullptr);
  Batch ref = task.corrupt.empty() ? clean_batch(task, 0, n) : corrupt_batch(task, 0, n);
  return make_ablation_source(m, opts.ablation, &ref);
}

double circuit_metric(const Model& m, const TokenizedTask& task, const HeadSet& keep,
                      const AblationSource& src, int n_prompts) {
  const size_t n = std::min<size_t>(n_prompts, task.size());
  Batch clean = clean_batch(task, 0, n);
  Tensor logits = run_with_heads_ablated(m, clean, src, complement(m, keep), LogitsAt::Last);
  return mean(task_metric(task, logits));
}

HeadSet top_k_heads(const std::vector<double>& scores, int n_heads_per_layer, int k) {
  std::vector<int> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  HeadSet s;
  for (int i = 0; i < k && i < static_cast<int>(order.size()); ++i)
    s.heads.push_back({order[i] / n_heads_per_layer, order[i] % n_heads_per_layer});
  return s;
}

FaithfulnessCurve faithfulness_curve(const Model& m, const TokenizedTask& task,
                                     const std::vector<double>& head_scores,
                                     const FaithfulnessOptions& opts) {
  const int HT = m.cfg.n_heads_total();
  if (static_cast<int>(head_scores.size()) != HT)
    throw Error("faithfulness: got " + std::to_string(head_scores.size()) + " head scores for a model with " +
                std::to_string(HT) + " heads");
  AblationSource src = task_ablation_source(m, task, opts);
  FaithfulnessCurve c;
  const size_t n = std::min<size_t>(opts.n_prompts, task.size());
  c.full = model_metric(m, task, n);
  c.empty = circuit_metric(m, task, HeadSet{}, src, opts.n_prompts);
  // Sizes: every k for small models, else an even grid (always including 0 and HT).
  std::vector<int> sizes;
  const int pts = std::max(2, opts.max_points);
  if (HT + 1 <= pts) for (int k = 0; k <= HT; ++k) sizes.push_back(k);
  else for (int i = 0; i < pts; ++i) sizes.push_back(static_cast<int>(std::lround(double(i) * HT / (pts - 1))));
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  for (int k : sizes) {
    double v = k == 0 ? c.empty
             : k == HT ? circuit_metric(m, task, all_heads(m), src, opts.n_prompts)
                       : circuit_metric(m, task, top_k_heads(head_scores, m.cfg.n_heads, k), src, opts.n_prompts);
    c.size.push_back(k);
    c.metric.push_back(v);
    c.fraction.push_back(c.full != 0 ? v / c.full : 0.0);
    c.normalised.push_back(c.full != c.empty ? (v - c.empty) / (c.full - c.empty) : 0.0);
  }
  std::vector<double> x, dev;
  for (int k : c.size) x.push_back(double(k) / HT);
  for (double f : c.normalised) dev.push_back(std::abs(1.0 - f));
  for (size_t i = 1; i < x.size(); ++i) {
    c.cpr += (x[i] - x[i - 1]) * (c.normalised[i] + c.normalised[i - 1]) / 2;
    c.cmd += (x[i] - x[i - 1]) * (dev[i] + dev[i - 1]) / 2;
  }
  return c;
}

}  // namespace cs
