#include "evaluation/graph_json.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "evaluation/json_file.h"
#include "ops/error.h"

namespace cs {

namespace {

using ojson = nlohmann::ordered_json;

// The sender index of the node whose input receiver r is, or -1 for the logits.
int node_of_receiver(const Graph& g, int r) {
  const Node n = g.receiver_node(r);
  return n.kind == NodeKind::Logits ? -1 : g.sender(n);
}

}  // namespace

ScoredGraph::ScoredGraph(const Graph& g, int d)
    : graph(g), d_model(d), node_scores(g.n_senders(), std::nan("")), node_in_graph(g.n_senders(), 0),
      edge_scores(g.n_edges(), 0.0), edge_in_graph(g.n_edges(), 0) {}

void prune(ScoredGraph& s) {
  const Graph& g = s.graph;
  for (bool changed = true; changed;) {
    std::vector<char> out(g.n_senders(), 0), in(g.n_senders(), 0);
    in[0] = 1;  // the input has no incoming edges and needs none
    for (int e = 0; e < g.n_edges(); ++e) {
      if (!s.edge_in_graph[e]) continue;
      out[g.edge_sender(e)] = 1;
      const int v = node_of_receiver(g, g.edge_receiver(e));
      if (v >= 0) in[v] = 1;
    }
    changed = false;
    for (int u = 0; u < g.n_senders(); ++u) {
      const char keep = out[u] && in[u];
      changed |= keep != s.node_in_graph[u];
      s.node_in_graph[u] = keep;
    }
    for (int e = 0; e < g.n_edges(); ++e) {
      const int v = node_of_receiver(g, g.edge_receiver(e));
      if (!s.node_in_graph[g.edge_sender(e)] || (v >= 0 && !s.node_in_graph[v])) s.edge_in_graph[e] = 0;
    }
  }
}

void keep_top_edges(ScoredGraph& s, const std::vector<double>& rank, int k) {
  const int E = s.graph.n_edges();
  if (static_cast<int>(rank.size()) != E)
    throw Error("top edges: " + std::to_string(rank.size()) + " scores for a graph of " + std::to_string(E) + " edges");
  std::vector<int> order(E);
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int e) { return std::isnan(rank[e]) ? -INFINITY : rank[e]; };
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) > key(b); });
  std::fill(s.edge_in_graph.begin(), s.edge_in_graph.end(), 0);
  for (int i = 0; i < std::clamp(k, 0, E); ++i) s.edge_in_graph[order[i]] = 1;
  prune(s);
}

void keep_edges_among_nodes(ScoredGraph& s, const std::vector<char>& nodes) {
  const Graph& g = s.graph;
  for (int e = 0; e < g.n_edges(); ++e) {
    const int v = node_of_receiver(g, g.edge_receiver(e));
    s.edge_in_graph[e] = nodes[g.edge_sender(e)] && (v < 0 || nodes[v]);
  }
  s.node_in_graph = nodes;
  prune(s);
}

std::string graph_json(const ScoredGraph& s) {
  const Graph& g = s.graph;
  ojson j;
  j["cfg"] = {{"n_layers", g.n_layers()}, {"n_heads", g.n_heads()}, {"parallel_attn_mlp", g.parallel()},
              {"d_model", s.d_model}};
  if (!g.has_mlps()) j["cfg"]["attn_only"] = true;
  ojson nodes = ojson::object();
  for (int u = 0; u < g.n_senders(); ++u) {
    ojson n = {{"in_graph", static_cast<bool>(s.node_in_graph[u])}};
    if (!std::isnan(s.node_scores[u])) n["score"] = s.node_scores[u];
    nodes[g.sender_name(u)] = n;
  }
  nodes[Node::logits().name()] = {{"in_graph", true}};
  j["nodes"] = nodes;
  ojson edges = ojson::object();
  for (int e = 0; e < g.n_edges(); ++e)
    edges[g.edge_name(e)] = {{"score", s.edge_scores[e]}, {"in_graph", static_cast<bool>(s.edge_in_graph[e])}};
  j["edges"] = edges;
  return j.dump() + "\n";
}

