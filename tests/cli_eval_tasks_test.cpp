// The `eval` and `tasks` commands, run as a user runs them: the built circuitscan binary
// (CS_BINARY), its stdout, stderr and exit code.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "evaluation/ground_truth.h"
#include "evaluation/roc.h"
#include "interp/task.h"
#include "interp/task_metric.h"
#include "support/cli.h"

namespace fs = std::filesystem;

namespace {

using namespace cs::cli_test;

const cs::Tokenizer& gpt2() {
  static const cs::Tokenizer t = cs::Tokenizer::for_model_dir(CS_SOURCE_DIR "/data/gpt2-tokenizer");
  return t;
}

// Deterministic scores for a 12 x 12 model, with ties (rounded to 0.05) to exercise them.
std::vector<double> some_scores(uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<double> s(144);
  for (double& v : s) v = std::round(static_cast<double>(g() % 1000) / 1000.0 * 20) / 20;
  return s;
}

std::string scores_json(const std::vector<double>& s) {
  nlohmann::json j;
  for (int h = 0; h < 144; ++h) j["scores"][std::to_string(h / 12) + "." + std::to_string(h % 12)] = s[h];
  return j.dump();
}

// Text between quote characters, built by appending (GCC 12 warns, falsely, on "x" + string).
std::string in_quotes(const std::string& s, const std::string& q = "\"") {
  std::string r = q;
  r += s;
  r += q;
  return r;
}

double printed_auc(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(AUC\s+([0-9.]+))"))) return -1;
  return std::stod(m[1]);
}

}  // namespace

