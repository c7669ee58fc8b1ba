#include "compare/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "baselines/acdc.h"
#include "baselines/activation_patching.h"
#include "attribution/eap.h"
#include "baselines/hisp.h"
#include "baselines/subnetwork_probing.h"
#include "interp/task_metric.h"
#include "ops/error.h"

namespace cs {

std::vector<std::string> known_methods() {
  return {"sae", "sae-confirmed", "patching", "acdc", "eap", "eap-ig", "hisp", "sp"};
}
bool method_is_stochastic(const std::string& n) { return n == "sae" || n == "sae-confirmed" || n == "sp"; }

namespace {

using Clock = std::chrono::steady_clock;

bool parse_head_node(const std::string& s, int* layer, int* head, std::string* suffix) {
  if (s.size() < 4 || s[0] != 'a') return false;
  int l = 0, h = 0, used = 0;
  if (std::sscanf(s.c_str() + 1, "%d.%d%n", &l, &h, &used) != 2) return false;
  *layer = l;
  *head = h;
  *suffix = s.substr(1 + used);
  return true;
}

// One trial of discover with compare's SAE settings (no faithfulness: compare measures it), and
// its wall time.
std::pair<DiscoverResult, double> discover_once(const Model& m, const TokenizedTask& task, const CompareOptions& o,
                                                uint64_t seed, Level level, const std::string& score) {
  DiscoverOptions d = o.sae;
  d.seed = seed;
  d.trials = 1;
  d.faithfulness = false;
  d.level = level;
  d.score = score;
  auto t0 = Clock::now();
  DiscoverResult r = discover(m, task, d, nullptr);
  return {std::move(r), std::chrono::duration<double>(Clock::now() - t0).count()};
}

MethodResult run_method(const std::string& name, const Model& m, const TokenizedTask& task,
                        const CompareOptions& o, uint64_t seed) {
  MethodSettings s = o.settings;
  s.seed = seed;
  // "steps" means integration steps to EAP-IG and optimisation steps to subnetwork probing.
  if (name == "sp") s.params["steps"] = s.param("sp_steps", 200);
  if (name == "patching") return activation_patching(m, task, s);
  if (name == "acdc") return acdc(m, task, s);
  if (name == "eap") return eap(m, task, s);
  if (name == "eap-ig") return eap_ig(m, task, s);
  if (name == "hisp") return hisp(m, task, s);
  if (name == "sp") return subnetwork_probing(m, task, s);
  if (name == "sae") {
    // Edge level: node scores come from node_raw (or the edge reduction), edges from U.
    const auto [r, seconds] = discover_once(m, task, o, seed, Level::Edge, o.sae.score);
    MethodResult mr;
    mr.method = "sae";
    mr.head_scores = o.sae.level == Level::Edge ? r.trials[0].edge_node : r.trials[0].node_raw;
    const int H = m.cfg.n_heads, HT = m.cfg.n_heads_total();
    for (int a = 0; a < HT; ++a)
      for (int b = 0; b < HT; ++b) {
        if (b / H <= a / H) continue;  // forward pairs only: sender layer < receiver layer
        double u = r.trials[0].edge_U[static_cast<size_t>(a) * HT + b];
        std::string from = "a" + std::to_string(a / H) + "." + std::to_string(a % H);
        for (const char* x : {".q", ".k", ".v"}) {
          mr.edges.push_back({from, "a" + std::to_string(b / H) + "." + std::to_string(b % H) + x});
          mr.edge_scores.push_back(u);
        }
      }
    mr.seconds = seconds;
    return mr;
  }
  if (name == "sae-confirmed") {  // discover's default ranking: |P \ N| + one attribution pass
    const auto [r, seconds] = discover_once(m, task, o, seed, Level::Node, "confirmed");
    MethodResult mr;
    mr.method = name;
    mr.head_scores = r.head_scores[0];
    mr.seconds = seconds;
    return mr;
  }
  throw UsageError("unknown method '" + name + "': choose from sae, sae-confirmed, patching, acdc, eap, eap-ig, hisp, sp");
}

}  // namespace

namespace {
// Index of a head edge: sender s -> receiver head r at s * HT + r; sender s -> logits at HT * HT + s.
// Returns -1 for edges that are neither (input, MLPs, a head's internal q/k/v -> head edge).
int64_t head_edge_index(const std::string& from, const std::string& to, int L, int H, bool receiver_needs_input) {
  const int HT = L * H;
  int l1, h1;
  std::string s1;
  if (!parse_head_node(from, &l1, &h1, &s1) || !s1.empty() || l1 >= L || h1 >= H) return -1;
  const int64_t u = int64_t{l1} * H + h1;
  if (to == "output") return int64_t{HT} * HT + u;
  int l2, h2;
  std::string s2;
  if (!parse_head_node(to, &l2, &h2, &s2) || l2 >= L || h2 >= H || l2 <= l1) return -1;
  if (receiver_needs_input && s2.empty()) return -1;  // "aL.H" itself is the internal node
  return u * HT + l2 * H + h2;
}
}  // namespace

std::vector<double> head_edge_scores(const MethodResult& r, int n_layers, int n_heads, bool* scores_logits) {
  const int HT = n_layers * n_heads;
  std::vector<double> s(static_cast<size_t>(HT) * HT + HT, -1e300);
  bool logits = false;
  for (size_t i = 0; i < r.edges.size(); ++i) {
    const int64_t k = head_edge_index(r.edges[i].from, r.edges[i].to, n_layers, n_heads, true);
    if (k < 0) continue;
    logits |= k >= int64_t{HT} * HT;
    s[k] = std::max(s[k], r.edge_scores[i]);
  }
  for (double& v : s) if (v == -1e300) v = 0;
  if (scores_logits) *scores_logits = logits;
  return s;
}

std::vector<bool> head_edge_labels(const GroundTruth& g, int n_layers, int n_heads) {
  const int HT = n_layers * n_heads;
  std::vector<bool> lab(static_cast<size_t>(HT) * HT + HT, false);
  for (const EdgeId& e : g.edges) {
    const int64_t k = head_edge_index(e.from, e.to, n_layers, n_heads, false);
    if (k >= 0) lab[k] = true;
  }
  return lab;
}

double head_edge_auc(const std::vector<double>& scores, const std::vector<bool>& labels, int n_layers, int n_heads,
                     bool with_logits) {
  const int H = n_heads, HT = n_layers * n_heads;
  std::vector<double> fs;
  std::vector<bool> fl;
  for (int a = 0; a < HT; ++a)
    for (int b = 0; b < HT; ++b)
      if (b / H > a / H) {
        fs.push_back(scores[static_cast<size_t>(a) * HT + b]);
        fl.push_back(labels[static_cast<size_t>(a) * HT + b]);
      }
  if (with_logits)
    for (int a = 0; a < HT; ++a) {
      fs.push_back(scores[static_cast<size_t>(HT) * HT + a]);
      fl.push_back(labels[static_cast<size_t>(HT) * HT + a]);
    }
  const auto pos = std::count(fl.begin(), fl.end(), true);
  if (pos == 0 || pos == static_cast<long>(fl.size())) return std::nan("");
  return roc_auc(fs, fl);
}

std::vector<MethodRow> compare(const Model& m, const TokenizedTask& task, const GroundTruth* truth,
                               const CompareOptions& o) {
  const int L = m.cfg.n_layers, H = m.cfg.n_heads, HT = L * H;
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
    const std::string& name = o.methods[mi];
    MethodRow row;
    row.method = name;
    const int trials = method_is_stochastic(name) ? std::max(1, o.trials) : 1;
    std::vector<std::vector<double>> scores;
    for (int t = 0; t < trials; ++t) {
      if (o.progress) o.progress(name, double(t) / trials);
      auto t0 = Clock::now();
      MethodResult r = run_method(name, m, task, o, o.settings.seed + t);
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      row.seconds.push_back(secs);
      if (static_cast<int>(r.head_scores.size()) != HT)
        throw Error("method " + name + " returned " + std::to_string(r.head_scores.size()) + " head scores");
      scores.push_back(r.head_scores);
      row.has_edges = !r.edges.empty();
      if (truth) {
        row.node_auc.push_back(roc_auc(r.head_scores, labels));
        Confusion c = confusion_top_k(r.head_scores, labels, static_cast<int64_t>(truth->heads.size()));
        row.precision.push_back(c.precision);
        row.recall.push_back(c.recall);
        row.f1.push_back(c.f1);
        if (row.has_edges) {
          bool logits = false;
          const std::vector<double> es = head_edge_scores(r, L, H, &logits);
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
