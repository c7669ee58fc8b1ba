// `circuitscan eval`: score a set of head scores against a ground-truth circuit (ROC AUC and
// precision / recall / F1 at chosen cut-offs), e.g. to compare another tool's output with ours.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/task_flags.h"
#include "evaluation/graph_json.h"
#include "evaluation/ground_truth.h"
#include "evaluation/head_edges.h"
#include "evaluation/json_file.h"
#include "evaluation/roc.h"
#include "model/config.h"
#include "ops/error.h"
#include "ops/files.h"
#include "evaluation/scores_file.h"

namespace cs {

namespace {

nlohmann::ordered_json confusion_json(const Confusion& c) {
  return {{"tp", c.tp}, {"fp", c.fp}, {"fn", c.fn}, {"tn", c.tn},
          {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1}};
}

// A graph file (EAP-IG's Graph.to_json, MIB's circuits, circuitscan's graph.json), or nothing
// when the file is another kind of scores file (read_head_scores then says what is wrong).
std::optional<ScoredGraph> graph_file(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(python_constants_to_null(read_input_file(path, kMaxSmallJsonBytes)));
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (!is_graph_json(j)) return std::nullopt;
  return read_graph_json(path);
}

// The head scores of a graph file, as a scores file's.
HeadScores head_scores_of(const ScoredGraph& g) {
  bool from_nodes = false;
  const std::vector<double> v = graph_head_scores(g, &from_nodes);
  HeadScores s;
  s.n_layers = g.graph.n_layers();
  s.n_heads = g.graph.n_heads();
  s.kind = std::string("graph JSON; head score = ") + (from_nodes ? "|node score|" : "sum of |edge score| in and out");
  for (size_t i = 0; i < v.size(); ++i) s.by_head[{static_cast<int>(i) / s.n_heads, static_cast<int>(i) % s.n_heads}] = v[i];
  return s;
}

// The model's shape (layers x heads) and where it came from: --layers/--heads, else the scores
// file's, else the largest indices in the scores and the truth, plus one. Every scored head must
// be inside it.
struct Shape {
  int L = 0, H = 0;
  std::string from;
};

Shape model_shape(const Args& a, const HeadScores& s, const GroundTruth& g, bool graph, const std::string& spath) {
  int max_l = 0, max_h = 0;
  for (const auto& [h, v] : s.by_head) max_l = std::max(max_l, h.layer), max_h = std::max(max_h, h.head);
  for (const HeadId& h : g.heads) max_l = std::max(max_l, h.layer), max_h = std::max(max_h, h.head);
  Shape sh{s.n_layers, s.n_heads, s.n_layers > 0 && s.n_heads > 0 ? spath : ""};
  if (sh.L <= 0 || sh.H <= 0) sh = {max_l + 1, max_h + 1, "largest indices in scores and truth"};
  if (a.given("layers") || a.given("heads")) {
    if (graph) throw UsageError("eval: a graph JSON gives its own shape (cfg); drop --layers/--heads");
    sh.from = "--layers/--heads";
  }
  if (a.given("layers")) sh.L = a.integer("layers");
  if (a.given("heads")) sh.H = a.integer("heads");
  // Head indices are bounded (scores_file.h, ground_truth.h): L x H <= kMaxLayers x kMaxHeads.
  if (sh.L > kMaxLayers || sh.H > kMaxHeads)
    throw Error("a " + std::to_string(sh.L) + " x " + std::to_string(sh.H) + " model (shape from " + sh.from +
                ") is larger than the largest supported, " + std::to_string(kMaxLayers) + " x " + std::to_string(kMaxHeads));
  for (const auto& [h, v] : s.by_head)
    if (h.layer >= sh.L || h.head >= sh.H)
      throw Error(spath + ": head " + h.str() + " does not exist in a " + std::to_string(sh.L) + " x " +
                  std::to_string(sh.H) + " model (shape from " + sh.from + ")");
  return sh;
}

// A graph file's edge AUCs against a truth with edges, printed: over head -> later head edges
// (q/k/v merged) and head -> logits, and over every edge of the graph.
struct EdgeAucs {
  std::optional<double> head_edge, all_edge;
};

EdgeAucs edge_aucs(const ScoredGraph& graph, const GroundTruth& g, int L, int H) {
  EdgeAucs r;
  try {
    std::vector<double> abs_scores(graph.edge_scores.size());
    for (size_t e = 0; e < abs_scores.size(); ++e) abs_scores[e] = std::fabs(graph.edge_scores[e]);
    bool logits = false;
    const std::vector<double> es = head_edge_scores(abs_scores, graph.graph, &logits);
    const double auc = head_edge_auc(es, head_edge_labels(g, L, H), L, H, true);
    if (!std::isnan(auc)) r.head_edge = auc;
    std::string why;
    r.all_edge = graph_edge_auc(abs_scores, g, graph.graph, &why);
    if (!r.all_edge) std::printf("\nedge AUC over all edges: not computed (%s)\n", why.c_str());
  } catch (const Error& e) {
    std::printf("\nedge AUC: not computed (%s)\n", e.what());
  }
  if (r.head_edge) std::printf("\nedge AUC %.4f (|score| over head -> later head edges, q/k/v merged, and head -> logits)\n", *r.head_edge);
  if (r.all_edge)
    std::printf("%sedge AUC %.4f (|score| over all %d edges of the graph, MLP and input edges included)\n",
                r.head_edge ? "" : "\n", *r.all_edge, graph.graph.n_edges());
  return r;
}

}  // namespace

int cmd_eval(int argc, char** argv) {
  Args a("eval",
         "Evaluate head scores against a ground-truth circuit: ROC AUC, and precision / recall / F1\n"
         "of the top-k heads with k = the truth's size, of the heads scoring >= --threshold, and of\n"
         "the --top-k best heads.\n"
         "Scores file: a circuit.json written by `discover` (per-head mean \"score\", or another\n"
         "per-head field with --field), {\"scores\": {\"9.9\": 0.7, \"10.0\": 0.5, ...}} (heads written\n"
         "9.9, a9.h9 or A9.9), or a graph JSON as EAP-IG's Graph.to_json and MIB's circuit track write\n"
         "it (graph.json from `discover`): head scores are its node scores, else the sum of |score| of\n"
         "each head's edges; also evaluated: the file's circuit (in_graph heads) and, when the truth\n"
         "has edges, the edge ROC AUC.\n"
         "Model shape (layers x heads): --layers/--heads, else circuit.json's \"model\", else the\n"
         "largest layer and head index in the scores and the truth, plus one. Heads missing from the\n"
         "scores rank last (tied, below every listed score); their number is reported.");
  a.flag("scores", "", "scores file (circuit.json or {\"scores\": {...}})")
      .flag("truth", "", "ground truth: a name from data/truth (e.g. gpt2-small-ioi) or a file path")
      .flag("out", "", "also write the results as JSON to this file")
      .real_flag("threshold", "", RealRange::any(), "also evaluate the heads with score >= this value")
      .int_flag("top-k", "", 0, int64_t{kMaxLayers} * kMaxHeads, "also evaluate the k best heads (at most the model's heads)")
      .int_flag("layers", "", 1, kMaxLayers, "number of layers of the model (overrides the scores file)")
      .int_flag("heads", "", 1, kMaxHeads, "heads per layer of the model (overrides the scores file)")
      .flag("field", "score", "circuit.json: the per-head field to evaluate (score: the run's ranking; paper_score: |P\\N|;\n"
            "                            softmax: of paper_score; std, ...)");
  if (!a.parse(argc, argv)) return 0;
  if (a.str("scores").empty()) throw UsageError("eval: --scores FILE is required (see circuitscan eval --help)");
  if (a.str("truth").empty()) throw UsageError("eval: --truth NAME|FILE is required (see circuitscan eval --help)");
  if (!a.str("out").empty()) check_output_file(a.str("out"), "--out");

  const std::string spath = a.str("scores"), tname = a.str("truth");
  const std::optional<ScoredGraph> graph = graph_file(spath);
  if (graph && a.given("field")) throw UsageError("eval: --field is for circuit.json files; " + spath + " is a graph JSON");
  const HeadScores s = graph ? head_scores_of(*graph) : read_head_scores(spath, a.str("field"));
  const GroundTruth g = truth_from_arg(tname);
  if (g.heads.empty()) throw Error("ground truth " + tname + " lists no heads: nothing to evaluate against");

  const Shape shape = model_shape(a, s, g, graph.has_value(), spath);
  const int L = shape.L, H = shape.H;
  const std::string& shape_from = shape.from;

  const int HT = L * H;
  double lowest = s.by_head.begin()->second;
  for (const auto& [h, v] : s.by_head) lowest = std::min(lowest, v);
  std::vector<double> scores(HT, lowest - 1);
  for (const auto& [h, v] : s.by_head) scores[static_cast<size_t>(h.layer) * H + h.head] = v;
  const int missing = HT - static_cast<int>(s.by_head.size());
  std::vector<bool> labels = head_labels(g, L, H);
  if (std::all_of(labels.begin(), labels.end(), [](bool b) { return b; }))
    throw Error("ground truth " + g.name + " contains every head of a " + std::to_string(L) + " x " + std::to_string(H) +
                " model: AUC is undefined (pass --layers/--heads if the model is larger)");
  const double auc = roc_auc(scores, labels);
  const int k_truth = static_cast<int>(g.heads.size());

  struct Row {
    std::string label, key;
    Confusion c;
    nlohmann::ordered_json extra;
  };
  std::vector<Row> rows;
  rows.push_back({"top " + std::to_string(k_truth) + " (truth size)", "at_truth_size",
                  confusion_top_k(scores, labels, k_truth), {{"k", k_truth}}});
  if (a.given("threshold")) {
    const double t = a.number("threshold");
    rows.push_back({"score >= " + a.str("threshold"), "at_threshold", confusion_at_threshold(scores, labels, t),
                    {{"threshold", t}}});
  }
  if (a.given("top-k")) {
    const int k = a.integer("top-k");
    if (k > HT) throw UsageError("eval: --top-k " + std::to_string(k) + " is more than the model's " + std::to_string(HT) + " heads");
    rows.push_back({"top " + std::to_string(k), "at_top_k", confusion_top_k(scores, labels, k), {{"k", k}}});
  }

  if (graph) {
    std::vector<double> in(HT, 0.0);
    for (int l = 0; l < L; ++l)
      for (int h = 0; h < H; ++h) in[static_cast<size_t>(l) * H + h] = graph->node_in_graph[graph->graph.head_sender(l, h)];
    int n_in = 0;
    for (double x : in) n_in += x > 0;
    rows.push_back({"in the file's graph (" + std::to_string(n_in) + ")", "in_graph", confusion_at_threshold(in, labels, 1.0),
                    {{"k", n_in}}});
  }
  std::printf("scores  %s (%s): %zu heads; model %d layers x %d heads (from %s)\n", spath.c_str(), s.kind.c_str(),
              s.by_head.size(), L, H, shape_from.c_str());
  if (missing > 0) std::printf("        %d heads without a score rank last\n", missing);
  std::printf("truth   %s: %d heads\n\nAUC     %.4f\n\n", g.name.c_str(), k_truth, auc);
  std::printf("%-24s %5s %4s %4s %4s %10s %8s %8s\n", "selection", "k", "tp", "fp", "fn", "precision", "recall", "f1");
  for (const Row& r : rows)
    std::printf("%-24s %5lld %4lld %4lld %4lld %10.4f %8.4f %8.4f\n", r.label.c_str(), static_cast<long long>(r.c.tp + r.c.fp),
                static_cast<long long>(r.c.tp), static_cast<long long>(r.c.fp), static_cast<long long>(r.c.fn), r.c.precision,
                r.c.recall, r.c.f1);

  const EdgeAucs edges = graph && !g.edges.empty() ? edge_aucs(*graph, g, L, H) : EdgeAucs{};

  if (!a.str("out").empty()) {
    nlohmann::ordered_json j;
    j["scores"] = spath;
    j["truth"] = g.name;
    j["n_layers"] = L;
    j["n_heads"] = H;
    j["shape_from"] = shape_from;
    j["n_scored"] = s.by_head.size();
    j["n_missing"] = missing;
    j["n_truth"] = k_truth;
    j["auc"] = auc;
    if (edges.head_edge) j["head_edge_auc"] = *edges.head_edge;
    if (edges.all_edge) j["graph_edge_auc"] = *edges.all_edge;
    for (const Row& r : rows) {
      nlohmann::ordered_json e = r.extra;
      e.update(confusion_json(r.c));
      j[r.key] = e;
    }
    write_file_atomic(a.str("out"), j.dump(2) + "\n");
    std::printf("\nwrote %s\n", a.str("out").c_str());
  }
  return 0;
}

}  // namespace cs
