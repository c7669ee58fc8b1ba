#include "compare/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "evaluation/head_edges.h"
#include "interp/task_metric.h"
#include "ops/error.h"

namespace cs {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

std::vector<MethodRow> compare(const Model& m, const TokenizedTask& task, const GroundTruth* truth,
                               const CompareOptions& o) {
  const int L = m.cfg.n_layers, H = m.cfg.n_heads, HT = L * H;
  const Graph graph(m.cfg);
  std::vector<bool> labels, edge_labels;
  if (truth) {
    labels = head_labels(*truth, L, H);
    edge_labels = head_edge_labels(*truth, L, H);
  }
  AblationSource src;
  if (truth && !task.corrupt.empty()) src = task_ablation_source(m, task, o.faith);
  const double full = truth && !task.corrupt.empty() ? model_metric(m, task, std::min<size_t>(o.faith.n_prompts, task.size())) : 0;

  std::vector<MethodRow> rows;
  for (size_t mi = 0; mi < o.methods.size(); ++mi) {
    const MethodInfo& info = method_info(o.methods[mi]);
    const std::string name = info.name;
    MethodRow row;
    row.method = name;
    const int trials = info.stochastic ? std::max(1, o.trials) : 1;
    std::vector<std::vector<double>> scores;
    for (int t = 0; t < trials; ++t) {
      if (o.progress) o.progress(name, double(t) / trials);
      auto t0 = Clock::now();
      MethodResult r = run_method(info.id, m, task, o.options, o.options.settings.seed + t);
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      row.seconds.push_back(secs);
      if (static_cast<int>(r.head_scores.size()) != HT)
        throw Error("method " + name + " returned " + std::to_string(r.head_scores.size()) + " head scores");
      scores.push_back(r.head_scores);
      row.has_edges = !r.edge_scores.empty();
      if (truth) {
        row.node_auc.push_back(roc_auc(r.head_scores, labels));
        Confusion c = confusion_top_k(r.head_scores, labels, static_cast<int64_t>(truth->heads.size()));
        row.precision.push_back(c.precision);
        row.recall.push_back(c.recall);
        row.f1.push_back(c.f1);
        if (row.has_edges) {
          bool logits = false;
          const std::vector<double> es = head_edge_scores(r.edge_scores, graph, &logits);
          row.edges_to_logits = logits;
          const double auc = head_edge_auc(es, edge_labels, L, H, logits);
          if (!std::isnan(auc)) row.edge_auc.push_back(auc);
        }
        if (!task.corrupt.empty()) {
          double kept = circuit_metric(m, task, top_k_heads(r.head_scores, H, static_cast<int>(truth->heads.size())), src, o.faith.n_prompts);
          row.faithfulness.push_back(full != 0 ? kept / full : 0);
        }
      }
    }
    row.mean_head_scores.assign(HT, 0);
    for (auto& s : scores)
      for (int h = 0; h < HT; ++h) row.mean_head_scores[h] += s[h] / scores.size();
    if (truth) row.roc = roc_curve(row.mean_head_scores, labels);
    rows.push_back(std::move(row));
  }
  if (o.progress) o.progress("done", 1);
  return rows;
}

namespace {
std::string ms(const std::vector<double>& v, int prec = 3) {
  if (v.empty()) return "-";
  MeanStd s = mean_std(v);
  char buf[64];
  if (v.size() > 1) std::snprintf(buf, sizeof buf, "%.*f ± %.*f", prec, s.mean, prec, s.std);
  else std::snprintf(buf, sizeof buf, "%.*f", prec, s.mean);
  return buf;
}
}  // namespace

std::string compare_table(const std::vector<MethodRow>& rows, bool md) {
  const char* cols[] = {"method", "node AUC", "edge AUC", "precision@k", "recall@k", "F1@k", "faithfulness@k", "seconds"};
  std::string out;
  char buf[512];
  if (md) {
    out += "|";
    for (auto* c : cols) out += std::string(" ") + c + " |";
    out += "\n|---|---|---|---|---|---|---|---|\n";
  } else {
    std::snprintf(buf, sizeof buf, "%-13s %-15s %-21s %-15s %-15s %-15s %-15s %s\n", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7]);
    out += buf;
  }
  for (const MethodRow& r : rows) {
    std::string f[] = {r.method, ms(r.node_auc), r.has_edges ? ms(r.edge_auc) + (r.edges_to_logits || r.edge_auc.empty() ? "" : " (pairs)") : "(nodes only)", ms(r.precision),
                       ms(r.recall), ms(r.f1), ms(r.faithfulness), ms(r.seconds, 2)};
    if (md) {
      out += "|";
      for (auto& x : f) out += " " + x + " |";
      out += "\n";
    } else {
      std::snprintf(buf, sizeof buf, "%-13s %-15s %-21s %-15s %-15s %-15s %-15s %s\n", f[0].c_str(), f[1].c_str(), f[2].c_str(),
                    f[3].c_str(), f[4].c_str(), f[5].c_str(), f[6].c_str(), f[7].c_str());
      out += buf;
    }
  }
  return out;
}

std::string compare_json(const std::vector<MethodRow>& rows, const std::string& model, const std::string& task,
                         const std::string& truth) {
  nlohmann::json j;
  j["model"] = model;
  j["task"] = task;
  j["truth"] = truth;
  for (const MethodRow& r : rows) {
    nlohmann::json x;
    x["method"] = r.method;
    x["node_auc"] = r.node_auc;
    x["edge_auc"] = r.edge_auc;
    if (r.has_edges) x["edge_auc_edges"] = r.edges_to_logits ? "head->head (q/k/v merged) and head->logits" : "head->head (q/k/v merged)";
    x["precision_at_k"] = r.precision;
    x["recall_at_k"] = r.recall;
    x["f1_at_k"] = r.f1;
    x["faithfulness_at_k"] = r.faithfulness;
    x["seconds"] = r.seconds;
    x["mean_head_scores"] = r.mean_head_scores;
    if (r.roc) x["roc"] = {{"fpr", r.roc->fpr}, {"tpr", r.roc->tpr}, {"auc", r.roc->auc}};
    j["methods"].push_back(x);
  }
  return j.dump(2) + "\n";
}

}  // namespace cs
