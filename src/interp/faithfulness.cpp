#include "interp/faithfulness.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "interp/metrics.h"
#include "interp/task_metric.h"
#include "model/transformer.h"
#include "ops/comm.h"
#include "ops/error.h"
#include "ops/parallel.h"

namespace cs {

AblationSource task_ablation_source(const Model& m, const TokenizedTask& task,
                                    const FaithfulnessOptions& opts) {
  const size_t n = std::min<size_t>(opts.n_prompts, task.size());
  if (opts.ablation == AblationKind::Zero) return make_ablation_source(m, AblationKind::Zero, nullptr);
  Batch ref = task.corrupt.empty() ? clean_batch(task, 0, n) : corrupt_batch(task, 0, n);
  return make_ablation_source(m, opts.ablation, &ref);
}

std::vector<double> circuit_metrics(const Model& m, const TokenizedTask& task,
                                    const std::vector<HeadSet>& keeps, const AblationSource& src,
                                    int n_prompts) {
  const size_t n = std::min<size_t>(n_prompts, task.size());
  if (n == 0) throw Error("mean: no values (empty prompt set?)");
  // --- MPI (ops/comm.h): this rank's block of the n prompts; metric sums allreduced in rank
  // order, then divided by n. A Resample source pairs rows with the batch: rebuilt for the block.
  Comm& comm = Comm::current();
  const LocalRange mine = comm.local_range(n);
  AblationSource block_src;
  if (comm.active() && src.kind == AblationKind::Resample && mine.size() > 0) {
    const Batch corrupt = corrupt_batch(task, mine.begin, mine.size());
    block_src = make_ablation_source(m, AblationKind::Resample, &corrupt);
  }
  const AblationSource& use = comm.active() && src.kind == AblationKind::Resample ? block_src : src;
  // --- end MPI
  const std::vector<int> columns = metric_columns(task);
  const TokenizedTask metric_task = columns.empty() ? task : on_columns(task, columns);
  std::vector<double> out(keeps.size(), 0.0);
  if (mine.size() > 0) {
    const Batch clean = clean_batch(task, mine.begin, mine.size());
    parallel_jobs(keeps.size(), [&](size_t i) {
      Hooks hooks;
      add_ablation_hooks(hooks, m, use, complement(m, keeps[i]));
      ForwardOptions fo{LogitsAt::Last};
      if (!columns.empty()) fo.vocab_columns = &columns;
      // task_metric numbers rows from the batch's first prompt (metric columns and answers).
      for (double v : task_metric(metric_task, forward(m, clean, &hooks, fo), mine.begin)) out[i] += v;
    });
  }
  comm.allreduce_sum(out);  // MPI: sums over every rank's prompts
  for (double& v : out) v /= static_cast<double>(n);
  return out;
}

double circuit_metric(const Model& m, const TokenizedTask& task, const HeadSet& keep,
                      const AblationSource& src, int n_prompts) {
  return circuit_metrics(m, task, {keep}, src, n_prompts)[0];
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
  // Sizes: every k for small models, else an even grid (always including 0 and HT).
  std::vector<int> sizes;
  const int pts = std::max(2, opts.max_points);
  if (HT + 1 <= pts) for (int k = 0; k <= HT; ++k) sizes.push_back(k);
  else for (int i = 0; i < pts; ++i) sizes.push_back(static_cast<int>(std::lround(double(i) * HT / (pts - 1))));
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  std::vector<HeadSet> keeps;
  for (int k : sizes) keeps.push_back(top_k_heads(head_scores, m.cfg.n_heads, k));
  const std::vector<double> metrics = circuit_metrics(m, task, keeps, src, opts.n_prompts);
  // Sizes run from 0 to HT; keeping every head ablates nothing, so the last is the full model
  // (computed the same way as the other points, so its fraction is exactly 1).
  c.empty = metrics.front();
  c.full = metrics.back();
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int k = sizes[i];
    const double v = metrics[i];
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
