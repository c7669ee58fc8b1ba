// Graph JSON (evaluation/graph_json.h): EAP-IG's layout written and read back with the same
// scores and in_graph flags; EAP-IG's prune on a hand example; malformed files give one-line
// errors naming the file.
#include "evaluation/graph_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "ops/error.h"

using namespace cs;
namespace fs = std::filesystem;

namespace {

struct TmpFile {
  fs::path path = fs::temp_directory_path() / ("cs_graph_json_" + std::to_string(::getpid()) + ".json");
  ~TmpFile() { fs::remove(path); }
  std::string write(const std::string& text) const {
    std::ofstream(path) << text;
    return path.string();
  }
};

ScoredGraph random_scored(const Graph& g, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  ScoredGraph s(g, 64);
  for (int u = 0; u < g.n_senders(); ++u) {
    if (u % 5 != 0) s.node_scores[u] = normal(rng);  // some nodes unscored
    s.node_in_graph[u] = rng() % 2;
  }
  for (int e = 0; e < g.n_edges(); ++e) {
    s.edge_scores[e] = normal(rng) * 1e-3;
    s.edge_in_graph[e] = rng() % 3 == 0;
  }
  return s;
}

}  // namespace

TEST(GraphJson, RoundTripKeepsScoresAndInGraph) {
  for (const Graph& g : {Graph(3, 4, true), Graph(2, 3, true, true), Graph(4, 8, false)}) {
    SCOPED_TRACE(std::to_string(g.n_layers()) + "x" + std::to_string(g.n_heads()));
    const ScoredGraph a = random_scored(g, 7);
    TmpFile f;
    const ScoredGraph b = read_graph_json(f.write(graph_json(a)));
    EXPECT_EQ(b.graph.n_layers(), g.n_layers());
    EXPECT_EQ(b.graph.n_heads(), g.n_heads());
    EXPECT_EQ(b.graph.has_mlps(), g.has_mlps());
    EXPECT_EQ(b.graph.parallel(), g.parallel());
    EXPECT_EQ(b.d_model, 64);
    EXPECT_EQ(b.edge_scores, a.edge_scores);  // doubles written at full precision
    EXPECT_EQ(b.edge_in_graph, a.edge_in_graph);
    EXPECT_EQ(b.node_in_graph, a.node_in_graph);
    for (int u = 0; u < g.n_senders(); ++u) {
      EXPECT_EQ(std::isnan(b.node_scores[u]), std::isnan(a.node_scores[u])) << g.sender_name(u);
      if (!std::isnan(a.node_scores[u])) {
        EXPECT_EQ(b.node_scores[u], a.node_scores[u]);
      }
    }
  }
}

// The layout itself, key by key, as EAP-IG's Graph.to_json writes it.
TEST(GraphJson, WritesEapIgsLayout) {
  const Graph g(1, 2, true);
  ScoredGraph s(g, 16);
  s.node_scores[g.head_sender(0, 1)] = 0.5;
  s.edge_scores[g.find(parse_edge("a0.h1->logits"))] = 0.25;
  s.edge_in_graph[g.find(parse_edge("a0.h1->logits"))] = 1;
  s.node_in_graph[g.head_sender(0, 1)] = 1;
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(graph_json(s));
  EXPECT_EQ(j["cfg"], nlohmann::ordered_json::parse(R"({"n_layers": 1, "n_heads": 2, "parallel_attn_mlp": false, "d_model": 16})"));
  std::vector<std::string> nodes;
  for (const auto& [k, v] : j["nodes"].items()) nodes.push_back(k);
  EXPECT_EQ(nodes, (std::vector<std::string>{"input", "a0.h0", "a0.h1", "m0", "logits"}));
  EXPECT_EQ(j["nodes"]["a0.h1"], nlohmann::ordered_json::parse(R"({"in_graph": true, "score": 0.5})"));
  EXPECT_FALSE(j["nodes"]["a0.h0"].contains("score")) << "an unscored node has no score";
  EXPECT_EQ(j["nodes"]["logits"], nlohmann::ordered_json::parse(R"({"in_graph": true})"));
  EXPECT_EQ(j["edges"].size(), static_cast<size_t>(g.n_edges()));
  EXPECT_EQ(j["edges"].begin().key(), "input->a0.h0<q>");
  EXPECT_EQ(j["edges"]["a0.h1->logits"], nlohmann::ordered_json::parse(R"({"score": 0.25, "in_graph": true})"));
}

