#include "cli/discover_command.h"

#include <cstdio>
#include <filesystem>

#include "cli/task_flags.h"
#include "interp/task_metric.h"
#include "ops/error.h"
#include "sae/code_scores.h"

namespace cs {

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

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

Args discover_args() {
  Args a("discover",
         "Find a task's circuit with the discrete sparse-autoencoder method (O'Neill & Bui 2024):\n"
         "head outputs on positive and negative prompts, one SAE over all heads, integer codes,\n"
         "heads scored by the codes that appear only on positive prompts.");
  a.positional("MODEL", kModelHelp)
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
  return a;
}

void check_discover_flags(const Args& a) {
  // Single values (ranges, choices) are checked by the parser; here the combinations.
  if (a.given("top-k") && a.given("threshold")) throw UsageError("discover: give --top-k or --threshold, not both");
  if (a.str("level") == "edge" && a.given("score"))
    throw UsageError("discover: --score ranks heads at node level; --level edge ranks them by their edge count");
}

bool discover_processes_weights(const Args& a) { return !a.on("no-process-weights"); }

DiscoverPlan plan_discover(const Args& a, const Model& m, const Tokenizer& tok, std::optional<TokenizedTask> given) {
  DiscoverPlan p;
  p.bos = bos_from_flags(a, m.dir, tok);
  p.task = given ? std::move(*given) : task_from_flags(a, tok, m.dir);
  const TokenizedTask& task = p.task;
  p.truth = resolve_truth(a.str("truth"), m.dir, task.name);

  DiscoverOptions& o = p.options;
  o.sae.sae.n_features = a.integer("features");
  o.sae.sae.l1 = static_cast<float>(a.given("l1") ? a.number("l1") : task.name == "docstring" ? 0.05 : 0.02);
  o.sae.sae.lr = static_cast<float>(a.number("lr"));
  o.sae.sae.epochs = a.integer("epochs");
  o.sae.train_prompts = a.integer("train-prompts");
  o.sae.normalise = a.on("normalise");
  o.trials = a.integer("trials");
  o.score = a.str("score");
  o.seed = a.seed("seed");
  o.level = a.str("level") == "edge" ? Level::Edge : Level::Node;
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
  return p;
}

RunInfo discover_run_info(const Args& a, const Model& m, const DiscoverPlan& p, const DiscoverResult& r,
                          const std::string& command_line) {
  const TokenizedTask& task = p.task;
  const std::optional<GroundTruth>& truth = p.truth;
  const DiscoverOptions& o = p.options;
  const BosChoice& bos = p.bos;
  const std::string level = a.str("level"), pos = a.str("position"), metric = metric_label(task);
  const int H = m.cfg.n_heads;
  RunInfo info;
  info.model_dir = m.dir;
  info.model_family = m.cfg.family;
  info.task = task.name;
  info.method = "sae";
  info.level = level;
  info.ranking = ranking_label(o);
  info.paper_score = paper_score_label(o);
  // The settings the run used, after defaults: not the raw flags.
  auto& st = info.settings;
  st.push_back({"task", task.name + " (" + std::to_string(r.n_positive) + " positive, " + std::to_string(r.n_negative) +
                            " negative prompts, seed " + std::to_string(o.seed) + ")"});
  st.push_back({"metric", metric});
  if (task.name == "induction")
    st.push_back({"induction words", !a.str("induction-words").empty() ? a.str("induction-words")
                                     : std::filesystem::exists(own_induction_words_path(m.dir))
                                         ? own_induction_words_path(m.dir) + " (the model's own)"
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
  info.command_line = command_line;
  return info;
}

}  // namespace cs
