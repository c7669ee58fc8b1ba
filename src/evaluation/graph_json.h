// A scored circuit on the circuit graph (interp/graph.h), and its file: EAP-IG's graph JSON
// (hannamw/EAP-IG graph.py, Graph.to_json / Graph.from_json), the form circuits are exchanged in
// and the MIB circuit track reads.
//
//   { "cfg":   {"n_layers": 12, "n_heads": 12, "parallel_attn_mlp": false, "d_model": 768},
//     "nodes": {"input": {"in_graph": true, "score": 0.1}, "a0.h0": {...}, ..., "m11": {...},
//               "logits": {"in_graph": true}},
//     "edges": {"input->a0.h0<q>": {"score": 0.02, "in_graph": false}, ...} }
//
// Nodes and edges in the graph's order (EAP-IG's). A node's "score" is written only when the method
// scores that node (EAP-IG leaves unscored nodes NaN and keeps them in node-level circuits); the
// logits node is always in the graph and has no score. Edges a method does not score carry 0, as
// in EAP-IG's own node-level graphs. Attention-only models (no MLP nodes, which EAP-IG's graph
// always has) add "attn_only": true to cfg.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "interp/graph.h"

namespace cs {

struct ScoredGraph {
  Graph graph;
  int d_model = 0;                  // cfg's, for EAP-IG (0: unknown)
  std::vector<double> node_scores;  // [senders] NaN: not scored
  std::vector<char> node_in_graph;  // [senders]
  std::vector<double> edge_scores;  // [edges]
  std::vector<char> edge_in_graph;  // [edges]

  // Nothing scored (NaN node scores, 0 edge scores), nothing in the graph.
  explicit ScoredGraph(const Graph& g, int d_model = 0);
};

// EAP-IG's Graph.prune: until nothing changes, a node stays in the graph only if it has an edge
// in the graph going out and (the input aside) one coming in, and an edge only if both its
// sender and its receiver's node are in the graph (the logits always are).
void prune(ScoredGraph& s);

// The circuit of the k best edges as EAP-IG's Graph.apply_topn(k, level='edge') builds it (MIB's
// circuits at its edge-count fractions): only the k edges with the largest rank[e] ([edges]; NaN
// ranks last, ties go to the lower edge index) in the graph, then prune (so k is an upper bound).
// k is clamped to [0, edges].
void keep_top_edges(ScoredGraph& s, const std::vector<double>& rank, int k);

// The edges in the graph whose sender and receiver node are both in `nodes` (sender indices; the
// logits are always in), then prune: the circuit of a node-level method.
void keep_edges_among_nodes(ScoredGraph& s, const std::vector<char>& nodes);

std::string graph_json(const ScoredGraph& s);

// Reads a graph JSON in the layout above (a file written by EAP-IG, MIB or circuitscan); the
// graph comes from cfg. Nodes and edges the file leaves out are not in the graph (score NaN / 0).
// Every error is a one-line cs::Error naming the file and what is wrong.
// Python's json.dump writes NaN for the unscored nodes of EAP-IG's node-scored graphs; it is read
// as "not scored".
ScoredGraph read_graph_json(const std::string& path);

// Whether a parsed JSON document has a graph file's three objects (cfg, nodes, edges).
bool is_graph_json(const nlohmann::json& j);

// Per head (layer * n_heads + head): |node score| when the file scores every head (EAP-IG's
// node-level graphs), else the sum of |edge score| over the head's edges in and out (EAP's
// "edge sum" head score; an edge-scored file such as MIB's importances). *from_nodes says which.
std::vector<double> graph_head_scores(const ScoredGraph& s, bool* from_nodes = nullptr);

}  // namespace cs