// EAP-IG's prune: a node needs an edge out and (the input aside) an edge in; edges need both ends.
TEST(GraphJson, PruneAsEapIg) {
  const Graph g(2, 2, true);
  ScoredGraph s(g);
  auto on = [&](const char* e) { s.edge_in_graph[g.find(parse_edge(e))] = 1; };
  on("input->a0.h0<v>");
  on("a0.h0->a1.h1<k>");
  on("a1.h1->logits");  // input -> a0.h0 -> a1.h1 -> logits: a path
  on("a0.h1->m1");      // a0.h1 has no input: pruned, then m1 has no input either
  on("m1->logits");
  on("input->m0");      // m0 has an input but feeds nothing
  prune(s);
  auto kept = [&](const char* e) { return s.edge_in_graph[g.find(parse_edge(e))] != 0; };
  EXPECT_TRUE(kept("input->a0.h0<v>"));
  EXPECT_TRUE(kept("a0.h0->a1.h1<k>"));
  EXPECT_TRUE(kept("a1.h1->logits"));
  EXPECT_FALSE(kept("a0.h1->m1"));
  EXPECT_FALSE(kept("m1->logits"));
  EXPECT_FALSE(kept("input->m0"));
  std::vector<std::string> nodes;
  for (int u = 0; u < g.n_senders(); ++u)
    if (s.node_in_graph[u]) nodes.push_back(g.sender_name(u));
  EXPECT_EQ(nodes, (std::vector<std::string>{"input", "a0.h0", "a1.h1"}));
}

TEST(GraphJson, MalformedFilesGiveOneLineErrors) {
  const std::string cfg = R"("cfg": {"n_layers": 2, "n_heads": 2, "parallel_attn_mlp": false, "d_model": 8})";
  struct Case {
    std::string text, phrase;
  };
  const Case cases[] = {
      {"{\"cfg\": ", "not valid JSON"},
      {"[1, 2]", "\"cfg\", \"nodes\" and \"edges\""},
      {"{" + cfg + ", \"nodes\": {}}", "\"edges\""},
      {R"({"cfg": {"n_heads": 2}, "nodes": {}, "edges": {}})", "n_layers"},
      {R"({"cfg": {"n_layers": 0, "n_heads": 2}, "nodes": {}, "edges": {}})", "n_layers"},
      {R"({"cfg": {"n_layers": 2, "n_heads": 2, "parallel_attn_mlp": 1}, "nodes": {}, "edges": {}})", "parallel_attn_mlp"},
      {"{" + cfg + R"(, "nodes": {"a0.h7": {"in_graph": true}}, "edges": {}})", "a0.h7"},
      {"{" + cfg + R"(, "nodes": {"b0": {"in_graph": true}}, "edges": {}})", "b0"},
      {"{" + cfg + R"(, "nodes": {"a0.h1": {"score": 1}}, "edges": {}})", "in_graph"},
      {"{" + cfg + R"(, "nodes": {"a0.h1": {"in_graph": true, "score": "x"}}, "edges": {}})", "score"},
      {"{" + cfg + R"(, "nodes": {}, "edges": {"a1.h0->a0.h0<q>": {"score": 1, "in_graph": true}}})", "backward"},
      {"{" + cfg + R"(, "nodes": {}, "edges": {"a0.h0->a3.h0<q>": {"score": 1, "in_graph": true}}})", "not an edge of"},
      {"{" + cfg + R"(, "nodes": {}, "edges": {"a0.h0->a1.h0": {"score": 1, "in_graph": true}}})", "<q>"},
      {"{" + cfg + R"(, "nodes": {}, "edges": {"input->m0": {"in_graph": true}}})", "score"},
      {"{" + cfg + R"(, "nodes": {}, "edges": {"input->m0": {"score": 1}}})", "in_graph"},
  };
  TmpFile f;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string path = f.write(c.text);
    try {
      read_graph_json(path);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
      EXPECT_NE(msg.find(c.phrase), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(read_graph_json((f.path.string() + ".absent")), Error);
}
