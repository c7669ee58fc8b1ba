// What a researcher reads from `discover`, `compare`, `run`, `hooks` and `tasks`, run as a user
// runs them (the built binary, CS_BINARY, on the shipped model): every printed number under the
// header that names it, in every mode; no default that uses the ground truth; BOS as the model
// was trained; the induction metric said for what it is.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "cli/progress.h"
#include "support/cli_run.h"

namespace fs = std::filesystem;

namespace {

const std::string kModel = CS_SOURCE_DIR "/models/toy-gpt2-4l";
const std::string kTiny = CS_TEST_DATA "/gpt2-tiny";
// Small settings: the readout is under test, not the method.
const std::string kFast = " --prompts 60 --epochs 100 --faith-prompts 30";

using cs_test::slurp;
using cs_test::TempDir;
using Result = cs_test::CliResult;
Result run(const std::string& args, const TempDir& tmp) { return cs_test::run_cli(args, tmp); }

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// Characters (UTF-8 code points) of s.
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Cells of a table line split on runs of 2+ spaces.
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> c;
  std::string cur;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == ' ' && i + 1 < line.size() && line[i + 1] == ' ') {
      if (!cur.empty()) c.push_back(cur), cur.clear();
      while (i + 1 < line.size() && line[i + 1] == ' ') ++i;
      continue;
    }
    cur += line[i];
  }
  if (!cur.empty()) c.push_back(cur);
  return c;
}

// The discover table: the header line (starting "rank") and the rows under it.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int col(const std::string& name) const {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return static_cast<int>(i);
    return -1;
  }
};
Table discover_table(const std::string& out) {
  Table t;
  bool in = false;
  for (const std::string& l : lines_of(out)) {
    if (!in && l.rfind("rank  ", 0) == 0) {
      t.header = cells(l);
      in = true;
      continue;
    }
    if (in) {
      if (l.empty() || l[0] == '(') break;
      t.rows.push_back(cells(l));
    }
  }
  return t;
}

nlohmann::json json_file(const fs::path& p) { return nlohmann::json::parse(slurp(p)); }

}  // namespace

