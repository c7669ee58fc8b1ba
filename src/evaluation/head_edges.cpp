#include "evaluation/head_edges.h"

#include <algorithm>
#include <cmath>

#include "evaluation/roc.h"
#include "ops/error.h"

namespace cs {

namespace {
// Index of a head edge: sender head u -> receiver head r at u * HT + r; u -> logits at HT * HT + u.
// -1 for edges that are neither (from the input or an MLP, into an MLP).
int64_t head_edge_index(const Edge& e, int L, int H) {
  const int HT = L * H;
  if (e.from.kind != NodeKind::Head || e.from.layer >= L || e.from.head >= H) return -1;
  const int64_t u = int64_t{e.from.layer} * H + e.from.head;
  if (e.to.kind == NodeKind::Logits) return int64_t{HT} * HT + u;
  if (e.to.kind != NodeKind::Head || e.to.layer >= L || e.to.head >= H || e.to.layer <= e.from.layer) return -1;
  return u * HT + int64_t{e.to.layer} * H + e.to.head;
}
}  // namespace

std::vector<double> head_edge_scores(const std::vector<double>& edge_scores, const Graph& g, bool* scores_logits) {
  const int L = g.n_layers(), H = g.n_heads(), HT = L * H;
  std::vector<double> s(static_cast<size_t>(HT) * HT + HT, -1e300);
  bool logits = false;
  for (size_t i = 0; i < edge_scores.size(); ++i) {
    if (std::isnan(edge_scores[i])) continue;  // not scored
    const int64_t k = head_edge_index(g.edge(static_cast<int>(i)), L, H);
    if (k < 0) continue;
    logits |= k >= int64_t{HT} * HT;
    s[k] = std::max(s[k], edge_scores[i]);
  }
  for (double& v : s) if (v == -1e300) v = 0;
  if (scores_logits) *scores_logits = logits;
  return s;
}

std::vector<bool> head_edge_labels(const GroundTruth& t, int n_layers, int n_heads) {
  const int HT = n_layers * n_heads;
  std::vector<bool> lab(static_cast<size_t>(HT) * HT + HT, false);
  for (const Edge& e : t.edges) {
    const int64_t k = head_edge_index(e, n_layers, n_heads);
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


std::optional<double> graph_edge_auc(const std::vector<double>& edge_scores, const GroundTruth& t, const Graph& g,
                                     std::string* why) {
  auto none = [&](const std::string& reason) {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (edge_scores.size() != static_cast<size_t>(g.n_edges())) return none("no score for each edge");
  if (std::any_of(edge_scores.begin(), edge_scores.end(), [](double v) { return std::isnan(v); }))
    return none("not every edge scored");
  if (t.edges.empty()) return none("truth lists no edges");
  std::vector<bool> y;
  try {
    y = edge_labels(t, g);
  } catch (const Error& e) {  // the truth's edges are another model's
    return none(std::string("truth's edges not in the graph: ") + e.what());
  }
  if (std::all_of(y.begin(), y.end(), [](bool b) { return b; })) return none("every edge in the truth");
  std::vector<double> a(edge_scores.size());
  for (size_t e = 0; e < a.size(); ++e) a[e] = std::fabs(edge_scores[e]);
  return roc_auc(a, y);
}

}  // namespace cs
