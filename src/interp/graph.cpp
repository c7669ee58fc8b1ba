#include "interp/graph.h"

#include <tuple>

#include "model/config.h"
#include "ops/error.h"

namespace cs {

namespace {

constexpr char kLetters[] = "qkv";

// Reads a non-negative decimal integer at s[i...] in canonical form (no sign, no leading
// zeros, at most 6 digits, so each node has exactly one number); advances i.
std::optional<int> read_int(const std::string& s, size_t& i) {
  const size_t start = i;
  if (i + 1 < s.size() && s[i] == '0' && s[i + 1] >= '0' && s[i + 1] <= '9') return std::nullopt;
  long v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 6) v = v * 10 + (s[i++] - '0');
  if (i == start || (i < s.size() && s[i] >= '0' && s[i] <= '9')) return std::nullopt;
  return static_cast<int>(v);
}

// "L.H" or "L.hH" at s[i...] (after an optional a/A prefix the caller skipped).
std::optional<HeadId> read_head(const std::string& s, size_t& i, bool h_allowed) {
  const auto layer = read_int(s, i);
  if (!layer || i >= s.size() || s[i++] != '.') return std::nullopt;
  if (h_allowed && i < s.size() && s[i] == 'h') ++i;
  const auto head = read_int(s, i);
  if (!head) return std::nullopt;
  return HeadId{*layer, *head};
}

std::optional<Node> try_node(const std::string& s) {
  if (s == "input") return Node::input();
  if (s == "logits" || s == "output") return Node::logits();
  if (s.size() < 2) return std::nullopt;
  size_t i = 1;
  if (s[0] == 'm') {
    const auto layer = read_int(s, i);
    if (!layer || i != s.size()) return std::nullopt;
    return Node::mlp(*layer);
  }
  if (s[0] != 'a' && s[0] != 'A') return std::nullopt;
  const auto h = read_head(s, i, true);
  if (!h || i != s.size()) return std::nullopt;
  return Node::attention(*h);
}

const char* kNodeForms = "input, aL.hH (or aL.H), mL, logits (or output)";

// When in the forward pass a sender's output is ready, and up to when a receiver reads: the edge
// is forward iff ready < reads. Heads of layer l are ready at 2l + 1, its MLP at 2l + 2.
int ready(const Node& n) {
  return n.kind == NodeKind::Input ? 0 : n.kind == NodeKind::Head ? 2 * n.layer + 1 : 2 * n.layer + 2;
}
int reads(const Node& n) {
  return n.kind == NodeKind::Head ? 2 * n.layer + 1 : n.kind == NodeKind::Mlp ? 2 * n.layer + 2 : 1 << 30;
}

std::tuple<int, int, int, int> sender_key(const Node& n) {
  switch (n.kind) {
    case NodeKind::Input: return {0, 0, 0, 0};
    case NodeKind::Head: return {1, n.layer, 0, n.head};
    case NodeKind::Mlp: return {1, n.layer, 1, 0};
    case NodeKind::Logits: return {2, 0, 0, 0};
  }
  return {};
}

std::tuple<int, int, int, int> receiver_key(const Node& n, QKV x) {
  switch (n.kind) {
    case NodeKind::Head: return {1, n.layer, static_cast<int>(x), n.head};
    case NodeKind::Mlp: return {1, n.layer, 3, 0};
    case NodeKind::Logits: return {2, 0, 0, 0};
    case NodeKind::Input: return {0, 0, 0, 0};
  }
  return {};
}

std::optional<QKV> letter(char c) {
  if (c == 'q') return QKV::Q;
  if (c == 'k') return QKV::K;
  if (c == 'v') return QKV::V;
  return std::nullopt;
}

}  // namespace

std::string HeadId::str() const { return std::to_string(layer) + "." + std::to_string(head); }

HeadId parse_head(const std::string& s) {
  size_t i = !s.empty() && (s[0] == 'a' || s[0] == 'A') ? 1 : 0;
  const auto h = read_head(s, i, i == 1);
  if (!h || i != s.size())
    throw Error("'" + s + "' is not a head; write heads as layer.head (9.9), a9.h9 or A9.9");
  return *h;
}

const char* to_string(QKV x) { return x == QKV::Q ? "q" : x == QKV::K ? "k" : "v"; }

std::string Node::name() const {
  switch (kind) {
    case NodeKind::Input: return "input";
    case NodeKind::Logits: return "logits";
    case NodeKind::Mlp: return "m" + std::to_string(layer);
    case NodeKind::Head: break;
  }
  // Built by appending: GCC 12 gives a false -Wrestrict for "a" + std::string (bug 105329).
  return std::string("a").append(std::to_string(layer)).append(".h").append(std::to_string(head));
}

