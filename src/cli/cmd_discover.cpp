#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
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
#include "report/text_table.h"
#include "sae/code_scores.h"

namespace cs {

namespace {

std::string head_name(int idx, int H) { return std::to_string(idx / H) + "." + std::to_string(idx % H); }

// The ranking in a sentence, for the run's header and its settings.
std::string ranking_description(const DiscoverOptions& o) {
  const std::string p = paper_score_label(o);
  if (o.level == Level::Edge)
    return "edge count: how often a head is in the top code pairs seen only on positive prompts (the paper's edge variant)";
  if (o.score == "paper")
    return p + ": codes a head emits on positive prompts and never on negative ones" +
           (o.sae.normalise ? std::string(", over all its codes") : std::string()) + " (O'Neill & Bui)";
  if (o.score == "null")
    return "null-corrected |P\\N|: mean over random splits of |P_A \\ N_B| - |P_A \\ P_B| (P_A, P_B halves of the positives)";
  const std::string base = o.score == "causal" ? "the null-corrected |P\\N|" : p;
  return o.score + " (rank mean): mean of the normalised ranks of " + base + " and of one attribution-patching pass";
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// A score cell: counts as integers (one trial) or one decimal (a mean), other scores with three
// decimals; "mean ± std" over several trials.
std::string score_cell(double mean, double sd, int trials, bool count) {
  const char* f = count ? (trials > 1 ? "%.1f" : "%.0f") : "%.3f";
  return trials > 1 ? fmt(f, mean) + " ± " + fmt(f, sd) : fmt(f, mean);
}

}  // namespace

int cmd_discover(int argc, char** argv) {
  Args a("discover",
         "Find a task's circuit with the discrete sparse-autoencoder method (O'Neill & Bui 2024):\n"
         "head outputs on positive and negative prompts, one SAE over all heads, integer codes,\n"
         "heads scored by the codes that appear only on positive prompts.");
  a.positional("MODEL", "Hugging Face model directory")
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file of prompts")
      .choice_flag("method", "sae", {"sae"}, "discovery method (the baselines are in `compare`)")
      .choice_flag("level", "node", {"node", "edge"},
                   "node: heads ranked by --score; edge: head-pair code scores reduced to heads\n"
                   "                            (the edge count, as the paper's edge variant; --score does not apply)")
      .int_flag("features", "200", 1, 100000, "SAE features")
      .real_flag("l1", "", RealRange::non_negative(), "SAE L1 coefficient; by default 0.05 for docstring, else 0.02, as the paper")
      .real_flag("lr", "0.001", RealRange::positive(), "SAE Adam learning rate")
      .int_flag("epochs", "500", 1, 1000000, "SAE full-batch epochs")
      .int_flag("train-prompts", "10", 1, kMaxPrompts, "prompts (pooled positives+negatives) the SAE is trained on")
      .int_flag("prompts", "250", 1, kMaxPrompts, kPromptsHelp)
      .int_flag("trials", "1", 1, kMaxTrials, "independent trials (different SAE prompts and seeds): mean ± std")
      .int_flag("seed", "0", 0, kMaxSeed, "seed of the task prompts and of trial 0 (trial t uses seed+t)")
      .flag("position", "mean", "head output reduction: mean (paper), last, or a position of the task (e.g. S2, end)")
      .choice_flag("score", "confirmed", {"confirmed", "paper", "null", "causal"},
                   "node ranking: confirmed (paper's |P\\N| + one attribution pass; the default: higher AUC on every zoo task), paper (O'Neill & Bui's |P\\N| alone), null (null-corrected), causal (null + one attribution pass)")
      .toggle("normalise", "divide |P\\N| by |P u N| (the paper's normalised variant)")
      .int_flag("top-k", "", 0, 1000000, "circuit = the K best heads of the ranking (at most the model's heads)")
      .real_flag("threshold", "", RealRange::closed(0, 1),
                 "circuit size = heads whose softmax of the paper's |P\\N| (edge level: edge count)\n"
                 "                            is >= X (the ranking picks which); default: heads whose |P\\N| is above its mean")
      .flag("truth", "", "ground truth to evaluate against (never used to size or pick the circuit): name\n"
            "                            (data/truth), file, or none; default MODEL/circuits/TASK.json if present")
      .choice_flag("ablation", "mean", {"mean", "resample", "zero"}, "faithfulness ablation: mean (over corrupted prompts), resample, zero")
      .int_flag("faith-prompts", "100", 1, kMaxPrompts, "prompts for the faithfulness curve")
      .toggle("no-faithfulness", "skip the faithfulness curve")
      .toggle("no-process-weights", "use raw weights (the paper used TransformerLens-processed weights)")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", kPrependBosHelp)
      .toggle("no-prepend-bos", kNoPrependBosHelp)
      .flag("out", "", "write circuit.json, circuit.dot and report.html here");
  precision_flag(a);
  if (!a.parse(argc, argv)) return 0;
  if (a.given("top-k") && a.given("threshold")) throw UsageError("discover: give --top-k or --threshold, not both");
  const std::string level = a.str("level");
  if (level == "edge" && a.given("score"))
    throw UsageError("discover: --score ranks heads at node level; --level edge ranks them by their edge count");
  if (!a.str("out").empty()) check_output_dir(a.str("out"), "--out", {"circuit.json", "circuit.dot", "report.html"});

  Model m = load_model(a.str("MODEL"), {.process_weights = !a.on("no-process-weights"),
                                        .precision = precision_from_flag(a)});
  Tokenizer tok = Tokenizer::for_model_dir(a.str("MODEL"));
  const BosChoice bos = bos_from_flags(a, a.str("MODEL"), tok);
  TokenizedTask task = task_from_flags(a, tok, a.str("MODEL"));
  print_warnings(task.warnings);
  std::optional<GroundTruth> truth = resolve_truth(a.str("truth"), a.str("MODEL"), task.name);

  DiscoverOptions o;
  o.sae.sae.n_features = a.integer("features");
  o.sae.sae.l1 = static_cast<float>(a.given("l1") ? a.number("l1") : task.name == "docstring" ? 0.05 : 0.02);
  o.sae.sae.lr = static_cast<float>(a.number("lr"));
  o.sae.sae.epochs = a.integer("epochs");
  o.sae.train_prompts = a.integer("train-prompts");
  o.sae.normalise = a.on("normalise");
  o.trials = a.integer("trials");
  o.score = a.str("score");
  o.seed = a.seed("seed");
  o.level = level == "edge" ? Level::Edge : Level::Node;
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
  o.faithfulness = !a.on("no-faithfulness");
  o.faith.ablation = parse_ablation_kind(a.str("ablation"));
  o.faith.n_prompts = a.integer("faith-prompts");
  // Head outputs of every positive and negative prompt, [N, heads, d_model] floats each.
  check_memory(2.0 * static_cast<double>(task.size()) * m.cfg.n_heads_total() * m.cfg.d_model * sizeof(float),
               "the head outputs of " + std::to_string(task.size()) + " positive and negative prompts", "--prompts");
  ProgressBar bar;
  o.progress = [&](const std::string& phase, double f) { bar.update(phase, f); };

  DiscoverResult r = discover(m, task, o, truth ? &*truth : nullptr);
  bar.finish();

  const int H = m.cfg.n_heads;
  const std::string rank_name = ranking_label(o), paper_name = paper_score_label(o);
  const bool ranking_is_paper = rank_name == paper_name;
  const bool rank_counts = ranking_is_paper && !o.sae.normalise, paper_counts = !o.sae.normalise || o.level == Level::Edge;
  const std::string metric = metric_label(task);
  std::printf("model %s (%s), task %s: %d positive / %d negative prompts, %d trial%s, %s level, position %s,\n"
              "BOS %s (%s)\n",
              a.str("MODEL").c_str(), m.cfg.family.c_str(), task.name.c_str(), r.n_positive, r.n_negative, o.trials,
              o.trials == 1 ? "" : "s", level.c_str(), pos.c_str(), bos.prepend ? "prepended" : "not prepended", bos.why.c_str());
  std::printf("ranking: %s%s\n", ranking_description(o).c_str(), o.trials > 1 ? " (mean over trials)" : "");
  std::printf("circuit size: %s\n", r.size_rule.c_str());

  std::vector<std::string> header = {"rank", "head", rank_name + (o.trials > 1 ? " (mean ± std)" : "")};
  if (!ranking_is_paper) header.push_back(paper_name);
  header.push_back("softmax(" + paper_name + ")");
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
                                    score_cell(r.mean_scores[h], r.std_scores[h], o.trials, rank_counts)};
    if (!ranking_is_paper) row.push_back(score_cell(r.paper_scores[h], r.paper_std[h], o.trials, paper_counts));
    row.push_back(fmt("%.3g", r.paper_softmax[h]));
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
                r.boundary_ties == 1 ? "" : "s", r.boundary_ties == 1 ? "s" : "", rank_name.c_str());
  if (truth) {
    const size_t k = truth->heads.size();
    std::printf("\nagainst %s (%zu heads; used for evaluation only):\n", truth->name.c_str(), k);
    std::printf("  ROC AUC %.3f (of the %s)\n", r.mean_eval->auc, o.trials > 1 ? "mean ranking over trials" : "ranking");
    if (o.trials > 1) {
      std::vector<double> aucs;
      for (auto& e : r.evals) aucs.push_back(e.auc);
      const MeanStd ma = mean_std(aucs);
      std::printf("  ROC AUC per trial %.3f ± %.3f\n", ma.mean, ma.std);
    }
    std::printf("  the circuit (%zu heads): precision %.3f, recall %.3f, F1 %.3f\n", r.circuit.size(),
                r.circuit_eval->precision, r.circuit_eval->recall, r.circuit_eval->f1);
    std::printf("  at the truth's size (top %zu of the ranking): precision = recall = %.3f\n", k, r.mean_eval->at_k.precision);
  }
  if (r.faith) {
    std::printf("\nfaithfulness (%s ablation of the heads outside the circuit; metric: %s):\n"
                "  full model %.4g, all heads ablated %.4g; the circuit (%zu heads) keeps %.1f%% of the full metric;\n"
                "  CPR %.3f, CMD %.3f (over circuit sizes along the ranking)\n",
                to_string(o.faith.ablation).c_str(), metric.c_str(), r.faith->full, r.faith->empty, r.circuit.size(),
                100 * r.circuit_faithfulness, r.faith->cpr, r.faith->cmd);
  } else if (o.faithfulness) {
    std::printf("\nfaithfulness: not computed (task %s has no corrupt prompts)\n", task.name.c_str());
  }
  std::printf("\ntime: forward passes %.3f s, SAE training %.3f s, codes %.3f s, scores %.3f s, faithfulness %.3f s, total %.3f s\n",
              r.seconds_collect, r.seconds_train, r.seconds_codes, r.seconds_scores, r.seconds_faithfulness, r.seconds_total);

