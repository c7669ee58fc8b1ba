// `discover --mib DIR`: a MIB circuit-track submission, checked against the rules MIB's own code
// applies when it loads one (hannamw/MIB-circuit-track): README "Submitting" (one folder per
// task/model named "<task>_<model>", holding a single .json of importance scores),
// run_evaluation.py (it loads <folder>/importances.json; print_results.py splits names at '_'),
// circuit_loading.py / EAP-IG's Graph.from_json (keys cfg, nodes, edges; cfg gives n_layers,
// n_heads, parallel_attn_mlp, d_model; every node name must be a node of Graph.from_model(cfg)
// with "in_graph"; every edge name an edge of it with "score" and "in_graph"). The expected node
// and edge names are built here from Graph.from_model's rule, not from circuitscan's graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "support/cli.h"

using namespace cs::cli_test;

namespace {

const std::string kModel = CS_SOURCE_DIR "/models/toy-gpt2-4l";
const std::string kSmall = " --prompts 16 --method-prompts 8 --no-faithfulness --truth none";

// Graph.from_model's nodes and edges for a sequential (not parallel) model.
void from_model(int L, int H, std::set<std::string>& nodes, std::set<std::string>& edges) {
  std::vector<std::string> resid = {"input"};
  nodes.insert("input");
  for (int l = 0; l < L; ++l) {
    std::vector<std::string> heads;
    for (int h = 0; h < H; ++h) heads.push_back("a" + std::to_string(l) + ".h" + std::to_string(h));
    const std::string mlp = "m" + std::to_string(l);
    for (const auto& s : resid)
      for (const auto& a : heads)
        for (const char* x : {"<q>", "<k>", "<v>"}) edges.insert(s + "->" + a + x);
    resid.insert(resid.end(), heads.begin(), heads.end());
    for (const auto& s : resid) edges.insert(s + "->" + mlp);
    resid.push_back(mlp);
    nodes.insert(heads.begin(), heads.end());
    nodes.insert(mlp);
  }
  for (const auto& s : resid) edges.insert(s + "->logits");
  nodes.insert("logits");
}

}  // namespace

TEST(MibSubmission, FolderAndFileAsMibLoadsThem) {
  TempDir tmp;
  const fs::path sub = tmp.path / "submission";
  for (const char* task : {"ioi", "greater-than"}) {
    const Result r = run("discover '" + kModel + "' --task " + task + kSmall + " --method eap --mib '" + sub.string() +
                             "' --mib-model toy_gpt2",
                         tmp);
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  std::set<std::string> folders;
  for (const auto& e : fs::directory_iterator(sub)) {
    ASSERT_TRUE(e.is_directory()) << e.path();
    folders.insert(e.path().filename().string());
  }
  // One folder per task/model, the model's '_' written '-': exactly one '_' in each name.
  EXPECT_EQ(folders, (std::set<std::string>{"ioi_toy-gpt2", "greater-than_toy-gpt2"}));

  std::set<std::string> want_nodes, want_edges;
  from_model(4, 8, want_nodes, want_edges);  // toy-gpt2-4l: 4 layers x 8 heads, MLPs
  for (const std::string& f : folders) {
    SCOPED_TRACE(f);
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sub / f)) files.push_back(e.path().filename().string());
    ASSERT_EQ(files, std::vector<std::string>{"importances.json"}) << "a single importance file";
    const nlohmann::json j = nlohmann::json::parse(slurp(sub / f / "importances.json"));
    for (const char* k : {"cfg", "nodes", "edges"}) ASSERT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j["cfg"]["n_layers"], 4);
    EXPECT_EQ(j["cfg"]["n_heads"], 8);
    EXPECT_EQ(j["cfg"]["parallel_attn_mlp"], false);
    EXPECT_EQ(j["cfg"]["d_model"], 128);
    std::set<std::string> nodes, edges;
    for (const auto& [name, v] : j["nodes"].items()) {
      nodes.insert(name);
      EXPECT_TRUE(v["in_graph"].is_boolean()) << name;
    }
    EXPECT_EQ(nodes, want_nodes);
    int nonzero = 0;
    for (const auto& [name, v] : j["edges"].items()) {
      edges.insert(name);
      ASSERT_TRUE(v["score"].is_number()) << name;
      EXPECT_TRUE(std::isfinite(v["score"].get<double>())) << name;
      EXPECT_TRUE(v["in_graph"].is_boolean()) << name;
      nonzero += v["score"].get<double>() != 0;
    }
    EXPECT_EQ(edges, want_edges);
    EXPECT_GT(nonzero, static_cast<int>(want_edges.size()) / 2) << "importance scores on the edges";
  }
}

