#include "baselines/activation_patching.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "interp/ablation.h"
#include "interp/metrics.h"
#include "interp/task_metric.h"
#include "model/hooks.h"
#include "model/transformer.h"
#include "ops/comm.h"
#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

namespace {

// Sum over the chunk's prompts of the task metric, from last-position logits [B,V].
double metric_sum(const TokenizedTask& task, const Tensor& logits, size_t first) {
  double sum = 0;
  for (double v : task_metric(task, logits, first)) sum += v;
  return sum;
}

// One chunk of prompts: adds (metric sum with the node ablated) - (clean metric sum) to each
// node's delta in r and returns the clean metric sum. reuse: the clean forward keeps the residual
// entering every layer ([B,T,D] each, hook_resid_pre), and a trial of layer l starts there,
// running layers l..L-1 only; the layers before l are those of the clean run, bit for bit.
double patch_chunk(const Model& m, const TokenizedTask& task, const Batch& clean, size_t first,
                   const AblationSource& src, bool reuse, NodePatching& r) {
  const ModelConfig& c = m.cfg;
  Hooks keep;
  ActivationCache resid_pre;  // "blocks.L.hook_resid_pre" -> [B,T,D]
  if (reuse)
    for (int l = 1; l < c.n_layers; ++l) keep.cache({Hook::resid_pre, l}, &resid_pre);
  const double base = metric_sum(task, forward(m, clean, &keep, {LogitsAt::Last}), first);
  ++r.forward_passes;
  r.layer_passes += c.n_layers;
  auto run = [&](int l, const NodeSet& node) {
    Hooks hooks;
    add_ablation_hooks(hooks, m, src, node);
    ForwardOptions fo{LogitsAt::Last};
    if (reuse && l > 0) {
      fo.start_at_layer = l;
      fo.start_resid = &resid_pre.at(HookPoint{Hook::resid_pre, l}.name());
    }
    ++r.forward_passes;
    r.layer_passes += c.n_layers - fo.start_at_layer;
    return metric_sum(task, forward(m, clean, &hooks, fo), first) - base;
  };
  for (int l = 0; l < c.n_layers; ++l) {
    for (int h = 0; h < c.n_heads; ++h)
      r.head_delta[static_cast<size_t>(l) * c.n_heads + h] += run(l, NodeSet{{{l, h}}, {}});
    if (!c.attn_only) r.mlp_delta[l] += run(l, NodeSet{{}, {l}});
  }
  return base;
}

}  // namespace

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
    r.layer_passes += c.n_layers;
  }

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
      r.layer_passes += c.n_layers;
    }
    const AblationSource& src = s.ablation == AblationKind::Resample ? chunk_src : shared;
    clean_sum += patch_chunk(m, task, clean, first, src, o.reuse_clean_residual, r);
  }
  // --- MPI: metric sums over every rank's prompts, in rank order
  comm.allreduce_sum(r.head_delta);
  comm.allreduce_sum(r.mlp_delta);
  comm.allreduce_sum(&clean_sum, 1);
  if (comm.active()) {  // the passes every rank ran, as EAP counts them
    std::vector<double> passes = {double(r.forward_passes), double(r.layer_passes)};
    comm.allreduce_sum(passes);
    r.forward_passes = int(passes[0]), r.layer_passes = int64_t(passes[1]);
  }
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
  r.stats["layer_passes"] = static_cast<double>(p.layer_passes);
  r.seconds = timer.seconds();
  return r;
}

}  // namespace cs
