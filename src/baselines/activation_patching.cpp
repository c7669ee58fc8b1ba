#include "baselines/activation_patching.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "interp/metrics.h"
#include "interp/task_metric.h"
#include "model/transformer.h"
#include "ops/comm.h"
#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

NodePatching node_patching(const Model& m, const TokenizedTask& task, const MethodSettings& s,
                           const PatchingOptions& o) {
  const ModelConfig& c = m.cfg;
  const size_t n = std::min<size_t>(static_cast<size_t>(std::max(s.n_prompts, 0)), task.size());
  if (n == 0) throw Error("activation patching: the task has no prompts");
  const size_t batch = o.batch > 0 ? static_cast<size_t>(o.batch) : n;
  const bool mlps = !c.attn_only;

  NodePatching r;
  r.head_delta.assign(static_cast<size_t>(c.n_heads_total()), 0.0);
  if (mlps) r.mlp_delta.assign(c.n_layers, 0.0);

  // Mean: one source over all n reference prompts; Resample: one per chunk (rows must pair up).
  AblationSource shared;
  if (s.ablation == AblationKind::Zero) shared = make_ablation_source(m, AblationKind::Zero, nullptr);
  if (s.ablation == AblationKind::Mean) {
    Batch ref = task.corrupt.empty() ? clean_batch(task, 0, n) : corrupt_batch(task, 0, n);
    shared = make_ablation_source(m, AblationKind::Mean, &ref);
    ++r.forward_passes;
  }

  // Sum over prompts of the metric; divided by n at the end.
  auto metric_sum = [&](const Tensor& logits, size_t first) {
    double sum = 0;
    for (double v : task_metric(task, logits, first)) sum += v;
    return sum;
  };
  double clean_sum = 0;
  // MPI (ops/comm.h): this rank's block of the prompts; the sums are allreduced below.
  Comm& comm = Comm::current();
  const LocalRange mine = comm.local_range(n);
  for (size_t first = mine.begin; first < mine.end; first += batch) {
    const size_t nb = std::min(batch, mine.end - first);
    const Batch clean = clean_batch(task, first, nb);
    AblationSource chunk_src;
    if (s.ablation == AblationKind::Resample) {
      const Batch corrupt = corrupt_batch(task, first, nb);
      chunk_src = make_ablation_source(m, AblationKind::Resample, &corrupt);
      ++r.forward_passes;
    }
    const AblationSource& src = s.ablation == AblationKind::Resample ? chunk_src : shared;
    const double base = metric_sum(forward(m, clean, nullptr, {LogitsAt::Last}), first);
    clean_sum += base;
    ++r.forward_passes;
    auto run = [&](const NodeSet& node) {
      ++r.forward_passes;
      return metric_sum(run_with_nodes_ablated(m, clean, src, node, LogitsAt::Last), first) - base;
    };
    for (int l = 0; l < c.n_layers; ++l) {
      for (int h = 0; h < c.n_heads; ++h)
        r.head_delta[static_cast<size_t>(l) * c.n_heads + h] += run(NodeSet{{{l, h}}, {}});
      if (mlps) r.mlp_delta[l] += run(NodeSet{{}, {l}});
    }
  }
  // --- MPI: metric sums over every rank's prompts, in rank order
  comm.allreduce_sum(r.head_delta);
  comm.allreduce_sum(r.mlp_delta);
  comm.allreduce_sum(&clean_sum, 1);
  // --- end MPI
  const double inv = 1.0 / static_cast<double>(n);
  for (double& d : r.head_delta) d *= inv;
  for (double& d : r.mlp_delta) d *= inv;
  r.clean_metric = clean_sum * inv;
  return r;
}

MethodResult activation_patching(const Model& m, const TokenizedTask& task, const MethodSettings& s,
                                 const PatchingOptions& o) {
  const Timer timer;
  NodePatching p = node_patching(m, task, s, o);
  MethodResult r;
  r.method = "patching";
  for (double d : p.head_delta) r.head_scores.push_back(std::fabs(d));
  for (double d : p.mlp_delta) r.mlp_scores.push_back(std::fabs(d));
  r.stats["clean_metric"] = p.clean_metric;
  r.stats["forward_passes"] = p.forward_passes;
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
