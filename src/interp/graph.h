// The circuit graph of a transformer: its nodes, its edges, their names and their indices. The
// one place in circuitscan that builds or parses node and edge names; every method, ground
// truth, report and evaluator goes through it.
//
// Names and indices are those of EAP-IG and the MIB circuit track (Hanna et al. 2024,
// hannamw/EAP-IG graph.py `Graph.from_model`; Mueller et al. 2025, hannamw/MIB-circuit-track):
//   nodes     "input"   the token embeddings (hook_embed; a sender only)
//             "a{L}.h{H}" head H of layer L (blocks.L.attn.hook_result[:, :, H]; layers and
//                       heads 0-based)
//             "m{L}"    the MLP of layer L (blocks.L.hook_mlp_in -> blocks.L.hook_mlp_out)
//             "logits"  the final residual stream, blocks.{L-1}.hook_resid_post (a receiver only)
//   edges     "{sender}->{receiver}", with "<q>", "<k>" or "<v>" when the receiver is a head:
//             which of its inputs (blocks.L.hook_q_input / k_input / v_input[:, :, H]) the
//             sender's output reaches, e.g. "a0.h1->a2.h3<q>", "m0->logits", "input->a0.h0<v>".
// An edge is one path through the residual stream, always forward: a head feeds the heads of
// later layers, its own layer's MLP (not in parallel-residual models such as NeoX, whose MLP
// reads the layer's input) and everything after; an MLP feeds later layers and the logits.
// Grouped-query models have the same graph: every query head has its own q, k and v input, as
// TransformerLens computes them with ungroup_grouped_query_attention (EAP-IG requires it), so an
// edge into a<k> changes that head's keys only, not its group's.
//
// Indices (EAP-IG's forward_index / backward_index), M = 1 with MLPs, 0 for attention-only:
//   sender    input 0;  a{l}.h{h} 1 + l (H + M) + h;  m{l} 1 + l (H + 1) + H
//   receiver  a{l}.h{h}<x> l (3H + M) + x H + h (x = 0 q, 1 k, 2 v);  m{l} l (3H + 1) + 3H;
//             logits last
// and edges in EAP-IG's order (the order of Graph.from_model, so of its graph JSON): layer by
// layer, each sender already in the residual stream into that layer's heads (q, k, v of head 0,
// then head 1, ...), then (sequential models) every sender into the layer's MLP; parallel models
// interleave the two per sender. Then every sender into the logits. GPT-2 small (12 x 12, MLPs):
// 32,491 edges, MIB's count. ACDC's graph (Conmy et al. 2023) adds one internal edge per head
// input, a{l}.h{h}<x> -> a{l}.h{h} (GPT-2 small: 32,923); here those are not edges but the
// head's q/k/v switches, which only ACDC uses (baselines/acdc.h).
#pragma once
#include <compare>
#include <optional>
#include <string>
#include <vector>

namespace cs {

struct ModelConfig;

// An attention head. Written "9.9" (layer.head) in tables and reports.
struct HeadId {
  int layer = 0, head = 0;
  auto operator<=>(const HeadId&) const = default;  // orders by layer, then head
  std::string str() const;                          // "9.9"
};

// Parses a head written "9.9", "a9.h9" (EAP-IG / MIB), "A9.9" or "a9.9"; throws cs::Error on
// anything else (numbers are plain decimals without sign or leading zeros).
HeadId parse_head(const std::string& s);

// Which input of an attention head.
enum class QKV { Q, K, V };
const char* to_string(QKV x);  // "q" | "k" | "v"

enum class NodeKind { Input, Head, Mlp, Logits };

struct Node {
  NodeKind kind = NodeKind::Input;
  int layer = 0, head = 0;  // layer for Head and Mlp, head for Head; 0 otherwise

  static Node input() { return {NodeKind::Input, 0, 0}; }
  static Node logits() { return {NodeKind::Logits, 0, 0}; }
  static Node attention(int layer, int head) { return {NodeKind::Head, layer, head}; }
  static Node attention(const HeadId& h) { return {NodeKind::Head, h.layer, h.head}; }
  static Node mlp(int layer) { return {NodeKind::Mlp, layer, 0}; }

  std::string name() const;  // "input", "a0.h1", "m0", "logits"
  bool operator==(const Node&) const = default;
  std::strong_ordering operator<=>(const Node& o) const;  // forward-pass order
};

// Parses a node name: "input", "a0.h1", "m0", "logits", and the older spellings "output"
// (= logits) and "a0.1" / "A0.1" (= a0.h1). Throws cs::Error naming the accepted forms.
Node parse_node(const std::string& s);

// One edge, independent of any model. `qkv` says which input of a head receiver it reaches and
// is Q (ignored) for other receivers.
struct Edge {
  Node from, to;
  QKV qkv = QKV::Q;

