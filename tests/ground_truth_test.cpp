// Ground-truth files: every shipped file loads and matches the published facts
// (docs/tasks.md), the edge lists equal their generators, and malformed files fail with a
// cs::Error that names the file.
#include "evaluation/ground_truth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

#include "evaluation/roc.h"
#include "ops/error.h"

namespace {

namespace fs = std::filesystem;

std::string truth_path(const std::string& name) {
  return std::string(CS_SOURCE_DIR) + "/data/truth/" + name + ".json";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> head_strs(const cs::GroundTruth& g) {
  std::set<std::string> s;
  for (const cs::HeadId& h : g.heads) s.insert(h.str());
  return s;
}

// Heads (as "L.H") and MLP layers that the edges mention.
void edge_nodes(const cs::GroundTruth& g, std::set<std::string>& heads, std::set<int>& mlps) {
  for (const cs::Edge& e : g.edges)
    for (const cs::Node& n : {e.from, e.to}) {
      if (n.kind == cs::NodeKind::Mlp) mlps.insert(n.layer);
      if (n.kind == cs::NodeKind::Head) heads.insert(cs::HeadId{n.layer, n.head}.str());
    }
}

TEST(GroundTruth, ListsShippedFiles) {
  const std::vector<std::string> names = cs::list_ground_truths();
  for (const char* n : {"attn-only-4l-docstring", "attn-only-4l-docstring-sae",
                        "gpt2-small-greater-than", "gpt2-small-ioi", "gpt2-small-ioi-sae"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(GroundTruth, EveryShippedFileLoadsAndRoundTrips) {
  for (const std::string& name : cs::list_ground_truths()) {
    SCOPED_TRACE(name);
    const cs::GroundTruth g = cs::ground_truth_by_name(name);
    EXPECT_EQ(g.name, name);
    EXPECT_FALSE(g.model.empty());
    EXPECT_FALSE(g.task.empty());
    EXPECT_FALSE(g.source.empty());
    EXPECT_FALSE(g.heads.empty());
    // The writer reproduces the file byte for byte, so files stay in one format.
    EXPECT_EQ(cs::ground_truth_to_json(g), read_file(truth_path(name)));
    // Every head an edge touches is a listed head.
    std::set<std::string> heads;
    std::set<int> mlps;
    edge_nodes(g, heads, mlps);
    const std::set<std::string> listed = head_strs(g);
    for (const std::string& h : heads) EXPECT_TRUE(listed.count(h)) << h;
  }
}

TEST(GroundTruth, IoiHeadsAndClasses) {
  const cs::GroundTruth g = cs::ground_truth_by_name("gpt2-small-ioi");
  EXPECT_EQ(g.model, "gpt2-small");
  EXPECT_EQ(g.task, "ioi");
  ASSERT_EQ(g.heads.size(), 26u);
  const std::map<std::string, std::vector<std::string>> classes = {
      {"name mover", {"9.9", "10.0", "9.6"}},
      {"backup name mover", {"10.10", "10.6", "10.2", "10.1", "11.2", "9.7", "9.0", "11.9"}},
      {"negative name mover", {"10.7", "11.10"}},
      {"S-inhibition", {"7.3", "7.9", "8.6", "8.10"}},
      {"induction", {"5.5", "5.8", "5.9", "6.9"}},
      {"duplicate token", {"0.1", "0.10", "3.0"}},
      {"previous token", {"2.2", "4.11"}}};
  size_t n = 0;
  for (const auto& [cls, heads] : classes)
    for (const std::string& h : heads) {
      n++;
      ASSERT_TRUE(g.head_class.count(cs::parse_head(h))) << h;
      EXPECT_EQ(g.head_class.at(cs::parse_head(h)), cls) << h;
    }
  EXPECT_EQ(n, 26u);
  EXPECT_EQ(g.head_class.size(), 26u);
  EXPECT_EQ(g.heads[0], (cs::HeadId{9, 9}));
  EXPECT_EQ(g.heads[0].str(), "9.9");

  // Edge level: the class rules give ACDC's 1,041 edges less its 78 internal q/k/v edges, which
  // EAP-IG's graph does not have, and the file is the generator's output.
  EXPECT_EQ(g.edges.size(), 1041u - 78u);
  EXPECT_EQ(cs::ioi_edges_from_classes(g.heads, g.head_class, g.mlps), g.edges);
  const auto has = [&](const std::string& name) {
    return std::find(g.edges.begin(), g.edges.end(), cs::parse_edge(name)) != g.edges.end();
  };
  EXPECT_TRUE(has("a2.h2->a5.h5<k>"));    // previous token -> induction (k)
  EXPECT_FALSE(has("a2.h2->a5.h5<q>"));   // ... but not q
  EXPECT_TRUE(has("a7.h3->a9.h9<q>"));    // S-inhibition -> name mover (q)
  EXPECT_FALSE(has("a7.h3->a9.h9<v>"));
  EXPECT_TRUE(has("a9.h9->logits"));
  EXPECT_FALSE(has("a5.h5->logits"));
  EXPECT_TRUE(has("m3->a9.h9<v>"));       // MLP edges among kept nodes
  EXPECT_TRUE(has("a9.h9->m9"));          // a head feeds its own layer's MLP
  EXPECT_TRUE(has("input->logits"));
  EXPECT_THROW(has("m9->a9.h9<q>"), cs::Error);    // an MLP never feeds its own layer's heads
  EXPECT_THROW(has("a0.h1->a0.h10<k>"), cs::Error); // same layer: not forward
}

TEST(GroundTruth, IoiSaeVariant) {
  const cs::GroundTruth a = cs::ground_truth_by_name("gpt2-small-ioi");
  const cs::GroundTruth b = cs::ground_truth_by_name("gpt2-small-ioi-sae");
  ASSERT_EQ(b.heads.size(), 26u);
  std::set<std::string> ha = head_strs(a), hb = head_strs(b);
  EXPECT_TRUE(hb.count("11.3"));
  EXPECT_FALSE(hb.count("9.0"));
  ha.erase("9.0");
  hb.erase("11.3");
  EXPECT_EQ(ha, hb);
  EXPECT_TRUE(b.edges.empty());
}

TEST(GroundTruth, GreaterThan) {
  const cs::GroundTruth g = cs::ground_truth_by_name("gpt2-small-greater-than");
  const std::set<std::string> want = {"0.1", "0.3", "0.5", "5.5", "6.1",
                                      "6.9", "7.10", "8.11", "9.1"};
  EXPECT_EQ(head_strs(g), want);
  EXPECT_EQ(g.mlps, (std::vector<int>{0, 1, 2, 3, 8, 9, 10, 11}));
  EXPECT_EQ(g.edges.size(), 262u - 27u);  // ACDC's count less its internal q/k/v edges
  EXPECT_EQ(cs::greater_than_edges_acdc(), g.edges);
}

TEST(GroundTruth, Docstring) {
  const cs::GroundTruth g = cs::ground_truth_by_name("attn-only-4l-docstring");
  EXPECT_EQ(head_strs(g), (std::set<std::string>{"0.5", "1.2", "1.4", "2.0", "3.0", "3.6"}));
  EXPECT_TRUE(g.mlps.empty());
  EXPECT_EQ(g.edges.size(), 37u - 13u);  // ACDC's count less its internal q/k/v edges
  const cs::GroundTruth s = cs::ground_truth_by_name("attn-only-4l-docstring-sae");
  EXPECT_EQ(head_strs(s), (std::set<std::string>{"0.5", "1.0", "1.4", "2.0", "3.0", "3.6"}));
}

TEST(GroundTruth, EdgeLabelsOnTheModelsGraph) {
  const cs::Graph gpt2(12, 12, true), attn4(4, 8, false);
  // Every ground-truth edge is an edge of its model's graph; labels count them; the shipped
  // edge lists are sorted (receiver in EAP-IG's backward order, then sender).
  for (const char* name : {"gpt2-small-ioi", "gpt2-small-greater-than"}) {
    const cs::GroundTruth g = cs::ground_truth_by_name(name);
    const std::vector<bool> y = cs::edge_labels(g, gpt2);
    EXPECT_EQ(size_t(std::count(y.begin(), y.end(), true)), g.edges.size()) << name;
    EXPECT_TRUE(std::is_sorted(g.edges.begin(), g.edges.end())) << name;
  }
  const cs::GroundTruth d = cs::ground_truth_by_name("attn-only-4l-docstring");
  const std::vector<bool> y = cs::edge_labels(d, attn4);
  EXPECT_EQ(std::count(y.begin(), y.end(), true), 24);
  EXPECT_TRUE(std::is_sorted(d.edges.begin(), d.edges.end()));
  // Scoring the labels themselves is a perfect edge ranking.
  std::vector<double> s(y.begin(), y.end());
  EXPECT_DOUBLE_EQ(cs::roc_auc(s, y), 1.0);
  // A GPT-2 ground truth against the small model's graph is the wrong model.
  EXPECT_THROW(cs::edge_labels(cs::ground_truth_by_name("gpt2-small-ioi"), attn4), cs::Error);
  EXPECT_THROW(cs::edge_labels(cs::ground_truth_by_name("gpt2-small-ioi-sae"), gpt2), cs::Error);
  // NeoX-style parallel residual: a head does not feed its own layer's MLP.
  cs::GroundTruth p = d;
  p.edges = {cs::parse_edge("a0.h1->m0")};
  EXPECT_NO_THROW(cs::edge_labels(p, cs::Graph(2, 2, true, false)));
  EXPECT_THROW(cs::edge_labels(p, cs::Graph(2, 2, true, true)), cs::Error);
}

TEST(GroundTruth, HeadLabels) {
  const cs::GroundTruth g = cs::ground_truth_by_name("attn-only-4l-docstring");
  const std::vector<bool> y = cs::head_labels(g, 4, 8);
  ASSERT_EQ(y.size(), 32u);
  EXPECT_EQ(std::count(y.begin(), y.end(), true), 6);
  EXPECT_TRUE(y[0 * 8 + 5]);
  EXPECT_TRUE(y[1 * 8 + 2]);
  EXPECT_TRUE(y[3 * 8 + 6]);
  EXPECT_FALSE(y[1 * 8 + 0]);
  const cs::GroundTruth ioi = cs::ground_truth_by_name("gpt2-small-ioi");
  const std::vector<bool> z = cs::head_labels(ioi, 12, 12);
  EXPECT_EQ(std::count(z.begin(), z.end(), true), 26);
  EXPECT_TRUE(z[11 * 12 + 10]);
  EXPECT_THROW(cs::head_labels(ioi, 4, 8), cs::Error);
}

TEST(GroundTruth, UnknownNameListsAvailable) {
  try {
    cs::ground_truth_by_name("gpt2-small-nonexistent");
    FAIL() << "no throw";
  } catch (const cs::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("gpt2-small-nonexistent"), std::string::npos) << msg;
    EXPECT_NE(msg.find("gpt2-small-ioi"), std::string::npos) << msg;
  }
}

// ---- malformed files ------------------------------------------------------------------

class Malformed : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cs_ground_truth_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `text` to a file and expects load_ground_truth to throw a cs::Error whose message
  // names the file and contains `what`.
  void expect_error(const std::string& text, const std::string& what) {
    const std::string path = (dir_ / "bad.json").string();
    std::ofstream(path) << text;
    try {
      cs::load_ground_truth(path);
      ADD_FAILURE() << "no throw for: " << text;
    } catch (const cs::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << "want '" << what << "' in: " << msg;
    }
  }

  fs::path dir_;
};

const std::string kHeader = R"("name": "x", "model": "m", "task": "t", "source": "s")";

TEST_F(Malformed, Rejected) {
  expect_error("{ \"name\": ", "not valid JSON");
  expect_error("[1, 2]", "JSON object");
  expect_error("{" + kHeader + "}", "\"heads\"");
  expect_error(R"({"name": "x", "model": "m", "task": "t", "heads": []})", "\"source\"");
  expect_error("{" + kHeader + R"(, "heads": [{"layer": -1, "head": 2}]})", "-1");
  expect_error("{" + kHeader + R"(, "heads": [{"layer": 1, "head": -3}]})", "heads[0]");
  expect_error("{" + kHeader + R"(, "heads": [{"layer": 1.5, "head": 3}]})", "integer");
  expect_error("{" + kHeader + R"(, "heads": [{"layer": "1", "head": 3}]})", "integer");
  expect_error("{" + kHeader + R"(, "heads": [[1, 3]]})", "heads[0]");
  expect_error("{" + kHeader + R"(, "heads": [{"layer": 1, "head": 3, "role": "x"}]})", "role");
  expect_error("{" + kHeader + R"(, "heads": [{"layer": 1, "head": 3}, {"layer": 1, "head": 3}]})",
               "twice");
  expect_error("{" + kHeader + R"(, "heads": [], "circuit": 1})", "unknown key \"circuit\"");
  expect_error("{" + kHeader + R"(, "heads": [], "mlps": [-2]})", "mlps[0]");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["input"]]})", "edges[0]");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["input", "b1.2"]]})", "b1.2");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["a2.0", "a1.0.q"]]})", "backward");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["m1", "a1.0.q"]]})", "backward");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["input", "a1.0"]]})", ".q");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["a1.0.q", "a1.1"]]})", "own head");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["output", "m1"]]})", "cannot send");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["m1", "m1"]]})", "backward");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [["m1", "m2"], ["m1", "m2"]]})",
               "twice");
  // EAP-IG's edge names.
  expect_error("{" + kHeader + R"(, "heads": [], "edges": ["a1.h0->a0.h2<q>"]})", "backward");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": ["a1.h0->a2.h2"]})", "<q>");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": ["a1.h0"]})", "edge name");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": [3]})", "edges[0]");
  expect_error("{" + kHeader + R"(, "heads": [], "edges": ["m1->m2", ["m1", "m2"]]})", "twice");
}

