#include "evaluation/reference_circuit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "interp/faithfulness.h"
#include "interp/metrics.h"
#include "interp/path_patching.h"
#include "interp/task_metric.h"
#include "ops/error.h"
#include "ops/parallel.h"

namespace cs {

namespace {
HeadSet heads_of(const std::vector<int>& idx, int H) {
  HeadSet s;
  for (int i : idx) s.heads.push_back({i / H, i % H});
  return s;
}
std::string hname(int i, int H) { return HeadId{i / H, i % H}.str(); }

// The metric of keep \ {h} for every h in keep (all other heads resample-ablated), in keep's
// order. Removing a head of layer l leaves layers < l as they are in the circuit `keep`, so the
// circuit's residual entering layer l is computed once and every trial of that layer starts
// there: sum over trials of (L - l) layers instead of L each.
// Only the logit columns the metric reads are computed (all of them when `columns` is empty);
// `metric_task` is the task renumbered onto those columns (on_columns).
std::vector<double> metrics_without_each(const Model& m, const TokenizedTask& metric_task,
                                         const std::vector<int>& columns, const Batch& clean,
                                         const AblationSource& src, const std::vector<int>& keep) {
  const int H = m.cfg.n_heads, L = m.cfg.n_layers;
  const HeadSet ablated = complement(m, heads_of(keep, H));
  std::vector<double> out(keep.size(), 0.0);
  int last = -1;  // no trial beyond the last layer holding a kept head: stop advancing there
  for (int h : keep) last = std::max(last, h / H);
  Tensor resid;  // the circuit's residual entering layer l
  for (int l = 0; l <= last && l < L; ++l) {
    if (l > 0) {  // advance the circuit through layer l - 1
      Hooks hk;
      add_ablation_hooks(hk, m, src, ablated);
      Tensor next;
      hk.add({Hook::resid_post, l - 1}, [&next](const HookPoint&, Tensor& t) { next = t; });
      ForwardOptions fo{LogitsAt::None, l - 1, l - 1, l - 1 > 0 ? &resid : nullptr};
      forward(m, clean, &hk, fo);
      resid = std::move(next);
    }
    // The trials of a layer are independent: one per thread (each forward then runs on one
    // core), which scales better than threading the d_model-wide matrix products of one trial.
    std::vector<size_t> trials;
    for (size_t i = 0; i < keep.size(); ++i)
      if (keep[i] / H == l) trials.push_back(i);
    parallel_jobs(trials.size(), [&](size_t j) {
      const size_t i = trials[j];
      HeadSet abl = ablated;
      abl.heads.push_back({l, keep[i] % H});
      Hooks hk;
      add_ablation_hooks(hk, m, src, abl);
      ForwardOptions fo{LogitsAt::Last, -1, l, l > 0 ? &resid : nullptr, columns.empty() ? nullptr : &columns};
      out[i] = mean(task_metric(metric_task, forward(m, clean, &hk, fo)));
    });
  }
  return out;
}
}  // namespace

ReferenceCircuit reference_circuit(const Model& m, const TokenizedTask& task, const ReferenceOptions& o) {
  if (task.corrupt.empty()) throw Error("reference circuits need corrupted prompts (task " + task.name + " has none)");
  const int H = m.cfg.n_heads, HT = m.cfg.n_heads_total();
  const int n = std::min<int>(o.n_prompts, static_cast<int>(task.size()));
  auto report = [&](const std::string& p, double f) { if (o.progress) o.progress(p, f); };
  FaithfulnessOptions fo;
  fo.ablation = AblationKind::Resample;
  fo.n_prompts = n;
  AblationSource src = task_ablation_source(m, task, fo);

  ReferenceCircuit r;
  r.full_metric = model_metric(m, task, n);
  if (r.full_metric == 0) throw Error("the full model's metric is 0 on this task: nothing to keep");
  std::vector<int> keep(HT);
  for (int i = 0; i < HT; ++i) keep[i] = i;
  const Batch clean = clean_batch(task, 0, n);
  const std::vector<int> columns = metric_columns(task);
  const TokenizedTask metric_task = columns.empty() ? task : on_columns(task, columns);
  auto metrics_without = [&](const std::vector<int>& k) {
    return metrics_without_each(m, metric_task, columns, clean, src, k);
  };
  report("effect table", 0);
  r.solo_effect.resize(HT);
  const std::vector<double> solo = metrics_without(keep);
  for (int h = 0; h < HT; ++h) r.solo_effect[h] = r.full_metric - solo[h];
  // Greedy pruning: the removal that leaves the highest metric, while it stays above the bar.
  double current = r.full_metric;
  while (keep.size() > 1) {
    report("pruning", 1.0 - double(keep.size()) / HT);
    const std::vector<double> v = metrics_without(keep);
    int best = -1;
    double best_v = -1e300;
    for (size_t i = 0; i < keep.size(); ++i)
      if (v[i] > best_v) best_v = v[i], best = keep[i];
    if (best_v < o.keep_fraction * r.full_metric) break;
    keep.erase(std::find(keep.begin(), keep.end(), best));
    r.pruned.push_back(best);
    r.metric_after.push_back(best_v);
    current = best_v;
  }
  r.kept = keep;
  r.kept_metric = current;

  if (o.edges) {
    const int ne = std::min<int>(o.edge_prompts, static_cast<int>(task.size()));
    Batch clean = clean_batch(task, 0, ne), corrupt = corrupt_batch(task, 0, ne);
    PathPatchCache cache = cache_for_path_patching(m, clean, corrupt);
    const double base = mean(task_metric(task, cache.clean_logits));
    size_t done = 0, total = keep.size();
    for (int s : keep) {
      report("path patching", double(done++) / total);
      const Node sender = Node::attention(s / H, s % H);
      std::vector<std::pair<Edge, std::vector<Receiver>>> targets = {{make_edge(sender, Node::logits()), {}}};
      for (int rcv : keep)
        if (rcv / H > s / H)
          for (QKV x : {QKV::Q, QKV::K, QKV::V})
            targets.push_back({make_edge(sender, Node::attention(rcv / H, rcv % H), x), {Receiver{rcv / H, rcv % H, x}}});
      for (auto& [e, receivers] : targets) {
        Tensor logits = path_patch(m, clean, cache, {s / H, s % H}, receivers);
        double effect = base - mean(task_metric(task, logits));
        r.all_edge_effects.push_back({e, effect});
        if (std::abs(effect) >= o.edge_fraction * std::abs(r.full_metric)) {
          r.edges.push_back(e);
          r.edge_effect.push_back(effect);
        }
      }
    }
  }
  report("done", 1);
  return r;
}

GroundTruth to_ground_truth(const ReferenceCircuit& r, const Model& m, const std::string& name,
                            const std::string& model_name, const std::string& task_name,
                            const std::string& command) {
  const int H = m.cfg.n_heads;
  GroundTruth g;
  g.name = name;
  g.model = model_name;
  g.task = task_name;
  g.source = "circuitscan reference circuit by greedy resample-ablation pruning and path patching: " + command;
  std::vector<int> kept = r.kept;
  std::sort(kept.begin(), kept.end());
  for (int h : kept) g.heads.push_back({h / H, h % H});
  std::vector<std::pair<Edge, double>> e;
  for (size_t i = 0; i < r.edges.size(); ++i) e.push_back({r.edges[i], r.edge_effect[i]});
  std::sort(e.begin(), e.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [edge, v] : e) g.edges.push_back(edge);
  char buf[256];
  std::string notes;
  std::snprintf(buf, sizeof buf, "full metric %.4f; circuit of %zu heads keeps %.4f (%.1f%%) with every other head resample-ablated.\n",
                r.full_metric, r.kept.size(), r.kept_metric, 100 * r.kept_metric / r.full_metric);
  notes += buf;
  notes += "per-head effect (full - metric with that head alone resample-ablated):\n";
  for (int h = 0; h < static_cast<int>(r.solo_effect.size()); ++h) {
    std::snprintf(buf, sizeof buf, "  %s %+.4f\n", hname(h, H).c_str(), r.solo_effect[h]);
    notes += buf;
  }
  notes += "pruning order (head: metric after removal):";
  for (size_t i = 0; i < r.pruned.size(); ++i) {
    std::snprintf(buf, sizeof buf, " %s:%.3f", hname(r.pruned[i], H).c_str(), r.metric_after[i]);
    notes += buf;
  }
  notes += "\nedges: path patching (sender's corrupted output into the receiver's q/k/v input or the logits), kept when |effect| >= 2% of the full metric:";
  for (auto& [edge, v] : e) {
    std::snprintf(buf, sizeof buf, " %s:%+.3f", edge.name().c_str(), v);
    notes += buf;
  }
  notes += "\nMLPs are not ablated (head-level circuit); paths from the embeddings are not tested.";
  g.notes = notes;
  return g;
}

}  // namespace cs
