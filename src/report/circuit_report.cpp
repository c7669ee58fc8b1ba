#include "report/circuit_report.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "model/save.h"
#include "ops/error.h"
#include "ops/files.h"
#include "report/report_html.h"

namespace cs {

namespace {

void check_shape(const DiscoverResult& r, const RunInfo& info) {
  const size_t HT = static_cast<size_t>(info.n_layers) * static_cast<size_t>(std::max(0, info.n_heads));
  if (info.n_layers <= 0 || info.n_heads <= 0 || r.mean_scores.size() != HT)
    throw Error("report: the result has " + std::to_string(r.mean_scores.size()) + " head scores but the run says " +
                std::to_string(info.n_layers) + " layers x " + std::to_string(info.n_heads) + " heads");
}

// Head i = layer * H + head: "9.9" in tables, "a9.h9" as a graph node.
std::string head_name(int i, int H) { return HeadId{i / H, i % H}.str(); }
std::string head_node(int i, int H) { return Node::attention(i / H, i % H).name(); }

// Built by appending: GCC 12 warns (-Wrestrict, a false positive) on "L" + std::string.
std::string prefixed(const char* prefix, const std::string& s) {
  std::string r(prefix);
  r += s;
  return r;
}

nlohmann::json confusion_json(const Confusion& c) {
  return {{"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1},
          {"tp", c.tp}, {"fp", c.fp}, {"fn", c.fn}, {"tn", c.tn}};
}

// Rank 1 = highest mean score; ties to the lower index (as the circuit selection does).
std::vector<int> ranks(const std::vector<double>& s) {
  std::vector<int> order(s.size()), rank(s.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return s[a] > s[b]; });
  for (size_t k = 0; k < order.size(); ++k) rank[order[k]] = static_cast<int>(k) + 1;
  return rank;
}

// Graphviz string literal.
std::string dot_quote(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c == '\n' ? ' ' : c;
  }
  return r + "\"";
}

}  // namespace

std::vector<HeadPair> top_head_pairs(const DiscoverResult& r, int n_heads, int max_pairs, const std::vector<bool>& among) {
  std::vector<HeadPair> pairs;
  const size_t HT = r.mean_scores.size();
  if (r.mean_edge_U.size() != HT * HT || max_pairs <= 0) return pairs;
  auto ok = [&](size_t h) { return among.empty() || (h < among.size() && among[h]); };
  const size_t H = n_heads > 0 ? static_cast<size_t>(n_heads) : 0;
  for (size_t a = 0; a < HT; ++a) {
    if (!ok(a)) continue;
    for (size_t b = a + 1; b < HT; ++b) {
      if (!ok(b) || H == 0 || a / H == b / H) continue;  // one layer: no information flows
      // Symmetric in exact arithmetic; take the larger side in case rounding differs.
      const double u = std::max(r.mean_edge_U[a * HT + b], r.mean_edge_U[b * HT + a]);
      if (u > 0) pairs.push_back({static_cast<int>(a), static_cast<int>(b), u});
    }
  }
  std::stable_sort(pairs.begin(), pairs.end(), [](const HeadPair& x, const HeadPair& y) { return x.score > y.score; });
  if (pairs.size() > static_cast<size_t>(max_pairs)) pairs.resize(static_cast<size_t>(max_pairs));
  return pairs;
}

std::vector<bool> report_truth_labels(const RunInfo& info) {
  if (info.n_layers <= 0 || info.n_heads <= 0) return {};
  std::vector<HeadId> heads = info.truth_heads;
  if (heads.empty() && !info.truth_name.empty()) {
    try {
      heads = std::filesystem::is_regular_file(info.truth_name) ? load_ground_truth(info.truth_name).heads
                                                       : ground_truth_by_name(info.truth_name).heads;
    } catch (const Error&) {
      return {};  // documented: an unloadable truth leaves the heads unmarked
    }
  }
  if (heads.empty()) return {};
  std::vector<bool> y(static_cast<size_t>(info.n_layers) * info.n_heads, false);
  for (const HeadId& h : heads)
    if (h.layer >= 0 && h.layer < info.n_layers && h.head >= 0 && h.head < info.n_heads)
      y[static_cast<size_t>(h.layer) * info.n_heads + h.head] = true;
  return y;
}