TEST(MibSubmission, BadDirectoryIsRefusedBeforeTheRun) {
  TempDir tmp;
  const std::string file = tmp.file("plain", "x");
  const Result r = run("discover '" + kModel + "' --task ioi" + kSmall + " --method eap --mib '" + file + "'", tmp);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.err.find("--mib"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("rank"), std::string::npos) << "refused before any work";
}

// discover prints MIB's edge-level CPR / CMD under their own label, beside the head-level curve,
// and circuit.json holds the curve: at p = 1 every edge is kept (f = 1), and CPR / CMD are the
// trapezoid areas of the stored points.
TEST(MibSubmission, DiscoverReportsMibFaithfulnessApartFromTheHeadCurve) {
  TempDir tmp;
  const fs::path d = tmp.path / "d";
  const Result r = run("discover '" + kModel + "' --task ioi --prompts 16 --method-prompts 8 --faith-prompts 8 --method eap"
                       " --truth none --out '" + d.string() + "'",
                       tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("over circuit sizes along the ranking"), std::string::npos) << r.out;  // head level
  EXPECT_NE(r.out.find("MIB faithfulness (edge level"), std::string::npos) << r.out;
  const nlohmann::json j = nlohmann::json::parse(slurp(d / "circuit.json"));
  ASSERT_TRUE(j.contains("mib_faithfulness"));
  const auto& m = j["mib_faithfulness"];
  const std::vector<double> x = m["fraction"], f = m["faithfulness"];
  ASSERT_EQ(x.size(), 10u);
  EXPECT_NEAR(f.back(), 1.0, 1e-4);
  EXPECT_EQ(m["edges"].back(), 1519);  // every edge of toy-gpt2-4l's graph
  double cpr = 0, cmd = 0;
  for (size_t i = 0; i + 1 < x.size(); ++i) {
    cpr += (x[i + 1] - x[i]) * (f[i] + f[i + 1]) / 2;
    cmd += (x[i + 1] - x[i]) * (std::fabs(1 - f[i]) + std::fabs(1 - f[i + 1])) / 2;
  }
  EXPECT_NEAR(m["cpr"].get<double>(), cpr, 1e-12);
  EXPECT_NEAR(m["cmd"].get<double>(), cmd, 1e-12);
  EXPECT_NE(m["cpr"].get<double>(), j["faithfulness"]["cpr"].get<double>()) << "two different measures";
}

