// The circuit graph (interp/graph.h): its edges and indices against a naive enumeration of every
// (sender, receiver) pair of the model, EAP-IG's / MIB's counts, names and their round trips.
#include "interp/graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "model/config.h"
#include "ops/error.h"

using namespace cs;

namespace {

// Every node of an L x H model, in forward order, written out by hand.
std::vector<Node> senders(int L, int H, bool mlps) {
  std::vector<Node> v = {Node::input()};
  for (int l = 0; l < L; ++l) {
    for (int h = 0; h < H; ++h) v.push_back(Node::attention(l, h));
    if (mlps) v.push_back(Node::mlp(l));
  }
  return v;
}

struct Recv {
  Node node;
  QKV qkv;
};
std::vector<Recv> receivers(int L, int H, bool mlps) {
  std::vector<Recv> v;
  for (int l = 0; l < L; ++l) {
    for (QKV x : {QKV::Q, QKV::K, QKV::V})
      for (int h = 0; h < H; ++h) v.push_back({Node::attention(l, h), x});
    if (mlps) v.push_back({Node::mlp(l), QKV::Q});
  }
  v.push_back({Node::logits(), QKV::Q});
  return v;
}

// Does sender u's output reach receiver r's input? From the architecture, not from the graph:
// a head reads the residual before its layer, a sequential MLP after its layer's attention, a
// parallel MLP before it, the logits after everything.
bool reaches(const Node& u, const Recv& r, bool parallel) {
  if (r.node.kind == NodeKind::Logits || u.kind == NodeKind::Input) return true;
  if (r.node.kind == NodeKind::Head) return u.layer < r.node.layer;
  if (u.kind == NodeKind::Mlp) return u.layer < r.node.layer;
  return parallel ? u.layer < r.node.layer : u.layer <= r.node.layer;
}

}  // namespace

TEST(Graph, IndicesAndEdgesMatchNaiveEnumeration) {
  struct Case {
    int L, H;
    bool mlps, parallel;
  };
  for (const Case& c : {Case{3, 4, true, false}, Case{3, 4, true, true}, Case{4, 8, false, false}, Case{1, 1, true, false},
                        Case{2, 3, false, true}}) {
    SCOPED_TRACE(std::to_string(c.L) + "x" + std::to_string(c.H) + (c.mlps ? " mlps" : "") + (c.parallel ? " parallel" : ""));
    const Graph g(c.L, c.H, c.mlps, c.parallel);
    const std::vector<Node> S = senders(c.L, c.H, c.mlps);
    const std::vector<Recv> R = receivers(c.L, c.H, c.mlps);
    ASSERT_EQ(g.n_senders(), static_cast<int>(S.size()));
    ASSERT_EQ(g.n_receivers(), static_cast<int>(R.size()));
    // Index s is the s-th node in forward order, r the r-th receiver in EAP-IG's backward order.
    for (int s = 0; s < g.n_senders(); ++s) {
      EXPECT_EQ(g.sender_node(s), S[s]);
      EXPECT_EQ(g.sender(S[s]), s);
    }
    for (int r = 0; r < g.n_receivers(); ++r) {
      QKV x;
      EXPECT_EQ(g.receiver_node(r, &x), R[r].node);
      EXPECT_EQ(x, R[r].qkv);
      EXPECT_EQ(g.receiver(R[r].node, R[r].qkv), r);
    }
    // Edges: exactly the pairs that reach, once each.
    std::set<std::pair<int, int>> naive, graph;
    for (int r = 0; r < g.n_receivers(); ++r) {
      int upstream = 0;
      for (int s = 0; s < g.n_senders(); ++s) {
        const bool real = reaches(S[s], R[r], c.parallel && c.mlps);
        if (real) naive.insert({s, r}), upstream = s + 1;
        EXPECT_EQ(g.edge_index(s, r) >= 0, real) << S[s].name() << " -> " << g.receiver_name(r);
      }
      EXPECT_EQ(g.n_upstream(r), upstream) << g.receiver_name(r);
    }
    for (int e = 0; e < g.n_edges(); ++e) {
      graph.insert({g.edge_sender(e), g.edge_receiver(e)});
      EXPECT_EQ(g.edge_index(g.edge_sender(e), g.edge_receiver(e)), e);
      EXPECT_EQ(g.find(g.edge(e)), e);
      EXPECT_EQ(parse_edge(g.edge_name(e)), g.edge(e)) << g.edge_name(e);
      EXPECT_EQ(edge_problem(g.edge(e)), "");
    }
    EXPECT_EQ(graph, naive);
    EXPECT_EQ(static_cast<size_t>(g.n_edges()), naive.size());
    size_t into = 0, out = 0;
    for (int r = 0; r < g.n_receivers(); ++r) into += g.edges_into(r).size();
    for (int s = 0; s < g.n_senders(); ++s) out += g.edges_out_of(s).size();
    EXPECT_EQ(into, naive.size());
    EXPECT_EQ(out, naive.size());
  }
}