std::string circuit_json(const DiscoverResult& r, const RunInfo& info) {
  check_shape(r, info);
  const int H = info.n_heads, HT = static_cast<int>(r.mean_scores.size());
  const std::vector<bool> truth = report_truth_labels(info);
  std::vector<bool> in_circuit(HT, false);
  for (int h : r.circuit)
    if (h >= 0 && h < HT) in_circuit[h] = true;
  const std::vector<int> rank = ranks(r.mean_scores);

  nlohmann::ordered_json j;
  j["format"] = "circuitscan-circuit";
  j["version"] = 1;
  j["method"] = info.method;
  j["level"] = info.level.empty() ? (r.mean_edge_U.empty() ? "node" : "edge") : info.level;
  j["task"] = info.task;
  j["metric"] = info.metric_name;
  j["model"] = {{"dir", info.model_dir}, {"family", info.model_family}, {"n_layers", info.n_layers}, {"n_heads", H}};
  j["seed"] = info.seed;
  j["trials"] = r.head_scores.size();
  j["command_line"] = info.command_line;
  j["settings"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : info.settings) j["settings"][k] = v;
  j["ranking"] = info.ranking;
  j["paper_score"] = info.paper_score;
  j["size_rule"] = r.size_rule;
  j["truth"] = info.truth_name.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(info.truth_name);
  if (!r.trials.empty()) {  // the SAE methods' prompt sets
    j["n_positive"] = r.n_positive;
    j["n_negative"] = r.n_negative;
  }

  j["heads"] = nlohmann::ordered_json::array();
  for (int h = 0; h < HT; ++h) {
    auto at = [&](const std::vector<double>& v) { return h < static_cast<int>(v.size()) ? v[h] : 0.0; };
    nlohmann::ordered_json e = {{"name", head_name(h, H)}, {"layer", h / H}, {"head", h % H},
                                {"score", r.mean_scores[h]}, {"std", at(r.std_scores)}};
    if (!r.paper_scores.empty()) {  // the SAE methods
      e["paper_score"] = at(r.paper_scores);
      e["paper_std"] = at(r.paper_std);
      e["softmax"] = at(r.paper_softmax);
    }
    e["rank"] = rank[h];
    e["in_circuit"] = static_cast<bool>(in_circuit[h]);
    if (!truth.empty()) e["in_truth"] = static_cast<bool>(truth[h]);
    j["heads"].push_back(e);
  }
  if (!r.mean_mlp_scores.empty()) j["mlp_scores"] = r.mean_mlp_scores;
  j["circuit"] = nlohmann::ordered_json::array();
  for (int h : r.circuit) j["circuit"].push_back(head_name(h, H));
  j["edges"] = nlohmann::ordered_json::array();
  for (const HeadPair& p : top_head_pairs(r, H, info.top_edges))
    j["edges"].push_back({{"from", head_node(p.from, H)}, {"to", head_node(p.to, H)}, {"score", p.score}});

  if (r.mean_eval) {
    nlohmann::ordered_json ev;
    ev["truth"] = info.truth_name;
    if (r.circuit_eval) {
      ev["circuit"] = {{"k", r.circuit.size()}};
      ev["circuit"].update(confusion_json(*r.circuit_eval));
    }
    ev["k"] = r.mean_eval->at_k.tp + r.mean_eval->at_k.fn;
    ev["mean_scores"] = {{"auc", r.mean_eval->auc}};
    ev["mean_scores"].update(confusion_json(r.mean_eval->at_k));
    if (!r.evals.empty()) {
      std::vector<double> auc, p, rc, f1;
      for (const TrialEval& e : r.evals)
        auc.push_back(e.auc), p.push_back(e.at_k.precision), rc.push_back(e.at_k.recall), f1.push_back(e.at_k.f1);
      auto ms = [](const std::vector<double>& v) {
        MeanStd m = mean_std(v);
        return nlohmann::ordered_json{{"mean", m.mean}, {"std", m.std}};
      };
      ev["over_trials"] = {{"auc", ms(auc)}, {"precision", ms(p)}, {"recall", ms(rc)}, {"f1", ms(f1)}};
    }
    if (r.edge_auc)
      ev["edge_auc"] = {{"auc", *r.edge_auc},
                        {"edges", r.edge_auc_with_logits ? "head->head (q/k/v merged) and head->logits"
                                                         : "head->head (q/k/v merged)"}};
    if (r.graph_edge_auc) ev["graph_edge_auc"] = {{"auc", *r.graph_edge_auc}, {"edges", r.mean_edge_scores.size()}};
    j["evaluation"] = ev;
  }
  j["trial_results"] = nlohmann::ordered_json::array();
  for (size_t t = 0; t < r.head_scores.size(); ++t) {
    nlohmann::ordered_json e = {{"trial", t}};
    if (t < r.trials.size()) {
      e["seed"] = r.trials[t].seed;
      e["sae_loss"] = r.trials[t].sae_loss;
    }
    if (t < r.evals.size()) {
      e["auc"] = r.evals[t].auc;
      e["precision"] = r.evals[t].at_k.precision;
      e["recall"] = r.evals[t].at_k.recall;
      e["f1"] = r.evals[t].at_k.f1;
    }
    e["head_scores"] = r.head_scores[t];
    j["trial_results"].push_back(e);
  }
  if (!r.stats.empty()) j["method_stats"] = r.stats;
  if (r.faith) {
    const FaithfulnessCurve& f = *r.faith;
    j["faithfulness"] = {{"size", f.size}, {"metric", f.metric}, {"fraction", f.fraction},
                         {"normalised", f.normalised}, {"full", f.full}, {"empty", f.empty},
                         {"cpr", f.cpr}, {"cmd", f.cmd}};
    j["circuit_faithfulness"] = r.circuit_faithfulness;
  }
  if (r.mib_faith) {
    const MibFaithfulness& f = *r.mib_faith;
    j["mib_faithfulness"] = {{"level", "edge"}, {"fraction", f.fraction}, {"edges", f.edges}, {"edges_kept", f.edges_kept},
                             {"metric", f.metric}, {"faithfulness", f.faithfulness}, {"full", f.full},
                             {"empty", f.empty}, {"cpr", f.cpr}, {"cmd", f.cmd}, {"n_prompts", f.n_prompts}};
  }
  j["timings"] = {{"collect_s", r.seconds_collect}, {"train_s", r.seconds_train}, {"codes_s", r.seconds_codes},
                  {"scores_s", r.seconds_scores}, {"faithfulness_s", r.seconds_faithfulness},
                  {"total_s", r.seconds_total}, {"collect_flops", r.collect_flops}, {"train_flops", r.train_flops}};
  return j.dump(2) + "\n";
}

