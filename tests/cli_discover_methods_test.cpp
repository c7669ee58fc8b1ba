// `discover --method M`: every method runs on its own on the shipped model, with no ground truth,
// and writes circuit.json, circuit.dot, report.html and graph.json; with a truth it prints its
// evaluation; bad method flags are usage errors that write nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "compare/methods.h"
#include "evaluation/graph_json.h"
#include "model/init.h"
#include "ops/error.h"
#include "support/cli.h"

using namespace cs;
using namespace cs::cli_test;

namespace {

const std::string kModel = CS_SOURCE_DIR "/models/toy-gpt2-4l";
// Small settings: the point is that each method runs end to end, not its numbers.
const std::string kSmall = " --task ioi --prompts 16 --method-prompts 8 --faith-prompts 8 --epochs 30 --sp-steps 3"
                           " --steps 2 --tau 0.05";

}  // namespace

TEST(CliDiscoverMethods, TheTableHasTheEightMethods) {
  std::vector<std::string> names;
  for (const MethodInfo& i : method_table()) names.push_back(i.name);
  EXPECT_EQ(names, (std::vector<std::string>{"sae", "sae-paper", "patching", "acdc", "eap", "eap-ig", "hisp", "sp"}));
  EXPECT_EQ(method_names(), "sae, sae-paper, patching, acdc, eap, eap-ig, hisp, sp");
  for (const std::string& n : names) EXPECT_EQ(method_info(parse_method(n)).name, n);
  EXPECT_THROW(parse_method("activation-patching"), UsageError);
}

TEST(CliDiscoverMethods, EveryMethodWritesTheFourFilesWithoutATruth) {
  TempDir tmp;
  const Graph graph(4, 8, true);  // toy-gpt2-4l
  for (const MethodInfo& info : method_table()) {
    SCOPED_TRACE(info.name);
    const fs::path out = tmp.path / info.name;
    const Result r = run("discover '" + kModel + "'" + kSmall + " --truth none --method " + info.name + " --out '" +
                             out.string() + "'",
                         tmp);
    ASSERT_EQ(r.rc, 0) << r.err << r.out;
    EXPECT_EQ(r.out.find("against"), std::string::npos) << "no truth, no evaluation:\n" << r.out;
    EXPECT_NE(r.out.find("circuit ("), std::string::npos) << r.out;
    for (const char* f : {"circuit.json", "circuit.dot", "report.html", "graph.json"})
      EXPECT_TRUE(fs::is_regular_file(out / f)) << f;
    const nlohmann::json c = nlohmann::json::parse(slurp(out / "circuit.json"));
    EXPECT_EQ(c["method"], info.name);
    EXPECT_EQ(c["heads"].size(), 32u);
    EXPECT_FALSE(c["circuit"].empty());
    const ScoredGraph g = read_graph_json((out / "graph.json").string());
    EXPECT_EQ(g.graph.n_edges(), graph.n_edges());
    EXPECT_EQ(g.d_model, 128);
    EXPECT_GT(std::count(g.edge_in_graph.begin(), g.edge_in_graph.end(), 1), 0);
    EXPECT_TRUE(g.node_in_graph[0]) << "the input feeds every circuit";
    for (int h = 0; h < 8; ++h) EXPECT_FALSE(std::isnan(g.node_scores[graph.head_sender(1, h)])) << "head scores";
    // The edge methods score every edge (EAP-IG's graphs are edge-scored); node methods none.
    const bool any_edge_score = std::any_of(g.edge_scores.begin(), g.edge_scores.end(), [](double v) { return v != 0; });
    EXPECT_EQ(any_edge_score, info.edges);
  }
}

TEST(CliDiscoverMethods, WithATruthEachPrintsItsEvaluation) {
  TempDir tmp;
  for (const char* m : {"eap", "patching"}) {
    SCOPED_TRACE(m);
    const Result r = run("discover '" + kModel + "'" + kSmall + " --method " + m, tmp);  // the model's own circuit
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("against toy-gpt2-4l-ioi"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ROC AUC"), std::string::npos) << r.out;
    // Only edge methods have an edge AUC (the reference circuit's edges are head -> logits).
    EXPECT_EQ(r.out.find("edge ROC AUC") != std::string::npos, std::string(m) == "eap") << r.out;
  }
}

// Gemma 2's edges are a convention (attribution/edge_patching.h): the edge methods run on it
// and say so in one note: line; node methods and models without post-norms print none.
TEST(CliDiscoverMethods, EdgeMethodsOnAPostNormModelSayWhichConventionTheyFollow) {
  TempDir tmp;
  ModelConfig c = preset_config("gemma-2-2b");  // its rules at a toy size, GPT-2's vocabulary
  c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.d_model = 32, c.d_head = 8, c.d_mlp = 64;
  c.vocab_size = 50304, c.n_ctx = 64, c.attn_scale = 1.0f / std::sqrt(8.0f);
  c.layer_window = {8, 0};
  const std::string dir = (tmp.path / "gemma2").string();
  write_random_checkpoint(c, dir, DType::BF16, 1);
  for (const char* m : {"eap", "acdc", "patching"}) {
    SCOPED_TRACE(m);
    const Result r = run("discover '" + dir + "'" + kSmall + " --method " + m, tmp);
    ASSERT_EQ(r.rc, 0) << r.err;
    const bool edges = method_info(parse_method(m)).edges;
    EXPECT_EQ(r.out.find("note: Gemma 2 normalises its heads' sum") != std::string::npos, edges) << r.out;
    EXPECT_EQ(r.out.find("hook_result") != std::string::npos, edges) << r.out;
  }
  const Result r = run("discover '" + kModel + "'" + kSmall + " --method eap", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.find("post-norms"), std::string::npos) << r.out;
}

TEST(CliDiscoverMethods, BadMethodFlagsAreUsageErrorsThatWriteNothing) {
  TempDir tmp;
  const fs::path out = tmp.path / "out";
  struct Case {
    std::string args, phrase;
    int rc;
  };
  const Case cases[] = {
      {"--method bogus", "sae, sae-paper, patching, acdc, eap, eap-ig, hisp, sp", 2},
      {"--method eap --score causal", "--score", 2},
      {"--method sae-paper --score confirmed", "--score", 2},
      {"--method hisp --level edge", "--level", 2},
      {"--method sae --score best", "one of confirmed, paper, null, causal", 2},
      // The baselines' default ablation resamples the corrupt prompts, which this task lacks.
      {"--method eap --task '" + tmp.file("t.jsonl", "{\"prompt\": \"When Mary and John went, John gave it to\", "
                                                       "\"answer\": \" Mary\", \"wrong\": \" John\"}\n") + "'",
       "corrupt", 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const Result r = run("discover '" + kModel + "' " + c.args + " --out '" + out.string() + "'", tmp);
    EXPECT_EQ(r.rc, c.rc) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(c.phrase), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
}