  if (!a.str("out").empty()) {
    RunInfo info;
    info.model_dir = a.str("MODEL");
    info.model_family = m.cfg.family;
    info.task = task.name;
    info.method = "sae";
    info.level = level;
    info.ranking = rank_name;
    info.paper_score = paper_name;
    // The settings the run used, after defaults: not the raw flags.
    auto& st = info.settings;
    st.push_back({"task", task.name + " (" + std::to_string(r.n_positive) + " positive, " + std::to_string(r.n_negative) +
                              " negative prompts, seed " + std::to_string(o.seed) + ")"});
    st.push_back({"metric", metric});
    if (task.name == "induction")
      st.push_back({"induction words", !a.str("induction-words").empty() ? a.str("induction-words")
                                       : std::filesystem::exists(own_induction_words_path(a.str("MODEL")))
                                           ? own_induction_words_path(a.str("MODEL")) + " (the model's own)"
                                           : "every plain word token of the vocabulary"});
    st.push_back({"BOS", std::string(bos.prepend ? "prepended" : "not prepended") + " (" + bos.why + ")"});
    st.push_back({"weights", a.on("no-process-weights") ? "raw" : "TransformerLens-processed (LayerNorm folded, centred)"});
    st.push_back({"level", level});
    st.push_back({o.level == Level::Node ? "ranking (--score " + o.score + ")" : "ranking",
                  ranking_description(o) + (o.level == Level::Edge ? " (k = " + std::to_string(reference_edge_k(H)) +
                                                                         " entries of the sorted pair list)"
                                                                   : "")});
    st.push_back({"head output", pos == "mean" ? "mean over positions" : pos == "last" ? "last position" : "position " + pos});
    st.push_back({"SAE", std::to_string(o.sae.sae.n_features) + " features, l1 " + fmt("%g", o.sae.sae.l1) +
                             (a.given("l1") ? "" : " (task default)") + ", lr " + fmt("%g", o.sae.sae.lr) + ", " +
                             std::to_string(o.sae.sae.epochs) + " epochs, " + std::to_string(o.sae.train_prompts) +
                             " training prompts"});
    st.push_back({"|P\\N|", o.sae.normalise ? "normalised by |P u N|" : "count"});
    st.push_back({"trials", std::to_string(o.trials) + (o.trials > 1 ? " (trial t uses seed + t)" : "")});
    st.push_back({"circuit size", r.size_rule});
    st.push_back({"ground truth", truth ? truth->name + (a.str("truth").empty() ? " (the model's own reference circuit)" : "") +
                                              ", for evaluation only"
                                        : "none"});
    st.push_back({"faithfulness", r.faith ? to_string(o.faith.ablation) + " ablation, " +
                                                std::to_string(std::min<size_t>(o.faith.n_prompts, task.size())) + " prompts"
                                  : o.faithfulness ? "not computed (no corrupt prompts)" : "off (--no-faithfulness)"});
    info.seed = o.seed;
    info.n_layers = m.cfg.n_layers;
    info.n_heads = H;
    info.truth_name = truth ? truth->name : "";
    if (truth) info.truth_heads = truth->heads;
    info.metric_name = metric;
    std::ostringstream cl;
    cl << "circuitscan discover";
    for (int i = 0; i < argc; ++i) cl << " " << argv[i];
    info.command_line = cl.str();
    write_outputs(a.str("out"), r, info);
    std::printf("wrote %s/{circuit.json,circuit.dot,report.html}\n", a.str("out").c_str());
  }
  return 0;
}

}  // namespace cs