// --mib-circuits: MIB's other form (README "Submitting to the MIB Leaderboard": "9 .json or .pt
// files with binary membership variables", one circuit with no more than each of 0.1, 0.2, 0.5, 1,
// 2, 5, 10, 20, 50 % of the edges). Checked against those rules and EAP-IG's apply_topn + prune,
// written out here from graph.py's definitions on the importance scores of a separate run:
// the folder holds exactly nine graph JSONs Graph.from_json loads (every edge with "score" and
// "in_graph"); circuit_<p>.json's in-graph edges are the floor(p E) largest |score| (ties: the
// earlier edge) with every node lacking an edge out, or in (the input aside), dropped with its
// edges until nothing changes, so at most floor(p E). A folder holding the other form is refused.
TEST(MibSubmission, CircuitsAtMibsEdgeFractions) {
  TempDir tmp;
  const fs::path a = tmp.path / "a", b = tmp.path / "b";
  const std::string cmd = "discover '" + kModel + "' --task ioi" + kSmall + " --method eap --mib-model gpt2 --mib '";
  ASSERT_EQ(run(cmd + a.string() + "'", tmp).rc, 0);
  const Result r = run(cmd + b.string() + "' --mib-circuits", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("circuit_0.001.json ... circuit_0.5.json"), std::string::npos) << r.out;
  const nlohmann::ordered_json imp = nlohmann::ordered_json::parse(slurp(a / "ioi_gpt2" / "importances.json"));
  std::vector<std::string> names;
  std::vector<double> score;
  for (const auto& [name, v] : imp["edges"].items()) names.push_back(name), score.push_back(std::fabs(v["score"].get<double>()));
  const size_t E = names.size();
  ASSERT_EQ(E, 1519u);
  const std::vector<std::pair<std::string, double>> want = {
      {"0.001", 0.001}, {"0.002", 0.002}, {"0.005", 0.005}, {"0.01", 0.01}, {"0.02", 0.02},
      {"0.05", 0.05},   {"0.1", 0.1},     {"0.2", 0.2},     {"0.5", 0.5}};
  std::set<std::string> files, want_files;
  for (const auto& e : fs::directory_iterator(b / "ioi_gpt2")) files.insert(e.path().filename().string());
  for (const auto& [p, x] : want) want_files.insert("circuit_" + p + ".json");
  ASSERT_EQ(files, want_files);
  auto node_of = [](const std::string& receiver) { return receiver.substr(0, receiver.find('<')); };
  size_t biggest = 0;
  for (const auto& [p, x] : want) {
    SCOPED_TRACE(p);
    const size_t k = static_cast<size_t>(x * static_cast<double>(E));  // MIB's int(p * E)
    std::vector<size_t> order(E);
    for (size_t i = 0; i < E; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return score[i] > score[j]; });
    std::set<std::string> in;
    for (size_t i = 0; i < k; ++i) in.insert(names[order[i]]);
    std::set<std::string> nodes;
    for (bool changed = true; changed;) {  // EAP-IG's prune
      std::set<std::string> out_of, into = {"input"};
      for (const std::string& e : in) {
        out_of.insert(e.substr(0, e.find("->")));
        into.insert(node_of(e.substr(e.find("->") + 2)));
      }
      std::set<std::string> keep;
      for (const std::string& u : out_of)
        if (into.count(u)) keep.insert(u);
      std::set<std::string> edges;
      for (const std::string& e : in) {
        const std::string v = node_of(e.substr(e.find("->") + 2));
        if (keep.count(e.substr(0, e.find("->"))) && (v == "logits" || keep.count(v))) edges.insert(e);
      }
      changed = edges != in || keep != nodes;
      in = edges, nodes = keep;
    }
    const nlohmann::ordered_json j = nlohmann::ordered_json::parse(slurp(b / "ioi_gpt2" / ("circuit_" + p + ".json")));
    for (const char* key : {"cfg", "nodes", "edges"}) ASSERT_TRUE(j.contains(key)) << key;
    std::set<std::string> got, got_nodes;
    size_t n = 0;
    for (const auto& [name, v] : j["edges"].items()) {
      ++n;
      ASSERT_TRUE(v["score"].is_number()) << name;
      ASSERT_TRUE(v["in_graph"].is_boolean()) << name;
      if (v["in_graph"].get<bool>()) got.insert(name);
    }
    for (const auto& [name, v] : j["nodes"].items())
      if (name != "logits" && v["in_graph"].get<bool>()) got_nodes.insert(name);
    EXPECT_EQ(n, E);
    EXPECT_EQ(got, in);
    EXPECT_EQ(got_nodes, nodes);
    EXPECT_LE(got.size(), k);
    biggest = std::max(biggest, got.size());
  }
  EXPECT_GT(biggest, 100u) << "the larger circuits hold edges";

  // The other form's folder is refused before any work, and left as it was.
  const Result c = run(cmd + a.string() + "' --mib-circuits", tmp);
  EXPECT_EQ(c.rc, 1) << c.out;
  EXPECT_EQ(std::count(c.err.begin(), c.err.end(), '\n'), 1) << c.err;
  EXPECT_NE(c.err.find("importances.json, a file of MIB's other submission form"), std::string::npos) << c.err;
  size_t left = 0;
  for (const auto& e : fs::directory_iterator(a / "ioi_gpt2")) left += e.path().filename() == "importances.json" ? 1 : 100;
  EXPECT_EQ(left, 1u);
  const Result u = run("discover '" + kModel + "' --task ioi" + kSmall + " --method eap --mib-circuits", tmp);
  EXPECT_EQ(u.rc, 2) << u.err;
  EXPECT_NE(u.err.find("give --mib DIR"), std::string::npos) << u.err;
}
