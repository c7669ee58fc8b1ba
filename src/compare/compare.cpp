#include "compare/compare.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "evaluation/head_edges.h"
#include "interp/faithfulness.h"
#include "interp/task_metric.h"
#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

std::vector<MethodRow> compare(const Model& m, const TokenizedTask& task, const GroundTruth* truth,
                               const CompareOptions& o) {
  const int L = m.cfg.n_layers, H = m.cfg.n_heads, HT = L * H;
  const Graph graph(m.cfg);
  std::vector<bool> labels, edge_labels;
  if (truth) {
    labels = head_labels(*truth, L, H);
    edge_labels = head_edge_labels(*truth, L, H);
  }
  const bool faith = o.faithfulness && !task.corrupt.empty();
  AblationSource src;
  if (truth && faith) src = task_ablation_source(m, task, o.faith);
  const double full = truth && faith ? model_metric(m, task, std::min<size_t>(o.faith.n_prompts, task.size())) : 0;

  // Progress: the work of each method-trial (and each faithfulness curve) weighed by its cost.
  std::vector<double> work;
  double total = 0, done = 0;
  for (MethodId id : o.methods) {
    const MethodInfo& info = method_info(id);
    work.push_back(info.cost_weight * (info.stochastic ? std::max(1, o.trials) : 1) + (faith ? 0.5 : 0));
    total += work.back();
  }
  // One trial's numbers into its row; the mean scores, ROC and faithfulness curve once all are in.
  auto add_trial = [&](MethodRow& row, const MethodResult& r, std::vector<std::vector<double>>& scores) {
    if (static_cast<int>(r.head_scores.size()) != HT)
      throw Error("method " + row.method + " returned " + std::to_string(r.head_scores.size()) + " head scores");
    scores.push_back(r.head_scores);
    row.has_edges = !r.edge_scores.empty();
    if (!truth) return;
    row.node_auc.push_back(roc_auc(r.head_scores, labels));
    Confusion c = confusion_top_k(r.head_scores, labels, row.k);
    row.precision.push_back(c.precision);
    row.recall.push_back(c.recall);
    row.f1.push_back(c.f1);
    if (row.has_edges) {
      bool logits = false;
      const std::vector<double> es = head_edge_scores(r.edge_scores, graph, &logits);
      row.edges_to_logits = logits;
      const double auc = head_edge_auc(es, edge_labels, L, H, logits);
      if (!std::isnan(auc)) row.edge_auc.push_back(auc);
      if (const std::optional<double> a = graph_edge_auc(r.edge_scores, *truth, graph, &row.graph_edge_why))
        row.graph_edge_auc.push_back(*a);
    }
    if (faith) {
      double kept = circuit_metric(m, task, top_k_heads(r.head_scores, H, row.k), src, o.faith.n_prompts);
      row.faithfulness.push_back(full != 0 ? kept / full : 0);
    }
  };
  auto finish_row = [&](MethodRow& row, const std::vector<std::vector<double>>& scores) {
    row.mean_head_scores.assign(HT, 0);
    for (auto& s : scores)
      for (int h = 0; h < HT; ++h) row.mean_head_scores[h] += s[h] / scores.size();
    if (truth) row.roc = roc_curve(row.mean_head_scores, labels);
    if (faith) row.faith = faithfulness_curve(m, task, row.mean_head_scores, o.faith);
  };

  std::vector<MethodRow> rows;
  const int n_methods = static_cast<int>(o.methods.size());
  for (int mi = 0; mi < n_methods; ++mi) {
    const MethodInfo& info = method_info(o.methods[mi]);
    const std::string name = info.name;
    MethodRow row;
    row.method = name;
    row.k = truth ? static_cast<int>(truth->heads.size()) : 0;
    const int trials = info.stochastic ? std::max(1, o.trials) : 1;
    const std::string phase = "method " + std::to_string(mi + 1) + "/" + std::to_string(n_methods) + ": " + name;
    const double per_trial = info.cost_weight;
    std::vector<std::vector<double>> scores;
    for (int t = 0; t < trials; ++t) {
      if (o.progress)
        o.progress(trials > 1 ? phase + ", trial " + std::to_string(t + 1) + "/" + std::to_string(trials) : phase,
                   (done + t * per_trial) / total);
      const Timer timer;
      MethodResult r = run_method(info.id, m, task, o.options, o.options.settings.seed + t);
      row.seconds.push_back(timer.seconds());
      add_trial(row, r, scores);
    }
    if (faith && o.progress) o.progress(phase + ", faithfulness curve", (done + trials * per_trial) / total);
    finish_row(row, scores);
    done += work[mi];
    rows.push_back(std::move(row));
  }
  // Circuits from files: one "trial" each, their scores as the file has them; no run time.
  for (const auto& [name, g] : o.imports) {
    if (g.graph.n_layers() != L || g.graph.n_heads() != H || g.graph.n_edges() != graph.n_edges())
      throw Error("--import " + name + ": the file's graph is " + std::to_string(g.graph.n_layers()) + " x " +
                  std::to_string(g.graph.n_heads()) + " with " + std::to_string(g.graph.n_edges()) +
                  " edges; the model's is " + std::to_string(L) + " x " + std::to_string(H) + " with " +
                  std::to_string(graph.n_edges()));
    MethodRow row;
    row.method = name;
    row.k = truth ? static_cast<int>(truth->heads.size()) : 0;
    MethodResult r;
    r.method = name;
    r.head_scores = graph_head_scores(g);
    r.edge_scores.resize(g.edge_scores.size());
    for (size_t e = 0; e < g.edge_scores.size(); ++e) r.edge_scores[e] = std::fabs(g.edge_scores[e]);
    std::vector<std::vector<double>> scores;
    add_trial(row, r, scores);
    finish_row(row, scores);
    rows.push_back(std::move(row));
  }
  if (o.progress) o.progress("done", 1);
  return rows;
}

}  // namespace cs
