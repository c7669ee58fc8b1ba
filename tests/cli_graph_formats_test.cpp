// The field's formats in: `eval --scores` and `compare --import NAME=FILE` read a graph JSON as
// EAP-IG's Graph.to_json writes it (and MIB's circuit track reads it). The fixture
// tests/data/graph_formats/eap_ig_2x2.json is written by hand in that layout (cfg, nodes in
// EAP-IG's order with Python's NaN for unscored nodes, all 46 edges of a 2 x 2 graph in EAP-IG's
// order); every expected number below is worked out by hand from it and truth_2x2.json.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>

#include "evaluation/graph_json.h"
#include "evaluation/json_file.h"
#include "ops/error.h"
#include "support/cli.h"

using namespace cs;
using namespace cs::cli_test;

namespace {

const std::string kData = CS_SOURCE_DIR "/tests/data/graph_formats/";
const std::string kModel = CS_SOURCE_DIR "/models/toy-gpt2-4l";

nlohmann::json json_file(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }

// The naive pairwise ROC AUC (ties count half) of a graph.json's |edge scores| against a truth
// file's edge names.
double naive_graph_edge_auc(const fs::path& graph_file, const fs::path& truth_file) {
  const nlohmann::json truth = json_file(truth_file);
  std::set<std::string> pos;
  for (const auto& e : truth["edges"]) pos.insert(e.get<std::string>());
  EXPECT_FALSE(pos.empty());
  std::vector<double> p, n;
  const nlohmann::json graph = json_file(graph_file);  // kept alive across the loop
  for (const auto& [name, v] : graph["edges"].items())
    (pos.count(name) ? p : n).push_back(std::fabs(v["score"].get<double>()));
  EXPECT_EQ(p.size(), pos.size());
  double wins = 0;
  for (double a : p)
    for (double b : n) wins += a > b ? 1.0 : a == b ? 0.5 : 0.0;
  return wins / static_cast<double>(p.size() * n.size());
}

}  // namespace

TEST(GraphFormats, PythonConstantsReadAsNullOutsideStringsOnly) {
  EXPECT_EQ(python_constants_to_null(R"({"a": NaN, "b": [Infinity, -Infinity], "NaN": "NaN -Infinity"})"),
            R"({"a": null, "b": [null, null], "NaN": "NaN -Infinity"})");
  EXPECT_EQ(python_constants_to_null(R"({"s": "a \"NaN\" b", "x": 1.5e-3})"), R"({"s": "a \"NaN\" b", "x": 1.5e-3})");
}

TEST(GraphFormats, HandWrittenEapIgFileIsReadAsWritten) {
  const ScoredGraph s = read_graph_json(kData + "eap_ig_2x2.json");
  const Graph& g = s.graph;
  EXPECT_EQ(g.n_layers(), 2);
  EXPECT_EQ(g.n_heads(), 2);
  EXPECT_TRUE(g.has_mlps());
  EXPECT_EQ(g.n_edges(), 46);
  EXPECT_EQ(s.d_model, 8);
  EXPECT_TRUE(std::isnan(s.node_scores[0])) << "Python's NaN: the input is not scored";
  EXPECT_DOUBLE_EQ(s.node_scores[g.head_sender(0, 1)], -0.9);
  EXPECT_DOUBLE_EQ(s.edge_scores[g.find(parse_edge("a1.h1->logits"))], -0.45);
  EXPECT_TRUE(s.edge_in_graph[g.find(parse_edge("a1.h1->logits"))]);
  EXPECT_FALSE(s.edge_in_graph[g.find(parse_edge("a1.h0->logits"))]);
  bool from_nodes = false;
  EXPECT_EQ(graph_head_scores(s, &from_nodes), (std::vector<double>{0.1, 0.9, 0.7, 0.8}));
  EXPECT_TRUE(from_nodes);
}