  std::string name() const;                     // "a0.h1->a2.h3<q>"
  std::string receiver_name() const;            // "a2.h3<q>", "m2", "logits"
  bool operator==(const Edge&) const = default;
  // Receiver in EAP-IG's backward order (a layer's q inputs, its k inputs, its v inputs, its
  // MLP; logits last), then sender in forward order: ground truths are written this way.
  std::strong_ordering operator<=>(const Edge& o) const;
};

// Builds an edge; throws cs::Error when it cannot exist in any model (see edge_problem).
Edge make_edge(const Node& from, const Node& to, QKV qkv = QKV::Q);

// Parses an EAP-IG edge name, "sender->receiver" or "sender->a{L}.h{H}<q|k|v>"; throws cs::Error.
Edge parse_edge(const std::string& s);

// Parses an edge in ACDC's older pair form, {"a0.1", "a2.3.q"} (receivers "aL.H.q/k/v", "mL",
// "output"; new node names accepted too). Returns nullopt for a head's internal edge
// {"a2.3.q", "a2.3"}, which the graph has no place for (ACDC counts one for every head input
// that receives an edge, so nothing is lost). Throws cs::Error for anything else that is not an
// edge.
std::optional<Edge> parse_edge_pair(const std::string& from, const std::string& to);

// Empty when the edge can exist in some model (senders input / head / MLP; receivers head /
// MLP / logits; the sender computed before the receiver reads), else why not.
std::string edge_problem(const Edge& e);

class Graph {
 public:
  // mlps: the model has MLP nodes (false for attention-only models). parallel: the MLP reads the
  // layer's input, not its heads' outputs (GPT-NeoX's use_parallel_residual).
  Graph(int n_layers, int n_heads, bool mlps = true, bool parallel = false);
  explicit Graph(const ModelConfig& c);

  int n_layers() const { return L_; }
  int n_heads() const { return H_; }
  bool has_mlps() const { return M_ == 1; }
  bool parallel() const { return parallel_; }

  // Senders.
  int n_senders() const { return 1 + L_ * (H_ + M_); }
  int head_sender(int l, int h) const { return 1 + l * (H_ + M_) + h; }
  int mlp_sender(int l) const { return 1 + l * (H_ + 1) + H_; }
  Node sender_node(int s) const;
  int sender(const Node& n) const;  // throws cs::Error when n is not a sender of this graph

  // Receivers.
  int n_receivers() const { return L_ * (3 * H_ + M_) + 1; }
  int head_receiver(int l, int h, QKV x) const { return l * (3 * H_ + M_) + static_cast<int>(x) * H_ + h; }
  int mlp_receiver(int l) const { return l * (3 * H_ + 1) + 3 * H_; }
  int logits_receiver() const { return n_receivers() - 1; }
  Node receiver_node(int r, QKV* qkv = nullptr) const;
  int receiver(const Node& n, QKV qkv = QKV::Q) const;  // throws cs::Error when not a receiver
  // The senders a receiver reads are a prefix of the sender order: 0 .. n_upstream(r) - 1.
  int n_upstream(int r) const;

  std::string sender_name(int s) const { return sender_node(s).name(); }
  std::string receiver_name(int r) const;  // "a0.h1<q>", "m0", "logits"

  // Edges, in EAP-IG's order.
  int n_edges() const { return static_cast<int>(send_.size()); }
  int edge_sender(int e) const { return send_[e]; }
  int edge_receiver(int e) const { return recv_[e]; }
  Edge edge(int e) const;
  std::string edge_name(int e) const { return edge(e).name(); }
  // The edge from sender s to receiver r, or -1 when s does not feed r.
  int edge_index(int s, int r) const { return s < n_upstream(r) ? into_[r][s] : -1; }
  // The index of a model-independent edge, or -1 when this graph does not have it.
  int find(const Edge& e) const;
  // Edges into receiver r, in edge order, which is sender order: edges_into(r)[s] is s -> r.
  const std::vector<int>& edges_into(int r) const { return into_[r]; }
  // Edges out of sender s, in edge order.
  const std::vector<int>& edges_out_of(int s) const { return out_of_[s]; }

 private:
  int L_, H_, M_;
  bool parallel_;
  std::vector<int> send_, recv_;             // [edges]
  std::vector<std::vector<int>> into_, out_of_;
};

}  // namespace cs