ScoredGraph read_graph_json(const std::string& path) {
  auto fail = [&](const std::string& what) -> Error { return Error(path + ": " + what); };
  const nlohmann::json j = read_json_file(path, "graph file", /*python_constants=*/true);
  if (!j.is_object()) throw fail("a graph file is a JSON object with \"cfg\", \"nodes\" and \"edges\"");
  for (const char* key : {"cfg", "nodes", "edges"})
    if (!j.contains(key) || !j[key].is_object())
      throw fail(std::string("missing object \"") + key + "\" (EAP-IG's graph JSON has cfg, nodes and edges)");
  const auto& cfg = j["cfg"];
  auto int_of = [&](const char* key, bool required) {
    if (!cfg.contains(key)) {
      if (required) throw fail(std::string("cfg has no \"") + key + "\"");
      return 0;
    }
    if (!cfg[key].is_number_integer() || cfg[key].get<int64_t>() < (required ? 1 : 0) || cfg[key].get<int64_t>() > 100000)
      throw fail(std::string("cfg.") + key + " must be a positive integer, got " + one_line(cfg[key].dump()));
    return static_cast<int>(cfg[key].get<int64_t>());
  };
  auto bool_of = [&](const char* key) {
    if (!cfg.contains(key)) return false;
    if (!cfg[key].is_boolean()) throw fail(std::string("cfg.") + key + " must be true or false");
    return cfg[key].get<bool>();
  };
  ScoredGraph s(Graph(int_of("n_layers", true), int_of("n_heads", true), !bool_of("attn_only"),
                      bool_of("parallel_attn_mlp")),
                int_of("d_model", false));
  const Graph& g = s.graph;
  const std::string shape = std::to_string(g.n_layers()) + " x " + std::to_string(g.n_heads()) + " graph";

  auto flag = [&](const nlohmann::json& v, const std::string& where) {
    if (!v.contains("in_graph") || !v["in_graph"].is_boolean())
      throw fail(where + " needs \"in_graph\": true or false");
    return static_cast<char>(v["in_graph"].get<bool>());
  };
  for (const auto& [name, v] : j["nodes"].items()) {
    const std::string where = "node \"" + name + "\"";
    if (!v.is_object()) throw fail(where + " must be an object {\"in_graph\": ..., \"score\": ...}");
    int u = -1;
    try {
      const Node n = parse_node(name);
      if (n.kind == NodeKind::Logits) continue;  // always in the graph
      u = g.sender(n);
    } catch (const Error& e) {
      throw fail(e.what());
    }
    s.node_in_graph[u] = flag(v, where);
    if (v.contains("score") && !v["score"].is_null()) {
      if (!v["score"].is_number()) throw fail(where + ": score must be a number");
      s.node_scores[u] = v["score"].get<double>();
    }
  }
  for (const auto& [name, v] : j["edges"].items()) {
    const std::string where = "edge \"" + name + "\"";
    if (!v.is_object()) throw fail(where + " must be an object {\"score\": ..., \"in_graph\": ...}");
    int e = -1;
    try {
      e = g.find(parse_edge(name));
    } catch (const Error& err) {
      throw fail(err.what());
    }
    if (e < 0) throw fail(where + " is not an edge of the cfg's " + shape);
    s.edge_in_graph[e] = flag(v, where);
    if (!v.contains("score") || !v["score"].is_number()) throw fail(where + " needs a numeric \"score\"");
    s.edge_scores[e] = v["score"].get<double>();
  }
  return s;
}

bool is_graph_json(const nlohmann::json& j) {
  return j.is_object() && j.contains("cfg") && j.contains("nodes") && j.contains("edges");
}

std::vector<double> graph_head_scores(const ScoredGraph& s, bool* from_nodes) {
  const Graph& g = s.graph;
  const int L = g.n_layers(), H = g.n_heads();
  std::vector<double> out(static_cast<size_t>(L) * H, 0.0);
  bool all = true;
  for (int l = 0; l < L; ++l)
    for (int h = 0; h < H; ++h) all &= !std::isnan(s.node_scores[g.head_sender(l, h)]);
  if (from_nodes) *from_nodes = all;
  if (all) {
    for (int l = 0; l < L; ++l)
      for (int h = 0; h < H; ++h) out[static_cast<size_t>(l) * H + h] = std::fabs(s.node_scores[g.head_sender(l, h)]);
    return out;
  }
  for (int e = 0; e < g.n_edges(); ++e) {
    const double v = std::fabs(s.edge_scores[e]);
    for (const Node& n : {g.sender_node(g.edge_sender(e)), g.receiver_node(g.edge_receiver(e))})
      if (n.kind == NodeKind::Head) out[static_cast<size_t>(n.layer) * H + n.head] += v;
  }
  return out;
}

}  // namespace cs