// MIB's and EAP-IG's counts: GPT-2 small has 32,491 edges (12 layers x 12 heads with MLPs).
TEST(Graph, EdgeCountsAsEapIgCountsThem) {
  EXPECT_EQ(Graph(12, 12, true).n_edges(), 32491);
  EXPECT_EQ(Graph(12, 12, true).n_senders(), 157);   // EAP-IG's n_forward
  EXPECT_EQ(Graph(12, 12, true).n_receivers(), 445); // n_backward
  // Parallel residual (Pythia-160m's shape): no head feeds its own layer's MLP.
  EXPECT_EQ(Graph(12, 12, true, true).n_edges(), 32491 - 12 * 12);
  // attn-only-4l (4 x 8, no MLPs): heads 24 (1 + 8 l) per layer, 33 into the logits.
  EXPECT_EQ(Graph(4, 8, false).n_edges(), 24 * (4 + 8 * 6) + 33);
  ModelConfig c;
  c.n_layers = 2, c.n_heads = 4, c.attn_only = true, c.parallel_residual = true;
  EXPECT_EQ(Graph(c).n_edges(), Graph(2, 4, false).n_edges());  // no MLP, nothing parallel
  EXPECT_THROW(Graph(0, 4), Error);
}

TEST(Graph, EapIgIndicesAndOrder) {
  const Graph g(12, 12, true);
  // EAP-IG: forward_index(a{l}.h{h}) = 1 + l (H + 1) + h; backward_index(a{l}.h{h}<x>) =
  // l (3H + 1) + x H + h; m{l}: 1 + l (H + 1) + H and l (3H + 1) + 3H; logits -1.
  EXPECT_EQ(g.sender(parse_node("a2.h3")), 1 + 2 * 13 + 3);
  EXPECT_EQ(g.sender(parse_node("m2")), 1 + 2 * 13 + 12);
  EXPECT_EQ(g.receiver(parse_node("a2.h3"), QKV::K), 2 * 37 + 12 + 3);
  EXPECT_EQ(g.receiver(parse_node("m2")), 2 * 37 + 36);
  EXPECT_EQ(g.receiver(Node::logits()), 444);
  // The order of Graph.from_model: input into a0.h0 q, k, v, then a0.h1, ...; then m0's inputs.
  EXPECT_EQ(g.edge_name(0), "input->a0.h0<q>");
  EXPECT_EQ(g.edge_name(1), "input->a0.h0<k>");
  EXPECT_EQ(g.edge_name(2), "input->a0.h0<v>");
  EXPECT_EQ(g.edge_name(3), "input->a0.h1<q>");
  EXPECT_EQ(g.edge_name(36), "input->m0");
  EXPECT_EQ(g.edge_name(37), "a0.h0->m0");
  EXPECT_EQ(g.edge_name(49), "input->a1.h0<q>");
  EXPECT_EQ(g.edge_name(g.n_edges() - 1), "m11->logits");
  // Parallel models interleave each sender's head edges and its MLP edge.
  const Graph p(2, 2, true, true);
  EXPECT_EQ(p.edge_name(6), "input->m0");
  EXPECT_EQ(p.edge_name(7), "input->a1.h0<q>");
}

