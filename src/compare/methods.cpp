#include "compare/methods.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/error.h"
#include "ops/timer.h"

namespace cs {

const std::vector<MethodInfo>& method_table() {
  static const std::vector<MethodInfo> table = {
      {MethodId::Sae, "sae", "discrete-SAE method (O'Neill & Bui 2024), |P\\N| confirmed by one attribution pass (--score)", false, true, 0.6},
      {MethodId::SaePaper, "sae-paper", "the discrete-SAE method with the paper's |P\\N| score alone", false, true, 0.3},
      {MethodId::Patching, "patching", "activation patching: each head and MLP ablated alone", false, false, 1.7},
      {MethodId::Acdc, "acdc", "ACDC (Conmy et al. 2023): edges pruned greedily at threshold --tau", true, false, 6.0},
      {MethodId::Eap, "eap", "edge attribution patching (Syed et al. 2023)", true, false, 0.3},
      {MethodId::EapIg, "eap-ig", "EAP with integrated gradients on the inputs (Hanna et al. 2024), --steps", true, false, 1.5},
      {MethodId::Hisp, "hisp", "head importance from mask gradients (Michel et al. 2019)", false, false, 0.1},
      {MethodId::Sp, "sp", "subnetwork probing: trained hard-concrete masks (Cao et al. 2021), --sp-steps", false, true, 22.0},
  };
  return table;
}

const MethodInfo& method_info(MethodId id) {
  for (const MethodInfo& i : method_table())
    if (i.id == id) return i;
  throw Error("method_info: unknown method id");
}

std::string method_names() {
  std::string s;
  for (const MethodInfo& i : method_table()) s += (s.empty() ? "" : ", ") + std::string(i.name);
  return s;
}

std::string method_help(int indent) {
  std::string s;
  for (const MethodInfo& i : method_table()) {
    std::string line = std::string(static_cast<size_t>(indent), ' ') + i.name;
    line.resize(std::max<size_t>(line.size() + 1, static_cast<size_t>(indent) + 11), ' ');
    s += (s.empty() ? "" : "\n") + line + i.summary;
  }
  return s;
}

MethodId parse_method(const std::string& name) {
  for (const MethodInfo& i : method_table())
    if (name == i.name) return i.id;
  throw UsageError("unknown method '" + name + "': choose from " + method_names());
}

MethodResult run_method(MethodId id, const Model& m, const TokenizedTask& task, const MethodOptions& o,
                        uint64_t seed) {
  MethodSettings s = o.settings;
  s.seed = seed;
  switch (id) {
    case MethodId::Patching: return activation_patching(m, task, s, o.patching);
    case MethodId::Acdc: return acdc(m, task, s, o.acdc);
    case MethodId::Eap: return eap(m, task, s, o.eap);
    case MethodId::EapIg: return eap_ig(m, task, s, o.eap);
    case MethodId::Hisp: return hisp(m, task, s, o.hisp);
    case MethodId::Sp: return subnetwork_probing(m, task, s, o.sp);
    case MethodId::Sae:
    case MethodId::SaePaper: {
      const Timer timer;
      DiscoverOptions d = o.discover;
      d.seed = seed;
      d.trials = 1;
      d.faithfulness = false;
      d.level = Level::Node;
      d.pair_scores = true;
      if (id == MethodId::SaePaper) d.score = SaeScore::Paper;
      d.progress = nullptr;
      const DiscoverResult r = discover(m, task, d, nullptr);
      MethodResult mr;
      mr.method = method_info(id).name;
      mr.head_scores = r.head_scores[0];
      mr.edge_scores = r.mean_edge_scores;
      mr.seconds = timer.seconds();
      return mr;
    }
  }
  throw Error("run_method: unknown method id");
}

DiscoverResult discover_with(MethodId id, const Model& m, const TokenizedTask& task, const MethodOptions& o,
                             const GroundTruth* truth) {
  if (id == MethodId::Sae || id == MethodId::SaePaper) {
    DiscoverOptions d = o.discover;
    if (id == MethodId::SaePaper) d.score = SaeScore::Paper;
    return discover(m, task, d, truth);
  }
  const Timer total;
  const MethodInfo& info = method_info(id);
  if (truth) truth_labels(*truth, m.cfg);
  const int trials = info.stochastic ? std::max(1, o.discover.trials) : 1;
  DiscoverResult r;
  r.method = info.name;
  auto mean_into = [&](std::vector<double>& mean, const std::vector<double>& x) {
    if (mean.empty()) mean.assign(x.size(), 0.0);
    for (size_t i = 0; i < x.size(); ++i) mean[i] += x[i] / trials;  // NaN (not scored) stays NaN
  };
  for (int t = 0; t < trials; ++t) {
    if (o.discover.progress) o.discover.progress(info.name, double(t) / trials);
    const MethodResult mr = run_method(id, m, task, o, o.settings.seed + t);
    r.head_scores.push_back(mr.head_scores);
    mean_into(r.mean_mlp_scores, mr.mlp_scores);
    mean_into(r.mean_edge_scores, mr.edge_scores);
    r.seconds_scores += mr.seconds;
    r.stats = mr.stats;
  }
  if (o.discover.progress) o.discover.progress(info.name, 1);
  std::vector<double> mean(r.head_scores[0].size(), 0.0);
  for (const auto& s : r.head_scores)
    for (size_t h = 0; h < s.size(); ++h) mean[h] += s[h] / trials;
  const std::string label = std::string(info.name) + " head score";
  finish_discover(m, task, o.discover, truth, {mean, label, false, false, label}, r);

  if (info.edges) {  // the graph circuit is a set of edges
    ScoredGraph& g = *r.graph;
    const int E = g.graph.n_edges();
    if (id == MethodId::Acdc) {
      for (int e = 0; e < E; ++e) g.edge_in_graph[e] = g.edge_scores[e] >= o.acdc.tau;
    } else {
      const int n = o.discover.top_edges >= 0 ? std::min(o.discover.top_edges, E)
                                              : static_cast<int>(std::count(g.edge_in_graph.begin(), g.edge_in_graph.end(), 1));
      std::vector<int> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int a, int b) { return std::fabs(g.edge_scores[a]) > std::fabs(g.edge_scores[b]); });
      std::fill(g.edge_in_graph.begin(), g.edge_in_graph.end(), 0);
      for (int i = 0; i < n; ++i) g.edge_in_graph[order[i]] = 1;
    }
    prune(g);
    // MIB's edge-level CPR / CMD of the edge ranking, beside the head-level curve.
    if (o.discover.faithfulness && !task.corrupt.empty()) {
      if (o.discover.progress) o.discover.progress("MIB faithfulness", 0);
      try {
        r.mib_faith = mib_faithfulness(m, task, r.mean_edge_scores, o.discover.faith.n_prompts);
      } catch (const Error& e) {  // e.g. corrupt prompts of other lengths: said, the run goes on
        r.mib_faith_note = e.what();
      }
      if (o.discover.progress) o.discover.progress("MIB faithfulness", 1);
    }
  }
  r.seconds_total = total.seconds();
  return r;
}

}  // namespace cs