std::strong_ordering Node::operator<=>(const Node& o) const { return sender_key(*this) <=> sender_key(o); }

Node parse_node(const std::string& s) {
  const auto n = try_node(s);
  if (!n) throw Error("'" + s + "' is not a node name (" + kNodeForms + ")");
  return *n;
}

std::string Edge::receiver_name() const {
  std::string r = to.name();
  if (to.kind == NodeKind::Head) r.append(1, '<').append(to_string(qkv)).append(1, '>');
  return r;
}

std::string Edge::name() const { return from.name() + "->" + receiver_name(); }

std::strong_ordering Edge::operator<=>(const Edge& o) const {
  return std::tuple(receiver_key(to, qkv), sender_key(from)) <=> std::tuple(receiver_key(o.to, o.qkv), sender_key(o.from));
}

std::string edge_problem(const Edge& e) {
  if (e.from.kind == NodeKind::Logits) return "'logits' cannot send an edge";
  if (e.to.kind == NodeKind::Input) return "'input' cannot receive an edge";
  if (ready(e.from) >= reads(e.to))
    return "edge goes backward ('" + e.from.name() + "' is computed after '" + e.receiver_name() + "' reads)";
  return "";
}

Edge make_edge(const Node& from, const Node& to, QKV qkv) {
  Edge e{from, to, to.kind == NodeKind::Head ? qkv : QKV::Q};
  const std::string problem = edge_problem(e);
  if (!problem.empty()) throw Error("'" + e.name() + "' is not an edge: " + problem);
  return e;
}

Edge parse_edge(const std::string& s) {
  const size_t arrow = s.find("->");
  if (arrow == std::string::npos)
    throw Error("'" + s + "' is not an edge name (sender->receiver, e.g. a0.h1->a2.h3<q>, m0->logits)");
  const Node from = parse_node(s.substr(0, arrow));
  std::string to = s.substr(arrow + 2);
  std::optional<QKV> x;
  if (to.size() > 3 && to.back() == '>' && to[to.size() - 3] == '<') {
    x = letter(to[to.size() - 2]);
    if (!x) throw Error("'" + s + "': a head input is <q>, <k> or <v>");
    to.resize(to.size() - 3);
  }
  const Node recv = parse_node(to);
  if (recv.kind == NodeKind::Head && !x)
    throw Error("'" + s + "': an edge into a head names its input: " + s + "<q>, <k> or <v>");
  if (recv.kind != NodeKind::Head && x)
    throw Error("'" + s + "': only heads have <q>, <k> and <v> inputs");
  return make_edge(from, recv, x.value_or(QKV::Q));
}

std::optional<Edge> parse_edge_pair(const std::string& from, const std::string& to) {
  // A head input in ACDC's spelling, "aL.H.x": the node and the letter.
  auto head_input = [](const std::string& s) -> std::optional<std::pair<Node, QKV>> {
    const size_t dot = s.rfind('.');
    if (dot == std::string::npos || dot + 2 != s.size() || !letter(s.back())) return std::nullopt;
    const auto n = try_node(s.substr(0, dot));
    if (!n || n->kind != NodeKind::Head) return std::nullopt;
    return std::pair{*n, *letter(s.back())};
  };
  if (const auto in = head_input(from)) {
    const auto t = try_node(to);
    if (t && *t == in->first) return std::nullopt;  // internal q/k/v edge of the head
    throw Error("a head input ('" + from + "') only feeds its own head ('" + in->first.name() + "')");
  }
  const auto f = try_node(from);
  if (!f) throw Error("'" + from + "' is not a node name (" + kNodeForms + ")");
  if (const auto in = head_input(to)) return make_edge(*f, in->first, in->second);
  if (to.find("->") == std::string::npos && to.size() > 3 && to.back() == '>')
    return parse_edge(from + "->" + to);
  const auto t = try_node(to);
  if (!t) throw Error("'" + to + "' is not a receiver (aL.hH<q|k|v> or aL.H.q/k/v, mL, logits)");
  if (t->kind == NodeKind::Head)
    throw Error("an edge into a head ('" + to + "') names its input: use '" + to + ".q', '.k' or '.v'");
  return make_edge(*f, *t);
}