TEST(Graph, NamesAndSpellings) {
  for (const char* s : {"9.9", "a9.h9", "A9.9", "a9.9", "A9.h9"}) EXPECT_EQ(parse_head(s), (HeadId{9, 9})) << s;
  EXPECT_EQ(parse_head("11.10"), (HeadId{11, 10}));
  for (const char* bad : {"", "9", "9.", ".9", "-1.2", "9.9.q", "09.9", "9.x", "9.h9", "b9.9", "a9.h9<q>", "a9.hh9"})
    EXPECT_THROW(parse_head(bad), Error) << bad;
  EXPECT_EQ(HeadId({9, 9}).str(), "9.9");
  EXPECT_EQ(Node::attention(9, 9).name(), "a9.h9");
  EXPECT_EQ(parse_node("output"), Node::logits());
  EXPECT_EQ(parse_node("a0.1"), Node::attention(0, 1));
  EXPECT_EQ(parse_node("A0.1"), Node::attention(0, 1));
  for (const char* bad : {"", "m", "m01", "a0", "a0.h1<q>", "a0.1.q", "logit", "x3"}) EXPECT_THROW(parse_node(bad), Error) << bad;

  EXPECT_EQ(parse_edge("a0.h1->a2.h3<q>"), make_edge(Node::attention(0, 1), Node::attention(2, 3), QKV::Q));
  EXPECT_EQ(parse_edge("m0->logits").name(), "m0->logits");
  EXPECT_EQ(parse_edge("input->a0.h0<v>").name(), "input->a0.h0<v>");
  EXPECT_EQ(parse_edge("a0.h1->m0").name(), "a0.h1->m0");  // a head feeds its own layer's MLP
  auto error_of = [](const std::string& s) {
    try {
      parse_edge(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("a2.h0->a1.h0<q>").find("backward"), std::string::npos);
  EXPECT_NE(error_of("m1->m1").find("backward"), std::string::npos);
  EXPECT_NE(error_of("m1->a1.h0<q>").find("backward"), std::string::npos);
  EXPECT_NE(error_of("input->a1.h0").find("<q>"), std::string::npos);
  EXPECT_NE(error_of("input->m1<q>").find("only heads"), std::string::npos);
  EXPECT_NE(error_of("logits->m1").find("logits"), std::string::npos);
  EXPECT_NE(error_of("m0->input").find("input"), std::string::npos);
  EXPECT_NE(error_of("a0.h0-a1.h0<q>").find("edge name"), std::string::npos);
  EXPECT_NE(error_of("a0.h0->a1.h0<x>").find("<q>"), std::string::npos);

  // ACDC's older pairs: same edges; a head's internal edge has no place in the graph.
  EXPECT_EQ(parse_edge_pair("a0.1", "a2.3.q"), parse_edge("a0.h1->a2.h3<q>"));
  EXPECT_EQ(parse_edge_pair("a0.1", "output"), parse_edge("a0.h1->logits"));
  EXPECT_EQ(parse_edge_pair("input", "m3"), parse_edge("input->m3"));
  EXPECT_EQ(parse_edge_pair("a0.h1", "a2.h3<k>"), parse_edge("a0.h1->a2.h3<k>"));
  EXPECT_FALSE(parse_edge_pair("a2.3.q", "a2.3").has_value());
  EXPECT_THROW(parse_edge_pair("a1.0.q", "a1.1"), Error);
  EXPECT_THROW(parse_edge_pair("input", "a1.0"), Error);
  EXPECT_THROW(parse_edge_pair("output", "m1"), Error);

  // Edges sort by receiver (EAP-IG's backward order), then sender.
  std::vector<Edge> v = {parse_edge("m0->logits"), parse_edge("a0.h1->a1.h0<k>"), parse_edge("input->a1.h3<q>"),
                         parse_edge("input->a1.h0<k>"), parse_edge("a0.h0->m0")};
  std::sort(v.begin(), v.end());
  std::vector<std::string> names;
  for (const Edge& e : v) names.push_back(e.name());
  EXPECT_EQ(names, (std::vector<std::string>{"a0.h0->m0", "input->a1.h3<q>", "input->a1.h0<k>", "a0.h1->a1.h0<k>",
                                             "m0->logits"}));
  // Not in this model's graph: find says -1, the index functions say why.
  const Graph g(2, 2, true, true);
  EXPECT_EQ(g.find(parse_edge("a0.h0->m0")), -1);  // parallel residual
  EXPECT_EQ(g.find(parse_edge("a5.h0->logits")), -1);
  EXPECT_THROW(g.sender(Node::attention(0, 2)), Error);
  EXPECT_THROW(Graph(2, 2, false).receiver(Node::mlp(0)), Error);
}