// Default mode (--score confirmed): the ranking has its own column, the paper's |P\N| prints as
// a count, and the softmax column is the softmax of |P\N|, the quantity --threshold compares.
// Before: the "|P\N|" column printed the confirmed rank mean with %.0f (1 or 0), and "softmax"
// was the softmax of the rank mean.
TEST(DiscoverReadout, ColumnsNameTheirScoresAndThresholdUsesThePrintedSoftmax) {
  TempDir tmp;
  const Result r = run("discover '" + kModel + "' --task ioi --no-faithfulness" + kFast + " --out '" +
                           (tmp.path / "d").string() + "'",
                       tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const Table t = discover_table(r.out);
  const int rank_col = t.col("confirmed (rank mean)"), paper_col = t.col("|P\\N|"), sm_col = t.col("softmax(|P\\N|)");
  ASSERT_GE(rank_col, 0) << r.out;
  ASSERT_GE(paper_col, 0) << r.out;
  ASSERT_GE(sm_col, 0) << r.out;
  const nlohmann::json j = json_file(tmp.path / "d" / "circuit.json");
  std::map<std::string, nlohmann::json> head;
  for (const auto& h : j["heads"]) head[h["name"]] = h;
  double z = 0, mx = -1e300;
  for (const auto& h : j["heads"]) mx = std::max(mx, h["paper_score"].get<double>());
  for (const auto& h : j["heads"]) z += std::exp(h["paper_score"].get<double>() - mx);
  ASSERT_GE(t.rows.size(), 20u);
  for (const auto& row : t.rows) {
    const auto& h = head.at(row[1]);
    const double rank = std::stod(row[rank_col]), paper = std::stod(row[paper_col]), sm = std::stod(row[sm_col]);
    EXPECT_NEAR(rank, h["score"].get<double>(), 6e-4) << row[1];
    EXPECT_GE(rank, 0.0);
    EXPECT_LE(rank, 1.0);
    EXPECT_EQ(paper, std::round(paper)) << "a count: " << row[paper_col];
    EXPECT_EQ(paper, h["paper_score"].get<double>()) << row[1];
    EXPECT_NEAR(sm, std::exp(paper - mx) / z, 5e-3 * sm + 1e-12) << row[1];  // printed with 3 digits
  }
  // --threshold keeps exactly the heads whose printed softmax is at least X.
  const double x = 0.01;
  const Result th = run("discover '" + kModel + "' --task ioi --no-faithfulness" + kFast + " --threshold 0.01 --out '" +
                            (tmp.path / "t").string() + "'",
                        tmp);
  ASSERT_EQ(th.rc, 0) << th.err;
  const nlohmann::json jt = json_file(tmp.path / "t" / "circuit.json");
  int at_least = 0;
  for (const auto& h : jt["heads"]) at_least += h["softmax"].get<double>() >= x;
  EXPECT_EQ(static_cast<int>(jt["circuit"].size()), at_least);
  EXPECT_GT(at_least, 0);
}

// Several trials: each column keeps its meaning ("mean ± std" of the ranking, |P\N| with one
// decimal as a mean of counts), and the columns line up by characters.
TEST(DiscoverReadout, TrialsKeepColumnMeaningsAndAlignment) {
  TempDir tmp;
  const Result r = run("discover '" + kModel + "' --task ioi --no-faithfulness --trials 2" + kFast, tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const Table t = discover_table(r.out);
  ASSERT_GE(t.col("confirmed (rank mean) (mean ± std)"), 0) << r.out;
  const int paper_col = t.col("|P\\N|");
  ASSERT_GE(paper_col, 0) << r.out;
  for (const auto& row : t.rows) EXPECT_TRUE(std::regex_match(row[paper_col], std::regex(R"(\d+\.\d ± \d+\.\d)"))) << row[paper_col];
  // The last column (in circuit) starts at the same character in the header and every row.
  std::set<size_t> starts;
  bool in = false;
  for (const std::string& l : lines_of(r.out)) {
    if (l.rfind("rank  ", 0) == 0) in = true;
    if (!in) continue;
    if (l.empty() || l[0] == '(') break;
    starts.insert(width(l) - width(cells(l).back()));
  }
  EXPECT_EQ(starts.size(), 1u) << r.out;
}

// The ground truth never sizes the circuit: the same run with --truth none keeps the same heads.
// Before: with a truth the circuit took the truth's size (6), without one 14 heads.
TEST(DiscoverReadout, TruthDoesNotSizeTheCircuit) {
  TempDir tmp;
  const std::string base = "discover '" + kModel + "' --task ioi --no-faithfulness" + kFast;
  const Result with = run(base + " --out '" + (tmp.path / "a").string() + "'", tmp);
  const Result without = run(base + " --truth none --out '" + (tmp.path / "b").string() + "'", tmp);
  ASSERT_EQ(with.rc, 0) << with.err;
  ASSERT_EQ(without.rc, 0) << without.err;
  const nlohmann::json a = json_file(tmp.path / "a" / "circuit.json"), b = json_file(tmp.path / "b" / "circuit.json");
  EXPECT_EQ(a["circuit"], b["circuit"]);
  EXPECT_NE(a["circuit"].size(), 6u) << "the truth's size";
  EXPECT_NE(with.out.find("at the truth's size (top 6 of the ranking)"), std::string::npos) << with.out;
}

// Edge level: heads at edge count 0 stay out of the circuit even when more are asked for; the
// settings record the edge count as the ranking and no --score (edge level does not use it);
// head pairs in circuit.json run from an earlier layer to a later one.
TEST(DiscoverReadout, EdgeLevelCircuitSettingsAndPairs) {
  TempDir tmp;
  const Result r = run("discover '" + kModel + "' --task ioi --level edge --top-k 20 --no-faithfulness" + kFast +
                           " --out '" + (tmp.path / "e").string() + "'",
                       tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = json_file(tmp.path / "e" / "circuit.json");
  std::map<std::string, double> score;
  for (const auto& h : j["heads"]) score[h["name"]] = h["score"];
  ASSERT_FALSE(j["circuit"].empty());
  for (const auto& h : j["circuit"]) EXPECT_GT(score[h.get<std::string>()], 0) << h;
  for (const auto& [k, v] : j["settings"].items()) {
    EXPECT_EQ(k.find("score"), std::string::npos) << k;
    EXPECT_EQ(v.get<std::string>().find("confirmed"), std::string::npos) << k << ": " << v;
  }
  EXPECT_EQ(j["ranking"], "edge count");
  ASSERT_FALSE(j["edges"].empty());
  for (const auto& e : j["edges"]) {
    const int lf = std::stoi(e["from"].get<std::string>().substr(1)), lt = std::stoi(e["to"].get<std::string>().substr(1));
    EXPECT_LT(lf, lt) << e;
  }
  const Result bad = run("discover '" + kModel + "' --task ioi --level edge --score paper", tmp);
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.err.find("--score"), std::string::npos) << bad.err;
}

// report.html: the settings the run used (the task's l1 and the truth, which raw flags left
// blank), head labels, the faithfulness axis ending at the head count (32) with the circuit's
// size marked.
TEST(DiscoverReadout, ReportShowsEffectiveSettingsLabelsAndAxis) {
  TempDir tmp;
  const Result r = run("discover '" + kModel + "' --task ioi" + kFast + " --out '" + (tmp.path / "d").string() + "'", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string html = slurp(tmp.path / "d" / "report.html");
  EXPECT_NE(html.find("l1 0.02 (task default)"), std::string::npos);
  EXPECT_NE(html.find("toy-gpt2-4l-ioi (the model&#39;s own reference circuit), for evaluation only"), std::string::npos);
  EXPECT_NE(html.find("not prepended (default_prepend_bos in the model&#39;s config.json)"), std::string::npos);
  EXPECT_NE(html.find(">2.5</text>"), std::string::npos);  // a head label in the graph
  const size_t f = html.find("Faithfulness along the ranking");
  ASSERT_NE(f, std::string::npos);
  const std::string plot = html.substr(f, html.find("</svg>", f) - f);
  EXPECT_NE(plot.find(">30</text>"), std::string::npos);
  EXPECT_EQ(plot.find(">40</text>"), std::string::npos) << "the axis runs past the 32 heads";
  EXPECT_NE(plot.find("class=\"vline\""), std::string::npos);
}

// Induction's "accuracy" is the answer beating one wrong token (chance 0.5): said wherever the
// metric is printed.
TEST(DiscoverReadout, InductionMetricSaysWhatItMeasures) {
  TempDir tmp;
  const Result t = run("tasks show induction --model '" + kModel + "' --n 1", tmp);
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_NE(t.out.find("answer logit above the wrong token's (chance 0.5)"), std::string::npos) << t.out;
  const Result d = run("discover '" + kModel + "' --task induction" + kFast, tmp);
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_NE(d.out.find("metric: accuracy: answer logit above the wrong token's (chance 0.5)"), std::string::npos) << d.out;
  const Result l = run("tasks list", tmp);
  EXPECT_NE(l.out.find("chance 0.5"), std::string::npos) << l.out;
}

// BOS: prepended by default as TransformerLens (and the paper) do, unless the model's
// config.json says it was trained without (the shipped model); the flags override.
TEST(RunReadout, BosFollowsTheModelAndTheFlags) {
  TempDir tmp;
  auto first_token = [&](const std::string& args) {
    const Result r = run("run " + args + " 'When Mary and John' --json --top-k 1", tmp);
    EXPECT_EQ(r.rc, 0) << r.err;
    return nlohmann::json::parse(r.out)["tokens"][0].get<int>();
  };
  EXPECT_EQ(first_token("'" + kTiny + "'"), 50256);  // no word from the model: TransformerLens's default
  EXPECT_EQ(first_token("'" + kTiny + "' --no-prepend-bos"), 2215);
  EXPECT_EQ(first_token("'" + kModel + "'"), 2215);  // "default_prepend_bos": false
  EXPECT_EQ(first_token("'" + kModel + "' --prepend-bos"), 50256);
  const Result both = run("run '" + kModel + "' x --prepend-bos --no-prepend-bos", tmp);
  EXPECT_EQ(both.rc, 2);
}

// `hooks MODEL` lists every hook point with its shape; `run --cache` takes wildcards; both agree
// with the shapes of the activations run actually caches.
TEST(RunReadout, HooksListAndCacheWildcards) {
  TempDir tmp;
  const Result h = run("hooks '" + kModel + "' --seq-len 7 --json", tmp);
  ASSERT_EQ(h.rc, 0) << h.err;
  const nlohmann::json hooks = nlohmann::json::parse(h.out);
  std::map<std::string, std::vector<int64_t>> shape;
  for (const auto& e : hooks) shape[e["name"]] = e["shape"].get<std::vector<int64_t>>();
  EXPECT_EQ(shape.size(), 2u + 4u * 20u + 1u);  // embed, pos_embed, 20 per layer, ln_final
  EXPECT_EQ(shape.at("blocks.0.ln1.hook_normalized"), (std::vector<int64_t>{1, 7, 128}));  // not only on the split path
  EXPECT_EQ(shape.at("blocks.0.hook_q_input"), (std::vector<int64_t>{1, 7, 8, 128}));
  EXPECT_EQ(shape.at("blocks.3.attn.hook_z"), (std::vector<int64_t>{1, 7, 8, 16}));
  EXPECT_EQ(shape.at("blocks.0.attn.hook_pattern"), (std::vector<int64_t>{1, 8, 7, 7}));
  EXPECT_EQ(hooks.front()["name"], "hook_embed");  // forward order
  EXPECT_EQ(hooks.back()["name"], "ln_final.hook_normalized");
  // Seven tokens: " a b c d e f g" is 7 GPT-2 tokens.
  const Result r = run("run '" + kModel + "' ' a b c d e f g' --json --top-k 1 --cache 'blocks.*.attn.hook_z' --cache hook_embed", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["tokens"].size(), 7u);
  ASSERT_EQ(j["cache"].size(), 5u);
  for (const auto& [name, v] : j["cache"].items()) EXPECT_EQ(v["shape"].get<std::vector<int64_t>>(), shape.at(name)) << name;
  const Result none = run("run '" + kModel + "' x --cache 'blocks.*.attn.hook_nothing'", tmp);
  EXPECT_EQ(none.rc, 1);
  EXPECT_NE(none.err.find("circuitscan hooks"), std::string::npos) << none.err;
}

// compare without a truth: each method's ranking (and the faithfulness areas) instead of a row
// of dashes; with one, the notes explain only the marks that appear; progress names each
// method with its place and the time left; faithfulness's ablation is said.
TEST(CompareReadout, RankingsWithoutTruthNotesProgressAndAblation) {
  TempDir tmp;
  const std::string fast = " --prompts 40 --method-prompts 20 --faith-prompts 20 --trials 2";
  const Result r = run("compare '" + kModel + "' --task ioi --truth none --methods sae,hisp" + fast, tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("top heads, best first"), std::string::npos) << r.out;
  for (const std::string& l : lines_of(r.out))
    if (l.rfind("sae ", 0) == 0 || l.rfind("hisp ", 0) == 0) {
      EXPECT_TRUE(std::regex_search(l, std::regex(R"(\d\.\d \d\.\d \d\.\d)"))) << l;
      EXPECT_EQ(l.find(" - "), std::string::npos) << l;
    }
  EXPECT_NE(r.err.find("method 1/2: sae"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("method 2/2: hisp"), std::string::npos) << r.err;
  // The time-left estimate needs over a second of run time, so it is checked on its own below,
  // not here (this run can finish in under a second).
  EXPECT_NE(r.out.find("faithfulness: mean ablation"), std::string::npos) << r.out;

  const Result t = run("compare '" + kModel + "' --task ioi --methods hisp,patching" + fast, tmp);
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_EQ(t.out.find("(pairs)"), std::string::npos) << "a note for a mark that never appears";
  EXPECT_EQ(t.out.find("± "), std::string::npos) << "no stochastic method, no ± note";
  EXPECT_NE(t.out.find("\"nodes only\""), std::string::npos) << t.out;
}

// The estimate is elapsed x (1 - done) / done, silent while it would be noise and once done.
TEST(Progress, TimeLeftFromElapsedAndFraction) {
  EXPECT_EQ(cs::time_left_text(10, 0.25), "about 0:30 left");
  EXPECT_EQ(cs::time_left_text(3600, 0.5), "about 1:00:00 left");
  EXPECT_EQ(cs::time_left_text(0.5, 0.5), "");   // under a second: noise
  EXPECT_EQ(cs::time_left_text(100, 0.005), "");  // under 1% done: noise
  EXPECT_EQ(cs::time_left_text(100, 1.0), "");    // done
  EXPECT_EQ(cs::clock_text(59.6), "1:00");
}

// compare with a truth and every method: the two SAE rows carry the same edge mark; the table
// has the per-trial AUC and the AUC of the mean scores (the ROC legend's), and its columns line
// up; compare.html gives every method its own colour-and-dash style and a plot of its own, ROC
// and faithfulness. Before: the legend's AUC was not in the table, "sae" showed "-" where
// "sae-confirmed" showed "(nodes only)", and rows with "±" were shifted.
TEST(CompareReadout, EightMethodsTableAndPage) {
  TempDir tmp;
  const Result r = run("compare '" + kModel + "' --task ioi --prompts 40 --method-prompts 20 --faith-prompts 20 --trials 2"
                       " --sp-steps 5 --steps 2 --out '" + (tmp.path / "c").string() + "'",
                       tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<std::string> table;
  bool in = false;
  for (const std::string& l : lines_of(r.out)) {
    if (l.rfind("method ", 0) == 0 && l.find("node AUC") != std::string::npos) in = true;
    if (in && l.empty()) break;
    if (in) table.push_back(l);
  }
  ASSERT_EQ(table.size(), 9u) << r.out;
  for (const std::string& l : table) EXPECT_EQ(width(l), width(table[0])) << "columns misaligned:\n" << l;
  const nlohmann::json j = json_file(tmp.path / "c" / "compare.json");
  ASSERT_EQ(j["methods"].size(), 8u);
  std::map<std::string, std::string> edge_cell;
  for (const std::string& l : table) {
    const std::vector<std::string> c = cells(l);
    if (c[0] == "method") {
      EXPECT_EQ(c[2], "AUC of mean scores");
      continue;
    }
    edge_cell[c[0]] = c[3];
    for (const auto& m : j["methods"])
      if (m["method"] == c[0]) {
        EXPECT_NEAR(std::stod(c[2]), m["node_auc_of_mean_scores"].get<double>(), 6e-4) << c[0];
      }
  }
  EXPECT_EQ(edge_cell.at("sae"), edge_cell.at("sae-paper"));
  const std::string html = slurp(tmp.path / "c" / "compare.html");
  for (const auto& m : j["methods"]) {
    char legend[96];
    std::snprintf(legend, sizeof legend, "%s (%.3f)", m["method"].get<std::string>().c_str(), m["node_auc_of_mean_scores"].get<double>());
    EXPECT_NE(html.find(legend), std::string::npos) << legend;
  }
  // The combined ROC plot: eight series, eight distinct (colour, dash) styles.
  const size_t roc = html.find("<h2 id=\"roc\">");
  ASSERT_NE(roc, std::string::npos);
  const std::string plot = html.substr(roc, html.find("</svg>", roc) - roc);
  std::set<std::string> styles;
  const std::regex poly(R"re(<polyline class="series" fill="none" stroke="(#[0-9a-f]{6})" stroke-width="2"( stroke-dasharray="([^"]*)")? points)re");
  for (auto it = std::sregex_iterator(plot.begin(), plot.end(), poly); it != std::sregex_iterator(); ++it) {
    styles.insert((*it)[1].str() + "/" + (*it)[3].str());
  }
  EXPECT_EQ(styles.size(), 8u) << plot.substr(0, 2000);
  std::set<std::string> colours;
  for (const std::string& s : styles) colours.insert(s.substr(0, 7));
  EXPECT_EQ(colours.size(), 8u);
  EXPECT_NE(html.find("<h3 id=\"roc-per-method\">"), std::string::npos);
  EXPECT_NE(html.find("<h3 id=\"faithfulness-per-method\">"), std::string::npos);
  // One small plot per method in each section: 8 + 8 plots besides the two combined ones.
  size_t plots = 0;
  for (size_t p = html.find("<svg class=\"plot\""); p != std::string::npos; p = html.find("<svg class=\"plot\"", p + 1)) ++plots;
  EXPECT_EQ(plots, 2u + 16u);
}

// reference-circuit's notes give their numbers in the task's metric, on prompts with or without
// BOS: both are written down (the file once said "full metric 0.9970" and nothing more); info
// says what BOS the commands use by default.
TEST(OtherReadouts, ReferenceCircuitNotesAndInfoSayMetricAndBos) {
  TempDir tmp;
  const fs::path out = tmp.path / "truth.json";
  const Result r = run("reference-circuit '" + kModel + "' --task induction --prompts 10 --no-edges --out '" + out.string() + "'", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = json_file(out);
  ASSERT_TRUE(j["notes"].is_array());
  EXPECT_EQ(j["notes"][0].get<std::string>(),
            "metric: accuracy: answer logit above the wrong token's (chance 0.5); 10 prompts (seed 12345), BOS not "
            "prepended (default_prepend_bos in the model's config.json)");
  const Result i = run("info '" + kModel + "'", tmp);
  EXPECT_NE(i.out.find("BOS not prepended by default (default_prepend_bos in the model's config.json"), std::string::npos) << i.out;
  const Result t = run("info '" + kTiny + "'", tmp);
  EXPECT_NE(t.out.find("BOS prepended by default (TransformerLens's default"), std::string::npos) << t.out;
}

// A truth without edges (greater-than's reference circuit) gets its own mark: the methods that do
// score edges are not "missing" them. Before: a bare "-".
TEST(CompareReadout, TruthWithoutEdgesIsSaidSo) {
  TempDir tmp;
  const Result r = run("compare '" + kModel + "' --task greater-than --methods eap --prompts 40 --method-prompts 20"
                       " --faith-prompts 20", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("truth has none"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"truth has none\": toy-gpt2-4l-greater-than lists no head -> head or head -> logits edge"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("no truth edge"), std::string::npos) << r.out;
}