// eval on the hand-written file: head AUC from |node score| (positives 0.9, 0.7 against 0.1,
// 0.8: 3 of 4 pairs), the file's circuit (a0.h1, a1.h1: one of the two truth heads), edge AUC
// over the 8 head edges (|score|: positives 0.4, 0.5 against five 0.01 and one 0.45: 11/12) and
// over all 46 edges (positives 0.05, 0.4, 0.5 against 41 x 0.01, 0.3 and 0.45: 126/129).
TEST(GraphFormats, EvalScoresAnEapIgGraph) {
  TempDir tmp;
  const Result r = run("eval --scores '" + kData + "eap_ig_2x2.json' --truth '" + kData + "truth_2x2.json' --out '" +
                           (tmp.path / "e.json").string() + "'",
                       tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = json_file(tmp.path / "e.json");
  EXPECT_EQ(j["n_layers"], 2);
  EXPECT_EQ(j["n_heads"], 2);
  EXPECT_DOUBLE_EQ(j["auc"].get<double>(), 0.75);
  EXPECT_EQ(j["in_graph"]["tp"], 1);
  EXPECT_EQ(j["in_graph"]["fp"], 1);
  EXPECT_EQ(j["in_graph"]["fn"], 1);
  EXPECT_NEAR(j["head_edge_auc"].get<double>(), 11.0 / 12, 1e-12);
  EXPECT_NEAR(j["graph_edge_auc"].get<double>(), 126.0 / 129, 1e-12);
  EXPECT_NE(r.out.find("head score = |node score|"), std::string::npos) << r.out;
}

// discover's graph.json read back by eval and compare --import: the file's head scores are the
// run's, so eval's AUC is discover's and the imported row's node AUC is the eap row's.
TEST(GraphFormats, DiscoverGraphJsonReadBackByEvalAndCompare) {
  TempDir tmp;
  const std::string small = " --task ioi --prompts 16 --method-prompts 8 --faith-prompts 8";
  const fs::path d = tmp.path / "d";
  const Result r = run("discover '" + kModel + "'" + small + " --method eap --no-faithfulness --out '" + d.string() + "'", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json c = json_file(d / "circuit.json");
  ASSERT_FALSE(c["truth"].is_null()) << "the model's own reference circuit";
  const Result e = run("eval --scores '" + (d / "graph.json").string() + "' --truth '" + kModel + "/circuits/ioi.json' --out '" +
                           (tmp.path / "e.json").string() + "'",
                       tmp);
  ASSERT_EQ(e.rc, 0) << e.err;
  EXPECT_NEAR(json_file(tmp.path / "e.json")["auc"].get<double>(), c["evaluation"]["mean_scores"]["auc"].get<double>(), 1e-12);

  const Result k = run("compare '" + kModel + "'" + small + " --methods eap --no-faithfulness --import 'mine=" +
                           (d / "graph.json").string() + "' --out '" + (tmp.path / "c").string() + "'",
                       tmp);
  ASSERT_EQ(k.rc, 0) << k.err;
  const nlohmann::json j = json_file(tmp.path / "c" / "compare.json");
  ASSERT_EQ(j["methods"].size(), 2u);
  EXPECT_EQ(j["methods"][1]["method"], "mine");
  EXPECT_NEAR(j["methods"][1]["node_auc_of_mean_scores"].get<double>(), j["methods"][0]["node_auc_of_mean_scores"].get<double>(),
              1e-12);
}

TEST(GraphFormats, MalformedGraphIsAOneLineError) {
  TempDir tmp;
  const std::string bad = tmp.file("bad.json", R"({"cfg": {"n_layers": 2, "n_heads": 2, "parallel_attn_mlp": false, "d_model": 8},
    "nodes": {}, "edges": {"a0.h0->a3.h0<q>": {"score": 1, "in_graph": true}}})");
  for (const std::string& cmd : {"eval --scores '" + bad + "' --truth '" + kData + "truth_2x2.json'",
                                 "compare '" + kModel + "' --methods hisp --import 'x=" + bad + "'"}) {
    SCOPED_TRACE(cmd);
    const Result r = run(cmd, tmp);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not an edge of"), std::string::npos) << r.err;
  }
  const Result u = run("compare '" + kModel + "' --methods hisp --import nofile", tmp);
  EXPECT_EQ(u.rc, 2) << u.err;
  EXPECT_NE(u.err.find("NAME=FILE"), std::string::npos) << u.err;
}

// discover's edge ROC AUC over every edge of the graph equals a naive pairwise AUC (ties count
// half) computed here from graph.json's |scores| and the truth file's edge names.
TEST(GraphFormats, GraphEdgeAucOfDiscoverIsTheNaivePairwiseAuc) {
  TempDir tmp;
  const fs::path d = tmp.path / "d";
  const Result r = run("discover '" + kModel + "' --task docstring --prompts 16 --method-prompts 8 --method eap"
                       " --no-faithfulness --out '" + d.string() + "'",
                       tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json c = json_file(d / "circuit.json");
  ASSERT_TRUE(c["evaluation"].contains("graph_edge_auc")) << r.out;
  EXPECT_NEAR(c["evaluation"]["graph_edge_auc"]["auc"].get<double>(),
              naive_graph_edge_auc(d / "graph.json", kModel + "/circuits/docstring.json"), 1e-9);
  EXPECT_NE(r.out.find("edges of the graph: input, MLP and logits edges included"), std::string::npos) << r.out;
}

// compare's graph edge AUC column: eap's number in compare.json is the naive pairwise AUC of
// discover's graph.json for the same prompts against the truth's edge names, and the text table,
// compare.md and compare.html print it; a node-level method (hisp) and a truth without edges
// (greater-than's) say why they have none.
TEST(GraphFormats, CompareGraphEdgeAucIsTheNaivePairwiseAuc) {
  TempDir tmp;
  const std::string small = " --task docstring --prompts 16 --method-prompts 8 --no-faithfulness";
  const Result r = run("discover '" + kModel + "'" + small + " --method eap --out '" + (tmp.path / "d").string() + "'", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const fs::path c = tmp.path / "c";
  const Result k = run("compare '" + kModel + "'" + small + " --methods eap,hisp --out '" + c.string() + "'", tmp);
  ASSERT_EQ(k.rc, 0) << k.err;
  const double want = naive_graph_edge_auc(tmp.path / "d" / "graph.json", kModel + "/circuits/docstring.json");
  const nlohmann::json j = json_file(c / "compare.json");
  ASSERT_EQ(j["methods"].size(), 2u);
  ASSERT_EQ(j["methods"][0]["graph_edge_auc"].size(), 1u) << j["methods"][0].dump();
  EXPECT_NEAR(j["methods"][0]["graph_edge_auc"][0].get<double>(), want, 1e-9);
  EXPECT_TRUE(j["methods"][1]["graph_edge_auc"].empty());
  EXPECT_EQ(j["methods"][1]["graph_edge_auc_missing"], "no edge scores (nodes only)");
  char cell[32];
  std::snprintf(cell, sizeof cell, "%.3f", want);
  for (const std::string& text : {k.out, slurp(c / "compare.md"), slurp(c / "compare.html")}) {
    EXPECT_NE(text.find("graph edge AUC"), std::string::npos) << text;
    EXPECT_NE(text.find(cell), std::string::npos) << cell << "\n" << text;
    EXPECT_NE(text.find("over all 1519 edges of the model"), std::string::npos) << text;
  }
  std::string eap_line;
  std::istringstream lines(k.out);
  for (std::string l; std::getline(lines, l);)
    if (l.rfind("eap ", 0) == 0) eap_line = l;
  EXPECT_NE(eap_line.find(cell), std::string::npos) << k.out;

  const Result g = run("compare '" + kModel + "' --task greater-than --prompts 16 --method-prompts 8 --no-faithfulness"
                       " --methods eap", tmp);
  ASSERT_EQ(g.rc, 0) << g.err;
  EXPECT_NE(g.out.find("n/a: truth lists no edges"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("\"n/a: truth lists no edges\": toy-gpt2-4l-greater-than lists heads only."), std::string::npos) << g.out;
}