Graph::Graph(int n_layers, int n_heads, bool mlps, bool parallel)
    : L_(n_layers), H_(n_heads), M_(mlps ? 1 : 0), parallel_(parallel && mlps) {
  if (n_layers < 1 || n_heads < 1)
    throw Error("circuit graph: the model must have at least 1 layer and 1 head, got " + std::to_string(n_layers) +
                " x " + std::to_string(n_heads));
  into_.resize(n_receivers());
  out_of_.resize(n_senders());
  auto add = [&](int s, int r) {
    const int e = static_cast<int>(send_.size());
    send_.push_back(s);
    recv_.push_back(r);
    into_[r].push_back(e);
    out_of_[s].push_back(e);
  };
  // The residual stream grows by each layer's heads, then its MLP (EAP-IG's Graph.from_model).
  int residual = 1;  // senders 0 .. residual - 1 are in the stream
  for (int l = 0; l < L_; ++l) {
    for (int s = 0; s < residual; ++s) {
      for (int h = 0; h < H_; ++h)
        for (QKV x : {QKV::Q, QKV::K, QKV::V}) add(s, head_receiver(l, h, x));
      if (parallel_) add(s, mlp_receiver(l));
    }
    residual += H_;
    if (M_ && !parallel_)
      for (int s = 0; s < residual; ++s) add(s, mlp_receiver(l));
    residual += M_;
  }
  for (int s = 0; s < residual; ++s) add(s, logits_receiver());
}

Graph::Graph(const ModelConfig& c) : Graph(c.n_layers, c.n_heads, !c.attn_only, c.parallel_residual) {}

Node Graph::sender_node(int s) const {
  if (s < 0 || s >= n_senders()) throw Error("circuit graph: no sender " + std::to_string(s));
  if (s == 0) return Node::input();
  const int l = (s - 1) / (H_ + M_), k = (s - 1) % (H_ + M_);
  return k == H_ ? Node::mlp(l) : Node::attention(l, k);
}

Node Graph::receiver_node(int r, QKV* qkv) const {
  if (r < 0 || r >= n_receivers()) throw Error("circuit graph: no receiver " + std::to_string(r));
  if (qkv) *qkv = QKV::Q;
  if (r == logits_receiver()) return Node::logits();
  const int l = r / (3 * H_ + M_), k = r % (3 * H_ + M_);
  if (k == 3 * H_) return Node::mlp(l);
  if (qkv) *qkv = static_cast<QKV>(k / H_);
  return Node::attention(l, k % H_);
}

std::string Graph::receiver_name(int r) const {
  QKV x;
  const Node n = receiver_node(r, &x);
  return Edge{Node::input(), n, x}.receiver_name();
}

namespace {
bool in_model(const Node& n, int L, int H, bool mlps) {
  switch (n.kind) {
    case NodeKind::Head: return n.layer < L && n.head < H;
    case NodeKind::Mlp: return mlps && n.layer < L;
    default: return true;
  }
}
}  // namespace

int Graph::sender(const Node& n) const {
  if (n.kind == NodeKind::Logits || !in_model(n, L_, H_, M_))
    throw Error("'" + n.name() + "' is not a sender of this model's graph (" + std::to_string(L_) + " layers x " +
                std::to_string(H_) + " heads" + (M_ ? ", MLPs" : ", no MLPs") + ")");
  if (n.kind == NodeKind::Input) return 0;
  return n.kind == NodeKind::Head ? head_sender(n.layer, n.head) : mlp_sender(n.layer);
}

int Graph::receiver(const Node& n, QKV qkv) const {
  if (n.kind == NodeKind::Input || !in_model(n, L_, H_, M_))
    throw Error("'" + n.name() + "' is not a receiver of this model's graph (" + std::to_string(L_) + " layers x " +
                std::to_string(H_) + " heads" + (M_ ? ", MLPs" : ", no MLPs") + ")");
  if (n.kind == NodeKind::Logits) return logits_receiver();
  return n.kind == NodeKind::Head ? head_receiver(n.layer, n.head, qkv) : mlp_receiver(n.layer);
}

int Graph::n_upstream(int r) const {
  if (r == logits_receiver()) return n_senders();
  const int l = r / (3 * H_ + M_);
  if (r % (3 * H_ + M_) < 3 * H_ || parallel_) return 1 + l * (H_ + M_);
  return 1 + l * (H_ + 1) + H_;
}

Edge Graph::edge(int e) const {
  QKV x;
  const Node to = receiver_node(recv_.at(e), &x);
  return Edge{sender_node(send_[e]), to, x};
}

int Graph::find(const Edge& e) const {
  if (e.from.kind == NodeKind::Logits || e.to.kind == NodeKind::Input || !in_model(e.from, L_, H_, M_) ||
      !in_model(e.to, L_, H_, M_))
    return -1;
  return edge_index(sender(e.from), receiver(e.to, e.qkv));
}

}  // namespace cs