TEST_F(Malformed, MissingFileNamesIt) {
  const std::string path = (dir_ / "absent.json").string();
  try {
    cs::load_ground_truth(path);
    FAIL() << "no throw";
  } catch (const cs::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST_F(Malformed, MinimalFileLoads) {
  const std::string path = (dir_ / "ok.json").string();
  std::ofstream(path) << "{" + kHeader +
                             R"(, "notes": ["a", "b"], "heads": [{"layer": 0, "head": 1,
                             "class": "c"}], "edges": [["a0.1", "m0"]]})";
  const cs::GroundTruth g = cs::load_ground_truth(path);
  EXPECT_EQ(g.notes, "a\nb");
  ASSERT_EQ(g.heads.size(), 1u);
  EXPECT_EQ(g.head_class.at(cs::HeadId{0, 1}), "c");
  EXPECT_TRUE(g.mlps.empty());
  ASSERT_EQ(g.edges.size(), 1u);
  EXPECT_EQ(g.edges[0], cs::parse_edge("a0.h1->m0"));
}

// Files with ACDC-style pairs (as written before the graph took EAP-IG's names) read as the same
// edges; a head's internal edge is skipped; the writer writes the new names only.
TEST_F(Malformed, OlderPairSpellingReadsAsTheSameEdges) {
  const std::string old_path = (dir_ / "old.json").string(), new_path = (dir_ / "new.json").string();
  std::ofstream(old_path) << "{" + kHeader + R"(, "heads": [], "edges": [["input", "a1.0.q"], ["a1.0.q", "a1.0"],
                                ["a0.3", "a1.0.q"], ["a1.0", "output"], ["m0", "m1"]]})";
  std::ofstream(new_path) << "{" + kHeader + R"(, "heads": [], "edges": ["input->a1.h0<q>", "a0.h3->a1.h0<q>",
                                "a1.h0->logits", "m0->m1"]})";
  const cs::GroundTruth a = cs::load_ground_truth(old_path), b = cs::load_ground_truth(new_path);
  EXPECT_EQ(a.edges, b.edges);
  EXPECT_EQ(a.edges.size(), 4u);
  const std::string written = cs::ground_truth_to_json(a);
  EXPECT_NE(written.find("\"a0.h3->a1.h0<q>\""), std::string::npos) << written;
  EXPECT_EQ(written.find("output"), std::string::npos) << written;
}

}  // namespace