TEST(CliTasks, ShowPrintsThePrompts) {
  TempDir tmp;
  const Result r = run("tasks show ioi --n 2 --no-prepend-bos", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  cs::TaskOptions o;
  o.n = 2;
  const cs::TokenizedTask t = cs::make_task("ioi", gpt2(), o);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NE(r.out.find(std::string("#").append(std::to_string(i)).append("\n")), std::string::npos);
    EXPECT_NE(r.out.find(in_quotes(t.prompts[i].clean)), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(in_quotes(t.prompts[i].negative)), std::string::npos);
    EXPECT_NE(r.out.find(in_quotes(t.prompts[i].corrupt)), std::string::npos);
    EXPECT_NE(r.out.find(std::string("(").append(std::to_string(t.clean[i].size())).append(" tokens)")), std::string::npos);
    EXPECT_NE(r.out.find(in_quotes(t.prompts[i].answer, "'") + " (id " + std::to_string(t.answer[i]) + ")"), std::string::npos);
  }
  EXPECT_EQ(r.out.find("#2\n"), std::string::npos);
  EXPECT_NE(r.out.find("IO="), std::string::npos);
  EXPECT_NE(r.out.find("S2="), std::string::npos);
  EXPECT_NE(r.out.find("metric: " + cs::metric_label(t)), std::string::npos) << r.out;

  // BOS shows up as token 0 and shifts the positions. It is the default for a tokenizer with no
  // model that says otherwise, as in TransformerLens.
  const Result b = run("tasks show ioi --n 1", tmp);
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_NE(b.out.find("BOS prepended (TransformerLens's default)"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("0:'<|endoftext|>'"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("end=" + std::to_string(t.clean[0].size())), std::string::npos) << b.out;
}

TEST(CliTasks, ListAndErrors) {
  TempDir tmp;
  const Result r = run("tasks list", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const std::string& n : cs::builtin_task_names()) EXPECT_NE(r.out.find(n + " "), std::string::npos) << n;
  EXPECT_EQ(run("tasks show", tmp).rc, 2);
  EXPECT_EQ(run("tasks frobnicate", tmp).rc, 2);
  const Result bad = run("tasks show no-such-task", tmp);
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("error:"), std::string::npos);
}

TEST(CliEval, SimpleScoresAgainstShippedTruth) {
  TempDir tmp;
  const std::vector<double> s = some_scores(1);
  const std::string path = tmp.file("scores.json", scores_json(s));
  const cs::GroundTruth g = cs::ground_truth_by_name("gpt2-small-ioi");
  const std::vector<bool> y = cs::head_labels(g, 12, 12);
  const double auc = cs::roc_auc(s, y);

  const std::string out = (tmp.path / "eval.json").string();
  const Result r = run("eval --scores '" + path + "' --truth gpt2-small-ioi --top-k 10 --threshold 0.5 --out '" + out + "'", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NEAR(printed_auc(r.out), auc, 6e-5) << r.out;
  EXPECT_NE(r.out.find("12 layers x 12 heads"), std::string::npos) << r.out;

  const nlohmann::json j = nlohmann::json::parse(slurp(out));
  EXPECT_NEAR(j["auc"].get<double>(), auc, 1e-12);
  EXPECT_EQ(j["n_truth"], 26);
  EXPECT_EQ(j["n_missing"], 0);
  const cs::Confusion k26 = cs::confusion_top_k(s, y, 26), k10 = cs::confusion_top_k(s, y, 10);
  const cs::Confusion t05 = cs::confusion_at_threshold(s, y, 0.5);
  EXPECT_EQ(j["at_truth_size"]["tp"], k26.tp);
  EXPECT_NEAR(j["at_truth_size"]["f1"].get<double>(), k26.f1, 1e-12);
  EXPECT_EQ(j["at_top_k"]["tp"], k10.tp);
  EXPECT_EQ(j["at_top_k"]["k"], 10);
  EXPECT_EQ(j["at_threshold"]["fp"], t05.fp);
  EXPECT_NEAR(j["at_threshold"]["recall"].get<double>(), t05.recall, 1e-12);
  for (const auto& e : fs::directory_iterator(tmp.path))  // atomic write: no temp file left
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos);
}

TEST(CliEval, CircuitJsonAndTruthPath) {
  TempDir tmp;
  const std::vector<double> s = some_scores(2);
  nlohmann::json j;
  j["model"] = {{"n_layers", 12}, {"n_heads", 12}};
  for (int h = 0; h < 144; ++h)
    j["heads"].push_back({{"name", std::to_string(h / 12) + "." + std::to_string(h % 12)}, {"layer", h / 12},
                          {"head", h % 12}, {"score", s[h]}, {"softmax", 1.0 - s[h]}});
  const std::string path = tmp.file("circuit.json", j.dump(2));
  const std::string truth = CS_SOURCE_DIR "/data/truth/gpt2-small-ioi.json";
  const std::vector<bool> y = cs::head_labels(cs::load_ground_truth(truth), 12, 12);

  const Result r = run("eval --scores '" + path + "' --truth '" + truth + "'", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NEAR(printed_auc(r.out), cs::roc_auc(s, y), 6e-5) << r.out;
  EXPECT_NE(r.out.find("circuit.json"), std::string::npos);

  // --field picks another per-head number: 1 - s reverses the ranking.
  const Result f = run("eval --scores '" + path + "' --truth gpt2-small-ioi --field softmax", tmp);
  ASSERT_EQ(f.rc, 0) << f.err;
  EXPECT_NEAR(printed_auc(f.out), 1 - cs::roc_auc(s, y), 6e-5) << f.out;
}

TEST(CliEval, PartialScoresInferShapeAndRankMissingLast) {
  TempDir tmp;
  // Only two heads scored; the shape comes from these and the truth's largest indices (11.10).
  const std::string path = tmp.file("few.json", R"({"scores": {"9.9": 2.0, "0.0": 1.0}})");
  const Result r = run("eval --scores '" + path + "' --truth gpt2-small-ioi", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<double> s(144, 0.0);  // missing heads: below every listed score
  s[9 * 12 + 9] = 2.0, s[0] = 1.0;
  const std::vector<bool> y = cs::head_labels(cs::ground_truth_by_name("gpt2-small-ioi"), 12, 12);
  EXPECT_NEAR(printed_auc(r.out), cs::roc_auc(s, y), 6e-5) << r.out;
  EXPECT_NE(r.out.find("142 heads without a score"), std::string::npos) << r.out;
  // An explicit shape that cannot hold a scored head is an error naming the file.
  const Result small = run("eval --scores '" + path + "' --truth gpt2-small-ioi --layers 4 --heads 4", tmp);
  EXPECT_EQ(small.rc, 1);
  EXPECT_NE(small.err.find(path), std::string::npos) << small.err;
}

TEST(CliEval, BadFilesGiveOneLineErrors) {
  TempDir tmp;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"syntax.json", "{\"scores\": {\"9.9\": 0.5,,}"},
      {"shape.json", "[1, 2, 3]"},
      {"key.json", "{\"scores\": {\"nine.nine\": 0.5}}"},
      {"value.json", "{\"scores\": {\"9.9\": \"high\"}}"},
      {"empty.json", "{\"scores\": {}}"},
      {"heads.json", "{\"heads\": [{\"layer\": 1}]}"},
  };
  for (const auto& [name, text] : bad) {
    const std::string path = tmp.file(name, text);
    const Result r = run("eval --scores '" + path + "' --truth gpt2-small-ioi", tmp);
    EXPECT_EQ(r.rc, 1) << name;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << name << ": " << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << name << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << name;
  }
  const Result missing = run("eval --scores '" + (tmp.path / "nope.json").string() + "' --truth gpt2-small-ioi", tmp);
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("nope.json"), std::string::npos);
  const std::string ok = tmp.file("ok.json", scores_json(some_scores(3)));
  const Result truth = run("eval --scores '" + ok + "' --truth no-such-truth", tmp);
  EXPECT_EQ(truth.rc, 1);
  EXPECT_NE(truth.err.find("no-such-truth"), std::string::npos);
  EXPECT_EQ(run("eval --truth gpt2-small-ioi", tmp).rc, 2);  // usage: no --scores
}