std::string circuit_dot(const DiscoverResult& r, const RunInfo& info) {
  check_shape(r, info);
  const int H = info.n_heads, HT = static_cast<int>(r.mean_scores.size());
  const std::vector<bool> truth = report_truth_labels(info);
  std::vector<bool> in_circuit(HT, false);
  std::map<int, std::vector<int>> by_layer;  // layer -> circuit heads, ascending
  for (int h : r.circuit)
    if (h >= 0 && h < HT && !in_circuit[h]) in_circuit[h] = true, by_layer[h / H].push_back(h);
  for (auto& [l, v] : by_layer) std::sort(v.begin(), v.end());
  auto id = [&](int h) { return dot_quote(head_node(h, H)); };

  std::ostringstream o;
  const bool edges = !r.mean_edge_U.empty();
  std::string label = info.task + " on " + (info.model_family.empty() ? info.model_dir : info.model_family) + ": " +
                      std::to_string(r.circuit.size()) + " heads (" + info.method + ", " + (edges ? "edge" : "node") + " level)";
  o << "// circuitscan circuit. Render: dot -Tsvg circuit.dot > circuit.svg\n"
    << "// Rows are layers (top = layer 0); filled nodes are ground-truth heads.\n"
    << "digraph circuit {\n"
    << "  graph [rankdir=TB, labelloc=t, fontname=\"Helvetica\", label=" << dot_quote(label) << "];\n"
    << "  node [shape=box, style=\"rounded,filled\", fillcolor=\"white\", fontname=\"Helvetica\"];\n"
    << "  edge [color=\"#d55e00\"];\n";
  for (const auto& [l, heads] : by_layer) {
    o << "  { rank=same; " << dot_quote(prefixed("L", std::to_string(l))) << " [shape=plaintext, style=\"\", label="
      << dot_quote(prefixed("layer ", std::to_string(l))) << "];";
    for (int h : heads) {
      o << ' ' << id(h) << " [label=" << dot_quote(head_name(h, H));
      if (static_cast<size_t>(h) < truth.size() && truth[h]) o << ", fillcolor=\"#ffe3a3\"";
      o << ", tooltip=" << dot_quote("score " + std::to_string(r.mean_scores[h])) << "];";
    }
    o << " }\n";
  }
  // Invisible chain of layer labels keeps the rows in layer order whatever the edges are.
  for (auto it = by_layer.begin(); it != by_layer.end() && std::next(it) != by_layer.end(); ++it)
    o << "  " << dot_quote(prefixed("L", std::to_string(it->first))) << " -> " << dot_quote(prefixed("L", std::to_string(std::next(it)->first)))
      << " [style=invis];\n";
  if (edges) {
    const std::vector<HeadPair> pairs = top_head_pairs(r, H, info.top_edges, in_circuit);
    const double mx = pairs.empty() ? 1 : pairs.front().score;
    for (const HeadPair& p : pairs) {
      char pw[32];
      std::snprintf(pw, sizeof pw, "%.2f", 0.5 + 4.5 * p.score / mx);
      o << "  " << id(p.from) << " -> " << id(p.to) << " [penwidth=" << pw << ", tooltip="
        << dot_quote("U = " + std::to_string(p.score)) << "];\n";
    }
  }
  o << "}\n";
  return o.str();
}

void write_outputs(const std::string& out_dir, const DiscoverResult& r, const RunInfo& info) {
  // Render everything first: a failure here writes nothing.
  const std::string json = circuit_json(r, info), dot = circuit_dot(r, info), html = report_html(r, info);
  const std::string graph = r.graph ? graph_json(*r.graph) : "";
  StagedDir out(out_dir);  // the files appear together or not at all
  write_file_atomic(out.path("circuit.json"), json);
  write_file_atomic(out.path("circuit.dot"), dot);
  write_file_atomic(out.path("report.html"), html);
  if (r.graph) write_file_atomic(out.path("graph.json"), graph);
  out.commit();
}

}  // namespace cs
