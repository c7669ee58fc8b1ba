// Report outputs on a small hand-built result (2 layers x 4 heads, 2 trials, a ROC, a
// faithfulness curve): circuit.json fields and values, the Graphviz circuit, a self-contained
// HTML page with one heatmap cell per head, and atomic file writing.
#include "report/circuit_report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "sae/code_scores.h"
#include "ops/error.h"
#include "report/report_html.h"
#include "report/svg.h"
#include "report/text_table.h"

namespace fs = std::filesystem;

namespace {

constexpr int kL = 2, kH = 4, kHT = kL * kH;

// Truth: heads 0.1, 1.2 and 1.3. Scores rank 1.2 > 0.1 > 1.0 > 1.3 > the rest.
cs::RunInfo info(bool with_truth, bool edge) {
  cs::RunInfo i;
  i.model_dir = "models/tiny";
  i.model_family = "gpt2";
  i.task = "ioi";
  i.level = edge ? "edge" : "node";
  i.settings = {{"trials", "2"}, {"SAE", "200 features, l1 0.02 (task default)"}};
  i.ranking = "confirmed (rank mean)";
  i.paper_score = "|P\\N|";
  i.seed = 7;
  i.n_layers = kL;
  i.n_heads = kH;
  i.command_line = "circuitscan discover models/tiny ioi --trials 2";
  i.metric_name = "logit_diff";
  if (with_truth) {
    i.truth_name = "toy-truth";
    i.truth_heads = {{0, 1}, {1, 2}, {1, 3}};
  }
  return i;
}

cs::DiscoverResult result(bool with_truth, bool edge) {
  cs::DiscoverResult r;
  r.head_scores = {{0, 5, 0, 0, 3, 0, 9, 2}, {0, 7, 1, 0, 3, 0, 7, 2}};
  r.mean_scores = {0, 6, 0.5, 0, 3, 0, 8, 2};
  r.std_scores = {0, 1.414, 0.707, 0, 0, 0, 1.414, 0};
  r.paper_scores = {1, 9, 2, 0, 4, 0, 12, 3};
  r.paper_std = {0, 1, 0, 0, 1, 0, 2, 0};
  r.paper_softmax = cs::softmax(r.paper_scores);
  r.size_rule = "heads with |P\\N| above its mean over heads (3.88)";
  r.circuit = {6, 1, 4};  // 1.2, 0.1, 1.0
  for (int t = 0; t < 2; ++t) {
    cs::SaeTrial tr;
    tr.seed = 7 + t;
    tr.sae_loss = 0.5f - 0.1f * t;
    r.trials.push_back(tr);
  }
  if (edge) {
    r.mean_edge_U.assign(kHT * kHT, 0.0);
    auto set = [&](int a, int b, double u) { r.mean_edge_U[a * kHT + b] = r.mean_edge_U[b * kHT + a] = u; };
    set(1, 6, 4.0);  // 0.1 - 1.2, among circuit heads
    set(4, 6, 2.0);  // 1.0 - 1.2, among circuit heads
    set(0, 7, 1.0);  // 0.0 - 1.3, outside the circuit
  }
  if (with_truth) {
    const std::vector<bool> y = {false, true, false, false, false, false, true, true};
    r.roc = cs::roc_curve(r.mean_scores, y);
    for (auto& s : r.head_scores) r.evals.push_back({cs::roc_auc(s, y), cs::confusion_top_k(s, y, 3)});
    r.mean_eval = cs::TrialEval{r.roc->auc, cs::confusion_top_k(r.mean_scores, y, 3)};
    r.circuit_eval = cs::confusion_at_threshold({0, 1, 0, 0, 1, 0, 1, 0}, y, 1.0);
  }
  cs::FaithfulnessCurve f;
  f.size = {0, 2, 4, 8};
  f.metric = {-0.5, 1.0, 2.5, 3.0};
  f.fraction = {-0.5 / 3, 1.0 / 3, 2.5 / 3, 1.0};
  f.normalised = {0, 1.5 / 3.5, 3.0 / 3.5, 1};
  f.full = 3.0, f.empty = -0.5, f.cpr = 0.6, f.cmd = 0.4;
  r.faith = f;
  r.circuit_faithfulness = 0.8;
  r.seconds_collect = 0.5, r.seconds_train = 1.5, r.seconds_codes = 0.1, r.seconds_scores = 0.05;
  r.seconds_faithfulness = 0.2, r.seconds_total = 2.4;
  r.collect_flops = 1e9, r.train_flops = 3e9;
  r.n_positive = 20, r.n_negative = 20;
  return r;
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + needle.size())) ++n;
  return n;
}

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("cs_report_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST(Report, CircuitJsonFieldsAndValues) {
  const cs::DiscoverResult r = result(true, true);
  const nlohmann::json j = nlohmann::json::parse(cs::circuit_json(r, info(true, true)));
  EXPECT_EQ(j["format"], "circuitscan-circuit");
  EXPECT_EQ(j["method"], "sae");
  EXPECT_EQ(j["level"], "edge");
  EXPECT_EQ(j["task"], "ioi");
  EXPECT_EQ(j["metric"], "logit_diff");
  EXPECT_EQ(j["model"]["dir"], "models/tiny");
  EXPECT_EQ(j["model"]["family"], "gpt2");
  EXPECT_EQ(j["model"]["n_layers"], kL);
  EXPECT_EQ(j["model"]["n_heads"], kH);
  EXPECT_EQ(j["seed"], 7);
  EXPECT_EQ(j["trials"], 2);
  EXPECT_EQ(j["truth"], "toy-truth");
  EXPECT_EQ(j["settings"]["SAE"], "200 features, l1 0.02 (task default)");
  EXPECT_EQ(j["ranking"], "confirmed (rank mean)");
  EXPECT_EQ(j["size_rule"], "heads with |P\\N| above its mean over heads (3.88)");
  EXPECT_EQ(j["command_line"], "circuitscan discover models/tiny ioi --trials 2");

  ASSERT_EQ(j["heads"].size(), static_cast<size_t>(kHT));
  const auto& h12 = j["heads"][6];
  EXPECT_EQ(h12["name"], "1.2");
  EXPECT_EQ(h12["layer"], 1);
  EXPECT_EQ(h12["head"], 2);
  EXPECT_DOUBLE_EQ(h12["score"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(h12["std"].get<double>(), 1.414);
  EXPECT_DOUBLE_EQ(h12["softmax"].get<double>(), r.paper_softmax[6]);  // of the paper's score
  EXPECT_DOUBLE_EQ(h12["paper_score"].get<double>(), 12.0);
  EXPECT_DOUBLE_EQ(h12["paper_std"].get<double>(), 2.0);
  EXPECT_EQ(h12["rank"], 1);
  EXPECT_TRUE(h12["in_circuit"].get<bool>());
  EXPECT_TRUE(h12["in_truth"].get<bool>());
  EXPECT_EQ(j["heads"][1]["rank"], 2);
  EXPECT_EQ(j["heads"][7]["rank"], 4);
  EXPECT_FALSE(j["heads"][7]["in_circuit"].get<bool>());
  EXPECT_TRUE(j["heads"][7]["in_truth"].get<bool>());
  // Ties (score 0 at 0.0, 0.3, 1.1) rank by index.
  EXPECT_EQ(j["heads"][0]["rank"], 6);
  EXPECT_EQ(j["heads"][3]["rank"], 7);
  EXPECT_EQ(j["heads"][5]["rank"], 8);
  EXPECT_EQ(j["circuit"], nlohmann::json({"1.2", "0.1", "1.0"}));

  // Every pair with U > 0 of heads in different layers, once, from the earlier layer, named as
  // the graph's nodes; the same-layer pair 1.0 - 1.2 is left out (no information flows between them).
  ASSERT_EQ(j["edges"].size(), 2u);
  EXPECT_EQ(j["edges"][0]["from"], "a0.h1");
  EXPECT_EQ(j["edges"][0]["to"], "a1.h2");
  EXPECT_DOUBLE_EQ(j["edges"][0]["score"].get<double>(), 4.0);
  EXPECT_EQ(j["edges"][1]["from"], "a0.h0");
  EXPECT_EQ(j["edges"][1]["to"], "a1.h3");

  const auto& ev = j["evaluation"];
  EXPECT_EQ(ev["k"], 3);
  EXPECT_EQ(ev["circuit"]["k"], 3);
  EXPECT_EQ(ev["circuit"]["tp"], 2);  // 1.2 and 0.1 of 1.2, 0.1, 1.0
  EXPECT_DOUBLE_EQ(ev["circuit"]["recall"].get<double>(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(ev["mean_scores"]["auc"].get<double>(), r.roc->auc);
  EXPECT_DOUBLE_EQ(ev["mean_scores"]["precision"].get<double>(), r.mean_eval->at_k.precision);
  const cs::MeanStd auc = cs::mean_std({r.evals[0].auc, r.evals[1].auc});
  EXPECT_DOUBLE_EQ(ev["over_trials"]["auc"]["mean"].get<double>(), auc.mean);
  EXPECT_DOUBLE_EQ(ev["over_trials"]["auc"]["std"].get<double>(), auc.std);
  EXPECT_TRUE(ev["over_trials"].contains("f1"));
  ASSERT_EQ(j["trial_results"].size(), 2u);
  EXPECT_EQ(j["trial_results"][1]["seed"], 8);
  EXPECT_DOUBLE_EQ(j["trial_results"][0]["auc"].get<double>(), r.evals[0].auc);
  EXPECT_DOUBLE_EQ(j["trial_results"][1]["recall"].get<double>(), r.evals[1].at_k.recall);
  EXPECT_EQ(j["trial_results"][0]["head_scores"].size(), static_cast<size_t>(kHT));

  EXPECT_EQ(j["faithfulness"]["size"], nlohmann::json({0, 2, 4, 8}));
  EXPECT_DOUBLE_EQ(j["faithfulness"]["full"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(j["faithfulness"]["cpr"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(j["circuit_faithfulness"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(j["timings"]["train_s"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(j["timings"]["total_s"].get<double>(), 2.4);
}

TEST(Report, CircuitJsonWithoutTruthOrEdges) {
  const nlohmann::json j = nlohmann::json::parse(cs::circuit_json(result(false, false), info(false, false)));
  EXPECT_TRUE(j["truth"].is_null());
  EXPECT_FALSE(j.contains("evaluation"));
  EXPECT_FALSE(j["heads"][0].contains("in_truth"));
  EXPECT_TRUE(j["edges"].empty());
  EXPECT_EQ(j["level"], "node");
}

TEST(Report, ShapeMismatchIsAnError) {
  cs::RunInfo i = info(false, false);
  i.n_heads = 5;
  EXPECT_THROW(cs::circuit_json(result(false, false), i), cs::Error);
  EXPECT_THROW(cs::report_html(result(false, false), i), cs::Error);
}

TEST(Report, DotHasCircuitHeadsByLayerAndEdgesAmongThem) {
  const std::string dot = cs::circuit_dot(result(true, true), info(true, true));
  EXPECT_EQ(dot.find("digraph circuit {"), dot.find("digraph"));
  EXPECT_NE(dot.find("\"a1.h2\" [label=\"1.2\""), std::string::npos);
  EXPECT_NE(dot.find("\"a0.h1\" [label=\"0.1\""), std::string::npos);
  EXPECT_NE(dot.find("\"a1.h0\" [label=\"1.0\""), std::string::npos);
  EXPECT_EQ(dot.find("\"a1.h3\""), std::string::npos);  // not in the circuit
  EXPECT_EQ(count(dot, "rank=same"), 2u);              // two layers hold circuit heads
  EXPECT_NE(dot.find("\"a0.h1\" -> \"a1.h2\" [penwidth=5.00"), std::string::npos);  // best pair widest
  EXPECT_EQ(dot.find("\"a1.h0\" -> \"a1.h2\""), std::string::npos);  // one layer: no edge
  EXPECT_EQ(dot.find("dir=none"), std::string::npos);                 // drawn directed
  EXPECT_EQ(dot.find("\"a0.h0\" -> \"a1.h3\""), std::string::npos);  // endpoints outside the circuit
  EXPECT_NE(dot.find("\"L0\" -> \"L1\" [style=invis]"), std::string::npos);
  EXPECT_EQ(dot.back(), '\n');

  const std::string node_dot = cs::circuit_dot(result(true, false), info(true, false));
  EXPECT_NE(node_dot.find("\"a1.h2\""), std::string::npos);
  EXPECT_EQ(count(node_dot, "penwidth"), 0u);
}

TEST(Report, HtmlIsSelfContainedWithHeatmapRocAndTables) {
  const cs::DiscoverResult r = result(true, true);
  const std::string html = cs::report_html(r, info(true, true));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  // Heatmap: one cell per head, the 3 circuit heads outlined, the 3 truth heads marked.
  const size_t hm = html.find("<svg class=\"heatmap\"");
  ASSERT_NE(hm, std::string::npos);
  const std::string heat = html.substr(hm, html.find("</svg>", hm) - hm);
  EXPECT_EQ(count(heat, "<rect class=\"cell\""), static_cast<size_t>(kHT));
  EXPECT_EQ(count(heat, "class=\"outline\""), 3u);
  EXPECT_EQ(count(heat, "class=\"mark\""), 3u);
  EXPECT_NE(heat.find("<title>1.2: confirmed (rank mean) 8 ± 1.414, |P\\N| 12 ± 2"), std::string::npos);
  // ROC with its AUC in the legend; faithfulness curve; graph with the circuit filled.
  char auc[32];
  std::snprintf(auc, sizeof auc, "AUC %.3f", r.roc->auc);
  EXPECT_NE(html.find(auc), std::string::npos);
  EXPECT_NE(html.find("ROC vs toy-truth"), std::string::npos);
  EXPECT_NE(html.find("Faithfulness"), std::string::npos);
  const size_t g = html.find("<svg class=\"graph\"");
  ASSERT_NE(g, std::string::npos);
  const std::string graph = html.substr(g, html.find("</svg>", g) - g);
  EXPECT_EQ(count(graph, "class=\"node in-circuit\""), 3u);
  EXPECT_EQ(count(graph, "class=\"node\""), static_cast<size_t>(kHT - 3));
  EXPECT_EQ(count(graph, "class=\"edge\""), 2u);
  EXPECT_NE(html.find("mean ± std"), std::string::npos);  // per-trial table summary row
  EXPECT_NE(html.find("SAE training"), std::string::npos);  // timings
  // Self-contained: nothing fetched from anywhere, no scripts.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_FALSE(std::regex_search(html, std::regex(R"((src|href)\s*=)")));
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_FALSE(std::regex_search(html, std::regex(R"(url\((?!#))")));  // only in-page refs (the arrowhead)
}

TEST(Report, HtmlWithoutTruthHasNoRocAndEscapesText) {
  cs::RunInfo i = info(false, false);
  i.task = "my<task>&\"x\"";
  const std::string html = cs::report_html(result(false, false), i);
  EXPECT_EQ(html.find("ROC vs"), std::string::npos);
  EXPECT_EQ(html.find("my<task>"), std::string::npos);
  EXPECT_NE(html.find("my&lt;task&gt;&amp;&quot;x&quot;"), std::string::npos);
  EXPECT_NE(html.find("<svg class=\"heatmap\""), std::string::npos);
}

TEST(Report, TruthLoadedByNameWhenHeadsNotGiven) {
  cs::RunInfo i = info(false, false);
  i.n_layers = 12, i.n_heads = 12, i.truth_name = "gpt2-small-ioi";
  const std::vector<bool> y = cs::report_truth_labels(i);
  ASSERT_EQ(y.size(), 144u);
  EXPECT_TRUE(y[9 * 12 + 9]);
  EXPECT_EQ(std::count(y.begin(), y.end(), true), 26);
  i.truth_name = "no-such-truth";
  EXPECT_TRUE(cs::report_truth_labels(i).empty());
}

TEST(Report, WriteOutputsWritesThreeFilesAndNoTemps) {
  TempDir tmp;
  const fs::path out = tmp.path / "nested" / "run1";
  cs::write_outputs(out.string(), result(true, true), info(true, true));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"circuit.dot", "circuit.json", "report.html"}));
  std::ifstream in(out / "circuit.json");
  EXPECT_NO_THROW(nlohmann::json::parse(in));
  // Rewriting over existing outputs works and still leaves exactly three files.
  cs::write_outputs(out.string(), result(false, false), info(false, false));
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator{}), 3);
}

TEST(Report, UnwritableOutDirThrows) {
  TempDir tmp;
  const fs::path file = tmp.path / "a_file";
  std::ofstream(file) << "x";
  try {
    cs::write_outputs((file / "out").string(), result(false, false), info(false, false));
    ADD_FAILURE() << "expected cs::Error";
  } catch (const cs::Error& e) {
    EXPECT_NE(std::string(e.what()).find((file / "out").string()), std::string::npos) << e.what();
  }
  // A shape error is found before anything is written.
  cs::RunInfo bad = info(false, false);
  bad.n_layers = 3;
  EXPECT_THROW(cs::write_outputs((tmp.path / "never").string(), result(false, false), bad), cs::Error);
  EXPECT_FALSE(fs::exists(tmp.path / "never"));
}

TEST(Svg, LinePlotTakesSeveralSeries) {
  cs::Series a, b;
  a.label = "sae (AUC 0.87)", a.x = {0, 0.5, 1}, a.y = {0, 0.9, 1};
  b.label = "acdc (AUC 0.78)", b.x = {0, 0.5, 1}, b.y = {0, 0.6, 1};
  cs::PlotAxes ax;
  ax.x_lo = 0, ax.x_hi = 1, ax.y_lo = 0, ax.y_hi = 1, ax.diagonal = true;
  const std::string svg = cs::svg_line_plot({a, b}, ax);
  EXPECT_EQ(count(svg, "<polyline class=\"series\""), 2u);
  EXPECT_NE(svg.find("sae (AUC 0.87)"), std::string::npos);
  EXPECT_NE(svg.find("acdc (AUC 0.78)"), std::string::npos);
  EXPECT_NE(svg.find(cs::series_color(1)), std::string::npos);
  // Auto range of a flat series does not divide by zero.
  cs::Series flat;
  flat.x = {1, 1}, flat.y = {2, 2};
  EXPECT_EQ(cs::svg_line_plot({flat}, {}).find("nan"), std::string::npos);
}

TEST(Svg, RampAndEscape) {
  EXPECT_EQ(cs::ramp_color(0), "#440154");
  EXPECT_EQ(cs::ramp_color(1), "#fde725");
  EXPECT_EQ(cs::ramp_color(2), "#fde725");
  EXPECT_EQ(cs::xml_escape("a<b>&'\""), "a&lt;b&gt;&amp;&#39;&quot;");
}

// The head graph draws head pairs as arrows from the earlier layer to the later one, never
// between heads of one layer, and labels every head.
TEST(Report, GraphArrowsGoForwardAndHeadsAreLabelled) {
  const std::string html = cs::report_html(result(true, true), info(true, true));
  const size_t g = html.find("<svg class=\"graph\"");
  ASSERT_NE(g, std::string::npos);
  const std::string graph = html.substr(g, html.find("</svg>", g) - g);
  EXPECT_EQ(count(graph, "marker-end=\"url(#cs-arrow)\""), 2u + 1u);  // two edges, one legend arrow
  EXPECT_NE(graph.find("<title>0.1 \u2192 1.2: 4</title>"), std::string::npos);
  EXPECT_NE(graph.find("<title>0.0 \u2192 1.3: 1</title>"), std::string::npos);
  EXPECT_EQ(graph.find("1.0 \u2192 1.2"), std::string::npos);
  EXPECT_EQ(count(graph, "class=\"head-label\""), static_cast<size_t>(kHT));
  for (const char* name : {">0.0</text>", ">1.3</text>"}) EXPECT_NE(graph.find(name), std::string::npos) << name;
}

// The faithfulness plot's x axis ends at the head count (8), not at a rounded 10, and marks the
// circuit's size.
TEST(Report, FaithfulnessAxisEndsAtHeadCountAndMarksCircuitSize) {
  const std::string html = cs::report_html(result(true, false), info(true, false));
  const size_t f = html.find("Faithfulness along the ranking");
  ASSERT_NE(f, std::string::npos);
  const std::string plot = html.substr(f, html.find("</svg>", f) - f);
  EXPECT_NE(plot.find(">8</text>"), std::string::npos);
  EXPECT_EQ(plot.find(">10</text>"), std::string::npos);
  EXPECT_EQ(count(plot, "class=\"vline\""), 1u);
  EXPECT_NE(plot.find("circuit: 3 heads"), std::string::npos);
}

// Settings: what the run used, as the frontend passes it (not raw flags); precision and recall
// of the circuit itself and, labelled, at the truth's size.
TEST(Report, HtmlShowsEffectiveSettingsAndLabelledEvaluation) {
  const std::string html = cs::report_html(result(true, false), info(true, false));
  EXPECT_NE(html.find("<td>SAE</td><td>200 features, l1 0.02 (task default)</td>"), std::string::npos);
  EXPECT_NE(html.find("the circuit: precision / recall / F1"), std::string::npos);
  EXPECT_NE(html.find("at the truth&#39;s size (top 3): precision = recall"), std::string::npos);
  EXPECT_EQ(html.find("<tr><th></th><th></th></tr>"), std::string::npos);  // no empty header row
  // The ranking and the paper's score each get a heatmap when they differ.
  EXPECT_EQ(count(html, "<svg class=\"heatmap\""), 2u);
  EXPECT_NE(html.find("|P\\N| (sizes the circuit)"), std::string::npos);
}

// Terminal tables align by characters, not bytes: "±" is two bytes of UTF-8, and a column padded
// by printf's byte widths shifted every row that had one. Numeric columns right-align.
TEST(TextTable, AlignsUtf8CellsAndRightAlignsNumbers) {
  cs::TextTable t({"method", "node AUC", "seconds"});
  t.row({"sae", "0.817 ± 0.069", "0.31 ± 0.07"});
  t.row({"patching", "0.923", "1.69"});
  t.row({"sp", "0.868 ± 0.013", "67.15 ± 21.70"});
  const std::string s = t.str();
  std::vector<std::string> lines;
  for (size_t a = 0, b; (b = s.find('\n', a)) != std::string::npos; a = b + 1) lines.push_back(s.substr(a, b - a));
  ASSERT_EQ(lines.size(), 4u);
  // The last column is right-aligned, so every line ends at the same character column.
  for (const std::string& l : lines) EXPECT_EQ(cs::TextTable::width(l), cs::TextTable::width(lines[0])) << l;
  EXPECT_EQ(lines[2], "patching          0.923           1.69");
  EXPECT_EQ(cs::TextTable::width("0.817 ± 0.069"), 13u);
}
