#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/method_flags.h"
#include "cli/precision_flag.h"
#include "cli/progress.h"
#include "cli/task_flags.h"
#include "sae/discover.h"
#include "interp/task_metric.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "ops/error.h"
#include "ops/files.h"
#include "report/circuit_report.h"
#include "report/mib_submission.h"
#include "report/text_table.h"
#include "sae/code_scores.h"

namespace cs {

namespace {

std::string head_name(int idx, int H) { return HeadId{idx / H, idx % H}.str(); }

const std::vector<std::string> kOutputs = {"circuit.json", "circuit.dot", "report.html", "graph.json"};

void declare_flags(Args& a) {
  std::vector<std::string> methods;
  for (const MethodInfo& i : method_table()) methods.push_back(i.name);
  a.positional("MODEL", "Hugging Face model directory")
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file of prompts")
      .choice_flag("method", "sae", methods, "discovery method:\n" + method_help(30))
      .choice_flag("level", "node", {"node", "edge"},
                   "SAE methods. node: heads ranked by --score; edge: head-pair code scores reduced to heads\n"
                   "                            (the edge count, as the paper's edge variant; --score does not apply)")
      .int_flag("features", "200", 1, 100000, "SAE features")
      .real_flag("l1", "", RealRange::non_negative(), "SAE L1 coefficient; by default 0.05 for docstring, else 0.02, as the paper")
      .real_flag("lr", "0.001", RealRange::positive(), "SAE Adam learning rate")
      .int_flag("epochs", "500", 1, 1000000, "SAE full-batch epochs")
      .int_flag("train-prompts", "10", 1, kMaxPrompts, "prompts (pooled positives+negatives) the SAE is trained on")
      .int_flag("prompts", "250", 1, kMaxPrompts, kPromptsHelp)
      .int_flag("trials", "1", 1, kMaxTrials,
                "independent trials of a stochastic method (sae, sae-paper, sp; different seeds): mean ± std")
      .int_flag("seed", "0", 0, kMaxSeed, "seed of the task prompts and of trial 0 (trial t uses seed+t)")
      .flag("position", "mean", "SAE head output reduction: mean (paper), last, or a position of the task (e.g. S2, end)")
      .choice_flag("score", "confirmed", {"confirmed", "paper", "null", "causal"},
                   "method sae's node ranking: confirmed (paper's |P\\N| + one attribution pass; the default: higher AUC on\n"
                   "                            every zoo task), paper (O'Neill & Bui's |P\\N| alone, = --method sae-paper), null\n"
                   "                            (null-corrected), causal (null + one attribution pass)")
      .toggle("normalise", "divide |P\\N| by |P u N| (the paper's normalised variant)")
      .int_flag("top-k", "", 0, 1000000, "circuit = the K best heads of the ranking (at most the model's heads)")
      .real_flag("threshold", "", RealRange::non_negative(),
                 "circuit size = heads whose softmax of the paper's |P\\N| (edge level: edge count) is >= X\n"
                 "                            (in [0, 1]; the ranking picks which); other methods: heads scoring >= X.\n"
                 "                            Default: heads whose |P\\N| (other methods: score) is above its mean")
      .int_flag("top-edges", "", 0, 100000000,
                "eap, eap-ig: graph.json's circuit = the N best edges (default: as many as the head circuit's graph)")
      .flag("truth", "", "ground truth to evaluate against (never used to size or pick the circuit): name\n"
            "                            (data/truth), file, or none; default MODEL/circuits/TASK.json if present")
      .choice_flag("method-ablation", "resample", {"resample", "mean", "zero"},
                   "ablation of the methods other than the SAE's");
  add_method_flags(a)
      .choice_flag("ablation", "mean", {"mean", "resample", "zero"}, "faithfulness ablation: mean (over corrupted prompts), resample, zero")
      .int_flag("faith-prompts", "100", 1, kMaxPrompts, "prompts for the faithfulness curve")
      .toggle("no-faithfulness", "skip the faithfulness curve")
      .toggle("no-process-weights", "use raw weights (the paper used TransformerLens-processed weights)")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", kPrependBosHelp)
      .toggle("no-prepend-bos", kNoPrependBosHelp)
      .flag("out", "", "write circuit.json, circuit.dot, report.html and graph.json here")
      .flag("mib", "", "also write a MIB circuit-track submission here: DIR/<task>_<model>/importances.json\n"
            "                            (the graph JSON with every edge's score; MIB thresholds it itself)")
      .flag("mib-model", "", "the model's name in the MIB folder (MIB's: gpt2, qwen2.5, gemma2, llama3);\n"
            "                            default: the model directory's name");
}

// The ranking in a sentence, for the run's header and its settings.
std::string ranking_description(const DiscoverOptions& o, const MethodInfo& info) {
  if (info.id != MethodId::Sae && info.id != MethodId::SaePaper) return std::string(info.name) + " head score: " + info.summary;
  const std::string p = paper_score_label(o);
  if (o.level == Level::Edge)
    return "edge count: how often a head is in the top code pairs seen only on positive prompts (the paper's edge variant)";
  if (o.score == SaeScore::Paper)
    return p + ": codes a head emits on positive prompts and never on negative ones" +
           (o.normalise ? std::string(", over all its codes") : std::string()) + " (O'Neill & Bui)";
  if (o.score == SaeScore::Null)
    return "null-corrected |P\\N|: mean over random splits of |P_A \\ N_B| - |P_A \\ P_B| (P_A, P_B halves of the positives)";
  const std::string base = o.score == SaeScore::Causal ? "the null-corrected |P\\N|" : p;
  return std::string(to_string(o.score)) + " (rank mean): mean of the normalised ranks of " + base +
         " and of one attribution-patching pass";
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// A score cell: counts as integers (one trial) or one decimal (a mean), other scores with three
// decimals (the baselines' with four significant digits); "mean ± std" over several trials.
std::string score_cell(double mean, double sd, int trials, bool count, bool sae) {
  const char* f = count ? (trials > 1 ? "%.1f" : "%.0f") : sae ? "%.3f" : "%.4g";
  return trials > 1 ? fmt(f, mean) + " ± " + fmt(f, sd) : fmt(f, mean);
}

// What the run is, how its scores read, and whether it is an SAE run.
struct RunLabels {
  const MethodInfo& info;
  bool sae;
  std::string level, ranking, paper;  // paper: "" for the other methods
  bool rank_counts = false, paper_counts = false;
};

RunLabels labels_of(MethodId id, const DiscoverOptions& o) {
  const MethodInfo& info = method_info(id);
  RunLabels l{info, id == MethodId::Sae || id == MethodId::SaePaper, "", "", ""};
  l.level = info.edges ? "edge" : l.sae ? to_string(o.level) : "node";
  if (!l.sae) {
    l.ranking = std::string(info.name) + " head score";
    return l;
  }
  l.ranking = ranking_label(o);
  l.paper = paper_score_label(o);
  l.rank_counts = l.ranking == l.paper && !o.normalise;
  l.paper_counts = !o.normalise || o.level == Level::Edge;
  return l;
}

MethodOptions options_from_flags(const Args& a, const TokenizedTask& task, const Model& m, SaeScore score, Level level) {
  MethodOptions mo;
  method_options_from_flags(a, mo);
  mo.settings.ablation = parse_ablation_kind(a.str("method-ablation"));
  mo.settings.seed = a.seed("seed");
  DiscoverOptions& o = mo.discover;
  o.sae.n_features = a.integer("features");
  o.sae.l1 = static_cast<float>(a.given("l1") ? a.number("l1") : task.name == "docstring" ? 0.05 : 0.02);
  o.sae.lr = static_cast<float>(a.number("lr"));
  o.sae.epochs = a.integer("epochs");
  o.train_prompts = a.integer("train-prompts");
  o.normalise = a.on("normalise");
  o.trials = a.integer("trials");
  o.score = score;
  o.seed = a.seed("seed");
  o.level = level;
  const std::string pos = a.str("position");
  if (pos != "mean" && pos != "last" && !task.positions.count(pos)) {
    std::string names;
    for (const auto& [k, v] : task.positions) names += ", " + k;
    throw UsageError("discover: --position must be mean, last" + names + " (the positions of task " + task.name + "), got '" + pos + "'");
  }
  o.position = pos == "mean" ? PositionReduce::Mean : pos == "last" ? PositionReduce::Last : PositionReduce::Named;
  o.position_name = pos;
  if (a.given("top-k")) {
    o.top_k = a.integer("top-k");
    if (o.top_k > m.cfg.n_heads_total())
      throw UsageError("discover: --top-k " + std::to_string(o.top_k) + " is more than the model's " +
                       std::to_string(m.cfg.n_heads_total()) + " heads");
  }
  if (a.given("threshold")) o.threshold = a.number("threshold");
  if (a.given("top-edges")) o.top_edges = a.integer("top-edges");
  o.faithfulness = !a.on("no-faithfulness");
  o.faith.ablation = parse_ablation_kind(a.str("ablation"));
  o.faith.n_prompts = a.integer("faith-prompts");
  return mo;
}

void print_header(const Args& a, const DiscoverResult& r, const Model& m, const TokenizedTask& task, const MethodOptions& mo,
                  const RunLabels& l, const BosChoice& bos) {
  const DiscoverOptions& o = mo.discover;
  const std::string bos_s = std::string(bos.prepend ? "prepended" : "not prepended") + " (" + bos.why + ")";
  if (l.sae)
    std::printf("model %s (%s), task %s: %d positive / %d negative prompts, %d trial%s, %s level, position %s,\nBOS %s\n",
                a.str("MODEL").c_str(), m.cfg.family.c_str(), task.name.c_str(), r.n_positive, r.n_negative, o.trials,
                o.trials == 1 ? "" : "s", l.level.c_str(), a.str("position").c_str(), bos_s.c_str());
  else
    std::printf("model %s (%s), task %s: method %s, %zu prompts, %s ablation, %zu run%s,\nBOS %s\n", a.str("MODEL").c_str(),
                m.cfg.family.c_str(), task.name.c_str(), l.info.name, std::min<size_t>(mo.settings.n_prompts, task.size()),
                to_string(mo.settings.ablation).c_str(), r.head_scores.size(), r.head_scores.size() == 1 ? "" : "s",
                bos_s.c_str());
  std::printf("ranking: %s%s\n", ranking_description(o, l.info).c_str(), r.head_scores.size() > 1 ? " (mean over trials)" : "");
  std::printf("circuit size: %s\n", r.size_rule.c_str());
}

// The ranking, the circuit, and what graph.json keeps.
void print_circuit(const DiscoverResult& r, const Model& m, const RunLabels& l, const GroundTruth* truth) {
  const int H = m.cfg.n_heads, trials = static_cast<int>(r.head_scores.size());
  const bool two = l.sae && l.ranking != l.paper;
  std::vector<std::string> header = {"rank", "head", l.ranking + (trials > 1 ? " (mean ± std)" : "")};
  if (two) header.push_back(l.paper);
  if (l.sae) header.push_back("softmax(" + l.paper + ")");
  if (truth) header.push_back("in truth");
  header.push_back("in circuit");
  TextTable table(header);
  std::vector<bool> labels, in_circuit(r.mean_scores.size(), false);
  if (truth) labels = head_labels(*truth, m.cfg.n_layers, H);
  for (int h : r.circuit) in_circuit[h] = true;
  std::vector<int> order(r.mean_scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return r.mean_scores[x] > r.mean_scores[y]; });
  const int show = std::min<int>(static_cast<int>(order.size()), std::max<int>(20, static_cast<int>(r.circuit.size()) + 5));
  for (int i = 0; i < show; ++i) {
    const int h = order[i];
    std::vector<std::string> row = {std::to_string(i + 1), head_name(h, H),
                                    score_cell(r.mean_scores[h], r.std_scores[h], trials, l.rank_counts, l.sae)};
    if (two) row.push_back(score_cell(r.paper_scores[h], r.paper_std[h], trials, l.paper_counts, true));
    if (l.sae) row.push_back(fmt("%.3g", r.paper_softmax[h]));
    if (truth) row.push_back(labels[h] ? "yes" : "-");
    row.push_back(in_circuit[h] ? "yes" : "-");
    table.row(row);
  }
  std::printf("\n%s", table.str().c_str());
  if (show < static_cast<int>(order.size())) std::printf("(%zu more heads; all of them in circuit.json)\n", order.size() - show);
  std::printf("\ncircuit (%zu heads):", r.circuit.size());
  for (int h : r.circuit) std::printf(" %s", head_name(h, H).c_str());
  std::printf("\n");
  if (r.boundary_ties > 0)
    std::printf("note: %d more head%s tie%s the last circuit head's %s; the lower head indices were kept\n", r.boundary_ties,
                r.boundary_ties == 1 ? "" : "s", r.boundary_ties == 1 ? "s" : "", l.ranking.c_str());
  if (r.graph) {
    int edges = 0, nodes = 0;
    for (char c : r.graph->edge_in_graph) edges += c;
    for (char c : r.graph->node_in_graph) nodes += c;
    std::printf("graph circuit: %d of %d edges, %d of %d nodes besides the logits (%s)\n", edges, r.graph->graph.n_edges(),
                nodes, r.graph->graph.n_senders(),
                l.info.id == MethodId::Acdc ? "ACDC's kept edges"
                : l.info.edges              ? "the best edges by |score|"
                                            : "every edge among the circuit's heads, the MLPs and the input");
  }
}

void print_evaluation(const DiscoverResult& r, const GroundTruth& truth) {
  const size_t k = truth.heads.size();
  const bool several = r.head_scores.size() > 1;
  std::printf("\nagainst %s (%zu heads; used for evaluation only):\n", truth.name.c_str(), k);
  std::printf("  ROC AUC %.3f (of the %s)\n", r.mean_eval->auc, several ? "mean ranking over trials" : "ranking");
  if (several) {
    std::vector<double> aucs;
    for (auto& e : r.evals) aucs.push_back(e.auc);
    const MeanStd ma = mean_std(aucs);
    std::printf("  ROC AUC per trial %.3f ± %.3f\n", ma.mean, ma.std);
  }
  std::printf("  the circuit (%zu heads): precision %.3f, recall %.3f, F1 %.3f\n", r.circuit.size(),
              r.circuit_eval->precision, r.circuit_eval->recall, r.circuit_eval->f1);
  std::printf("  at the truth's size (top %zu of the ranking): precision = recall = %.3f\n", k, r.mean_eval->at_k.precision);
  if (r.edge_auc)
    std::printf("  edge ROC AUC %.3f (over every head -> later head edge, q/k/v merged%s)\n", *r.edge_auc,
                r.edge_auc_with_logits ? ", and head -> logits edge" : "");
  if (r.graph_edge_auc)
    std::printf("  edge ROC AUC %.3f (over all %zu edges of the graph: input, MLP and logits edges included)\n",
                *r.graph_edge_auc, r.mean_edge_scores.size());
}

void print_faithfulness_and_time(const DiscoverResult& r, const DiscoverOptions& o, const TokenizedTask& task,
                                 const RunLabels& l) {
  if (r.faith) {
    std::printf("\nfaithfulness (%s ablation of the heads outside the circuit; metric: %s):\n"
                "  full model %.4g, all heads ablated %.4g; the circuit (%zu heads) keeps %.1f%% of the full metric;\n"
                "  CPR %.3f, CMD %.3f (over circuit sizes along the ranking)\n",
                to_string(o.faith.ablation).c_str(), metric_label(task).c_str(), r.faith->full, r.faith->empty,
                r.circuit.size(), 100 * r.circuit_faithfulness, r.faith->cpr, r.faith->cmd);
  } else if (o.faithfulness) {
    std::printf("\nfaithfulness: not computed (task %s has no corrupt prompts)\n", task.name.c_str());
  }
  if (r.mib_faith) {
    const MibFaithfulness& f = *r.mib_faith;
    std::printf("MIB faithfulness (edge level, as MIB's circuit track: the best floor(p x %d) edges kept for\n"
                "  p = 0.001, ..., 1, every other edge patched from the corrupt prompt; f = (M - M(no edge)) /\n"
                "  (M(all) - M(no edge)), %d prompts): CPR %.3f, CMD %.3f (areas over p)\n",
                f.edges.back(), f.n_prompts, f.cpr, f.cmd);
  } else if (!r.mib_faith_note.empty()) {
    std::printf("MIB faithfulness: not computed (%s)\n", r.mib_faith_note.c_str());
  }
  if (l.sae)
    std::printf("\ntime: forward passes %.3f s, SAE training %.3f s, codes %.3f s, scores %.3f s, faithfulness %.3f s, total %.3f s\n",
                r.seconds_collect, r.seconds_train, r.seconds_codes, r.seconds_scores, r.seconds_faithfulness, r.seconds_total);
  else
    std::printf("\ntime: %s %.3f s, faithfulness %.3f s, total %.3f s\n", l.info.name, r.seconds_scores,
                r.seconds_faithfulness, r.seconds_total);
}

// The settings the run used, after defaults: not the raw flags.
std::vector<std::pair<std::string, std::string>> run_settings(const Args& a, const DiscoverResult& r, const Model& m,
                                                              const TokenizedTask& task, const MethodOptions& mo,
                                                              const RunLabels& l, const BosChoice& bos,
                                                              const GroundTruth* truth) {
  const DiscoverOptions& o = mo.discover;
  std::vector<std::pair<std::string, std::string>> st;
  st.push_back({"method", l.info.name});  // what it ranks by is the "ranking" setting
  st.push_back({"task", l.sae ? task.name + " (" + std::to_string(r.n_positive) + " positive, " + std::to_string(r.n_negative) +
                                    " negative prompts, seed " + std::to_string(o.seed) + ")"
                              : task.name + " (" + std::to_string(std::min<size_t>(mo.settings.n_prompts, task.size())) +
                                    " prompts, seed " + std::to_string(o.seed) + ")"});
  st.push_back({"metric", metric_label(task)});
  if (task.name == "induction")
    st.push_back({"induction words", !a.str("induction-words").empty() ? a.str("induction-words")
                                     : std::filesystem::exists(own_induction_words_path(a.str("MODEL")))
                                         ? own_induction_words_path(a.str("MODEL")) + " (the model's own)"
                                         : "every plain word token of the vocabulary"});
  st.push_back({"BOS", std::string(bos.prepend ? "prepended" : "not prepended") + " (" + bos.why + ")"});
  st.push_back({"weights", a.on("no-process-weights") ? "raw" : "TransformerLens-processed (LayerNorm folded, centred)"});
  st.push_back({"level", l.level});
  const bool node_sae = l.sae && o.level == Level::Node;
  st.push_back({node_sae ? "ranking (--score " + std::string(to_string(o.score)) + ")" : "ranking",
                ranking_description(o, l.info) + (l.sae && o.level == Level::Edge
                                                      ? " (k = " + std::to_string(reference_edge_k(m.cfg.n_heads)) +
                                                            " entries of the sorted pair list)"
                                                      : "")});
  if (l.sae) {
    const std::string pos = a.str("position");
    st.push_back({"head output", pos == "mean" ? "mean over positions" : pos == "last" ? "last position" : "position " + pos});
    st.push_back({"SAE", std::to_string(o.sae.n_features) + " features, l1 " + fmt("%g", o.sae.l1) +
                             (a.given("l1") ? "" : " (task default)") + ", lr " + fmt("%g", o.sae.lr) + ", " +
                             std::to_string(o.sae.epochs) + " epochs, " + std::to_string(o.train_prompts) + " training prompts"});
    st.push_back({"|P\\N|", o.normalise ? "normalised by |P u N|" : "count"});
  } else {
    st.push_back({"ablation", to_string(mo.settings.ablation) + " (the method's)"});
  }
  st.push_back({"trials", std::to_string(r.head_scores.size()) + (r.head_scores.size() > 1 ? " (trial t uses seed + t)" : "")});
  st.push_back({"circuit size", r.size_rule});
  st.push_back({"ground truth", truth ? truth->name + (a.str("truth").empty() ? " (the model's own reference circuit)" : "") +
                                            ", for evaluation only"
                                      : "none"});
  st.push_back({"faithfulness", r.faith ? to_string(o.faith.ablation) + " ablation, " +
                                              std::to_string(std::min<size_t>(o.faith.n_prompts, task.size())) + " prompts"
                                : o.faithfulness ? "not computed (no corrupt prompts)" : "off (--no-faithfulness)"});
  return st;
}

void write_run(const Args& a, int argc, char** argv, const DiscoverResult& r, const Model& m, const TokenizedTask& task,
               const MethodOptions& mo, const RunLabels& l, const BosChoice& bos, const GroundTruth* truth) {
  RunInfo run;
  run.model_dir = a.str("MODEL");
  run.model_family = m.cfg.family;
  run.task = task.name;
  run.method = r.method;
  run.level = l.level;
  run.ranking = l.ranking;
  run.paper_score = l.paper;
  run.settings = run_settings(a, r, m, task, mo, l, bos, truth);
  run.seed = mo.discover.seed;
  run.n_layers = m.cfg.n_layers;
  run.n_heads = m.cfg.n_heads;
  run.truth_name = truth ? truth->name : "";
  if (truth) run.truth_heads = truth->heads;
  run.metric_name = metric_label(task);
  std::ostringstream cl;
  cl << "circuitscan discover";
  for (int i = 0; i < argc; ++i) cl << " " << argv[i];
  run.command_line = cl.str();
  write_outputs(a.str("out"), r, run);
  std::printf("wrote %s/{circuit.json,circuit.dot,report.html,graph.json}\n", a.str("out").c_str());
}

}  // namespace

int cmd_discover(int argc, char** argv) {
  Args a("discover",
         "Find a task's circuit. The default method is the discrete sparse-autoencoder method (O'Neill &\n"
         "Bui 2024): head outputs on positive and negative prompts, one SAE over all heads, integer codes,\n"
         "heads scored by the codes that appear only on positive prompts. --method runs any other method\n"
         "on the same prompts; each writes the same four files and, with a truth, its evaluation.");
  declare_flags(a);
  precision_flag(a);
  if (!a.parse(argc, argv)) return 0;
  const MethodId id = parse_method(a.str("method"));
  const MethodInfo& info = method_info(id);
  const bool sae = id == MethodId::Sae || id == MethodId::SaePaper;
  if (a.given("top-k") && a.given("threshold")) throw UsageError("discover: give --top-k or --threshold, not both");
  const SaeScore given_score = parse_sae_score(a.str("score"));
  if (a.given("score") && !(id == MethodId::Sae || (id == MethodId::SaePaper && given_score == SaeScore::Paper)))
    throw UsageError("discover: --score is method sae's ranking (--method " + std::string(info.name) + " has its own)");
  const SaeScore score = id == MethodId::SaePaper ? SaeScore::Paper : given_score;
  const Level level = parse_level(a.str("level"));
  if (a.given("level") && !sae) throw UsageError("discover: --level is the SAE methods' (--method sae or sae-paper)");
  if (level == Level::Edge && a.given("score"))
    throw UsageError("discover: --score ranks heads at node level; --level edge ranks them by their edge count");
  if (sae && a.given("threshold") && a.number("threshold") > 1)
    throw UsageError("discover: --threshold compares a softmax for the SAE methods, so it must be in [0, 1], got " +
                     a.str("threshold"));
  if (!a.str("out").empty()) check_output_dir(a.str("out"), "--out", kOutputs);

  Model m = load_model(a.str("MODEL"), {.process_weights = !a.on("no-process-weights"),
                                        .precision = precision_from_flag(a)});
  Tokenizer tok = Tokenizer::for_model_dir(a.str("MODEL"));
  const BosChoice bos = bos_from_flags(a, a.str("MODEL"), tok);
  TokenizedTask task = task_from_flags(a, tok, a.str("MODEL"));
  print_warnings(task.warnings);
  std::optional<GroundTruth> truth = resolve_truth(a.str("truth"), a.str("MODEL"), task.name);
  const std::string mib_model = a.str("mib-model").empty() ? mib_model_name(a.str("MODEL")) : a.str("mib-model");
  const std::string mib_dir = a.str("mib").empty() ? "" : a.str("mib") + "/" + mib_folder_name(task.name, mib_model);
  if (!mib_dir.empty()) check_output_dir(mib_dir, "--mib", {"importances.json"});

  MethodOptions mo = options_from_flags(a, task, m, score, level);
  DiscoverOptions& o = mo.discover;
  if (sae)  // head outputs of every positive and negative prompt, [N, heads, d_model] floats each
    check_memory(2.0 * static_cast<double>(task.size()) * m.cfg.n_heads_total() * m.cfg.d_model * sizeof(float),
                 "the head outputs of " + std::to_string(task.size()) + " positive and negative prompts", "--prompts");
  ProgressBar bar;
  o.progress = [&](const std::string& phase, double f) { bar.update(phase, f); };
  DiscoverResult r = discover_with(id, m, task, mo, truth ? &*truth : nullptr);
  bar.finish();

  const RunLabels l = labels_of(id, o);
  print_header(a, r, m, task, mo, l, bos);
  print_circuit(r, m, l, truth ? &*truth : nullptr);
  if (truth) print_evaluation(r, *truth);
  print_faithfulness_and_time(r, o, task, l);
  if (!a.str("out").empty()) write_run(a, argc, argv, r, m, task, mo, l, bos, truth ? &*truth : nullptr);
  if (!mib_dir.empty() && r.graph) {
    write_mib_submission(a.str("mib"), task.name, mib_model, *r.graph);
    std::printf("wrote %s/importances.json (MIB circuit-track submission)\n", mib_dir.c_str());
  }
  return 0;
}

}  // namespace cs
