#include "compare/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <utility>

#include "baselines/acdc.h"
#include "baselines/activation_patching.h"
#include "attribution/eap.h"
#include "baselines/hisp.h"
#include "baselines/subnetwork_probing.h"
#include "interp/faithfulness.h"
#include "interp/task_metric.h"
#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

std::vector<std::string> known_methods() {
  return {"sae", "sae-confirmed", "patching", "acdc", "eap", "eap-ig", "hisp", "sp"};
}
bool method_is_stochastic(const std::string& n) { return n == "sae" || n == "sae-confirmed" || n == "sp"; }

double method_cost_weight(const std::string& n) {
  if (n == "sae") return 0.3;
  if (n == "sae-confirmed") return 0.6;
  if (n == "patching") return 1.7;
  if (n == "acdc") return 6.0;
  if (n == "eap") return 0.3;
  if (n == "eap-ig") return 1.5;
  if (n == "hisp") return 0.1;
  if (n == "sp") return 22.0;
  return 1.0;
}

namespace {


bool parse_head_node(const std::string& s, int* layer, int* head, std::string* suffix) {
  if (s.size() < 4 || s[0] != 'a') return false;
  int l = 0, h = 0, used = 0;
  if (std::sscanf(s.c_str() + 1, "%d.%d%n", &l, &h, &used) != 2) return false;
  *layer = l;
  *head = h;
  *suffix = s.substr(1 + used);
  return true;
}

// One trial of discover at node level with compare's SAE settings and the head-pair scores (no
// faithfulness: compare measures it), as a method result: head scores = the ranking, edges = the
// code pairs seen only on positives, from each head to every head of a later layer (q/k/v alike:
// the codes say nothing of which input).
MethodResult sae_method(const std::string& name, const Model& m, const TokenizedTask& task, const CompareOptions& o,
                        uint64_t seed, const std::string& score) {
  DiscoverOptions d = o.sae;
  d.seed = seed;
  d.trials = 1;
  d.faithfulness = false;
  d.level = Level::Node;
  d.pair_scores = true;
  d.score = score;
  const Timer timer;
  const DiscoverResult r = discover(m, task, d, nullptr);
  MethodResult mr;
  mr.method = name;
  mr.head_scores = r.head_scores[0];
  const int H = m.cfg.n_heads, HT = m.cfg.n_heads_total();
  for (int a = 0; a < HT; ++a)
    for (int b = 0; b < HT; ++b) {
      if (b / H <= a / H) continue;  // forward pairs only: sender layer < receiver layer
      const double u = r.trials[0].edge_U[static_cast<size_t>(a) * HT + b];
      const std::string from = "a" + std::to_string(a / H) + "." + std::to_string(a % H);
      for (const char* x : {".q", ".k", ".v"}) {
        mr.edges.push_back({from, "a" + std::to_string(b / H) + "." + std::to_string(b % H) + x});
        mr.edge_scores.push_back(u);
      }
    }
  mr.seconds = timer.seconds();
  return mr;
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
  if (name == "sae") return sae_method(name, m, task, o, seed, "paper");
  if (name == "sae-confirmed") return sae_method(name, m, task, o, seed, "confirmed");  // discover's default
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
  const bool faith = o.faithfulness && !task.corrupt.empty();
  AblationSource src;
  if (truth && faith) src = task_ablation_source(m, task, o.faith);
  const double full = truth && faith ? model_metric(m, task, std::min<size_t>(o.faith.n_prompts, task.size())) : 0;

  // Progress: the work of each method-trial (and each faithfulness curve) weighed by its cost.
  std::vector<double> work;
  double total = 0, done = 0;
  for (const std::string& name : o.methods) {
    work.push_back(method_cost_weight(name) * (method_is_stochastic(name) ? std::max(1, o.trials) : 1) + (faith ? 0.5 : 0));
    total += work.back();
  }
  std::vector<MethodRow> rows;
  const int n_methods = static_cast<int>(o.methods.size());
  for (int mi = 0; mi < n_methods; ++mi) {
    const std::string& name = o.methods[mi];
    MethodRow row;
    row.method = name;
    row.k = truth ? static_cast<int>(truth->heads.size()) : 0;
    const int trials = method_is_stochastic(name) ? std::max(1, o.trials) : 1;
    const std::string phase = "method " + std::to_string(mi + 1) + "/" + std::to_string(n_methods) + ": " + name;
    const double per_trial = method_cost_weight(name);
    std::vector<std::vector<double>> scores;
    for (int t = 0; t < trials; ++t) {
      if (o.progress)
        o.progress(trials > 1 ? phase + ", trial " + std::to_string(t + 1) + "/" + std::to_string(trials) : phase,
                   (done + t * per_trial) / total);
      const Timer timer;
      MethodResult r = run_method(name, m, task, o, o.settings.seed + t);
      const double secs = timer.seconds();
      row.seconds.push_back(secs);
      if (static_cast<int>(r.head_scores.size()) != HT)
        throw Error("method " + name + " returned " + std::to_string(r.head_scores.size()) + " head scores");
      scores.push_back(r.head_scores);
      row.has_edges = !r.edges.empty();
      if (truth) {
        row.node_auc.push_back(roc_auc(r.head_scores, labels));
        Confusion c = confusion_top_k(r.head_scores, labels, row.k);
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
        if (faith) {
          double kept = circuit_metric(m, task, top_k_heads(r.head_scores, H, row.k), src, o.faith.n_prompts);
          row.faithfulness.push_back(full != 0 ? kept / full : 0);
        }
      }
    }
    row.mean_head_scores.assign(HT, 0);
    for (auto& s : scores)
      for (int h = 0; h < HT; ++h) row.mean_head_scores[h] += s[h] / scores.size();
    if (truth) row.roc = roc_curve(row.mean_head_scores, labels);
    if (faith) {
      if (o.progress) o.progress(phase + ", faithfulness curve", (done + trials * per_trial) / total);
      row.faith = faithfulness_curve(m, task, row.mean_head_scores, o.faith);
    }
    done += work[mi];
    rows.push_back(std::move(row));
  }
  if (o.progress) o.progress("done", 1);
  return rows;
}

}  // namespace cs
