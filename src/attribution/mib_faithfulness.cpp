#include "attribution/mib_faithfulness.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "attribution/edge_patching.h"
#include "evaluation/graph_json.h"
#include "interp/task_metric.h"
#include "model/process_weights.h"
#include "ops/error.h"

namespace cs {

const std::vector<double>& mib_edge_fractions() {
  static const std::vector<double> p = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0};
  return p;
}

void mib_areas(const std::vector<double>& x, const std::vector<double>& f, double* cpr, double* cmd) {
  double under = 0, from_1 = 0;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    const double w = x[i + 1] - x[i];
    under += w * (f[i] + f[i + 1]) / 2;
    from_1 += w * (std::fabs(1 - f[i]) + std::fabs(1 - f[i + 1])) / 2;
  }
  *cpr = under;
  *cmd = from_1;
}

MibFaithfulness mib_faithfulness(const Model& model, const TokenizedTask& task, const std::vector<double>& edge_scores,
                                 size_t n_prompts) {
  if (model.cfg.n_kv_heads != model.cfg.n_heads)
    return mib_faithfulness(expand_kv_heads(model), task, edge_scores, n_prompts);
  const Model& m = model;
  const Graph g(m.cfg);
  const int E = g.n_edges();
  if (static_cast<int>(edge_scores.size()) != E)
    throw Error("MIB faithfulness: " + std::to_string(edge_scores.size()) + " edge scores for a graph of " +
                std::to_string(E) + " edges");
  if (task.corrupt.empty()) throw Error("MIB faithfulness: task " + task.name + " has no corrupt prompts to patch from");
  const size_t n = std::min(n_prompts, task.size());
  if (n == 0) throw Error("MIB faithfulness: no prompts");
  const Batch clean = clean_batch(task, 0, n), corrupt = corrupt_batch(task, 0, n);
  const EdgeActivations act = collect_edge_activations(m, g, clean, &corrupt, AblationKind::Resample);
  auto metric = [&](const std::vector<char>& kept) {
    const std::vector<double> v = task_metric(task, edge_patched_logits(m, g, act, clean, kept), 0);
    return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  };

  MibFaithfulness r;
  r.n_prompts = static_cast<int>(n);
  r.full = metric(std::vector<char>(E, 1));
  r.empty = metric(std::vector<char>(E, 0));
  if (!(std::fabs(r.full - r.empty) > 0))
    throw Error("MIB faithfulness: the task's metric is the same with every edge and with none (" + std::to_string(r.full) +
                "), so faithfulness is undefined");
  for (double p : mib_edge_fractions()) {
    const int k = static_cast<int>(p * E);  // Python's int(): floor for p >= 0
    ScoredGraph s(g);
    keep_top_edges(s, edge_scores, k);
    const double v = metric(std::vector<char>(s.edge_in_graph.begin(), s.edge_in_graph.end()));
    r.fraction.push_back(p);
    r.edges.push_back(k);
    r.edges_kept.push_back(static_cast<int>(std::count(s.edge_in_graph.begin(), s.edge_in_graph.end(), 1)));
    r.metric.push_back(v);
    r.faithfulness.push_back((v - r.empty) / (r.full - r.empty));
  }
  mib_areas(r.fraction, r.faithfulness, &r.cpr, &r.cmd);
  return r;
}

}  // namespace cs
