#include "cli/discover_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cli/method_flags.h"
#include "cli/precision_flag.h"
#include "cli/task_flags.h"
#include "interp/task_metric.h"
#include "ops/format.h"
#include "ops/error.h"
#include "sae/code_scores.h"

namespace cs {

namespace {

}  // namespace

Args discover_args() {
  Args a("discover",
         "Find a task's circuit. The default method is the discrete sparse-autoencoder method (O'Neill &\n"
         "Bui 2024): head outputs on positive and negative prompts, one SAE over all heads, integer codes,\n"
         "heads scored by the codes that appear only on positive prompts. --method runs any other method\n"
         "on the same prompts; each writes the same four files and, with a truth, its evaluation.");
  std::vector<std::string> methods;
  for (const MethodInfo& i : method_table()) methods.push_back(i.name);
  a.positional("MODEL", kModelHelp)
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
      .toggle("mib-circuits", "with --mib: write MIB's other form instead, 9 circuits circuit_0.001.json ...\n"
              "                            circuit_0.5.json (the top |score| edges at 0.1 ... 50 % of all edges)")
      .flag("mib-model", "", "the model's name in the MIB folder (MIB's: gpt2, qwen2.5, gemma2, llama3);\n"
            "                            default: the model directory's name");
  precision_flag(a);
  return a;
}

DiscoverMethod check_discover_flags(const Args& a) {
  // Single values (ranges, choices) are checked by the parser; here their combinations.
  DiscoverMethod d;
  d.id = parse_method(a.str("method"));
  const MethodInfo& info = method_info(d.id);
  d.sae = d.id == MethodId::Sae || d.id == MethodId::SaePaper;
  if (a.given("top-k") && a.given("threshold")) throw UsageError("discover: give --top-k or --threshold, not both");
  const SaeScore given_score = parse_sae_score(a.str("score"));
  if (a.given("score") && !(d.id == MethodId::Sae || (d.id == MethodId::SaePaper && given_score == SaeScore::Paper)))
    throw UsageError("discover: --score is method sae's ranking (--method " + std::string(info.name) + " has its own)");
  d.score = d.id == MethodId::SaePaper ? SaeScore::Paper : given_score;
  d.level = parse_level(a.str("level"));
  if (a.given("level") && !d.sae) throw UsageError("discover: --level is the SAE methods' (--method sae or sae-paper)");
  if (d.level == Level::Edge && a.given("score"))
    throw UsageError("discover: --score ranks heads at node level; --level edge ranks them by their edge count");
  if (d.sae && a.given("threshold") && a.number("threshold") > 1)
    throw UsageError("discover: --threshold compares a softmax for the SAE methods, so it must be in [0, 1], got " +
                     a.str("threshold"));
  if (a.on("mib-circuits") && a.str("mib").empty())
    throw UsageError("discover: --mib-circuits chooses the form of the --mib submission; give --mib DIR too");
  MethodOptions probe;
  method_options_from_flags(a, probe);  // its usage errors (--acdc-sweep 1) before the model loads
  return d;
}

bool discover_processes_weights(const Args& a) { return !a.on("no-process-weights"); }

namespace {

MethodOptions options_from_flags(const Args& a, const TokenizedTask& task, const Model& m, const DiscoverMethod& d) {
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
  o.score = d.score;
  o.seed = a.seed("seed");
  o.level = d.level;
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

}  // namespace

DiscoverPlan plan_discover(const Args& a, const Model& m, const Tokenizer& tok, std::optional<TokenizedTask> given) {
  DiscoverPlan p;
  p.method = check_discover_flags(a);
  p.bos = bos_from_flags(a, m.dir, tok);
  p.task = given ? std::move(*given) : task_from_flags(a, tok, m.dir);
  p.truth = resolve_truth(a.str("truth"), m.dir, p.task.name);
  p.options = options_from_flags(a, p.task, m, p.method);
  if (p.method.sae)  // head outputs of every positive and negative prompt, [N, heads, d_model] floats each
    check_memory(2.0 * static_cast<double>(p.task.size()) * m.cfg.n_heads_total() * m.cfg.d_model * sizeof(float),
                 "the head outputs of " + std::to_string(p.task.size()) + " positive and negative prompts", "--prompts");
  return p;
}

DiscoverResult run_discover(const Model& m, const DiscoverPlan& p) {
  return discover_with(p.method.id, m, p.task, p.options, p.truth ? &*p.truth : nullptr);
}

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

namespace {

// The settings the run used, after defaults: not the raw flags.
std::vector<std::pair<std::string, std::string>> run_settings(const Args& a, const DiscoverResult& r, const Model& m,
                                                              const DiscoverPlan& p, const RunLabels& l) {
  const TokenizedTask& task = p.task;
  const MethodOptions& mo = p.options;
  const DiscoverOptions& o = mo.discover;
  const BosChoice& bos = p.bos;
  const std::optional<GroundTruth>& truth = p.truth;
  std::vector<std::pair<std::string, std::string>> st;
  st.push_back({"method", l.info.name});  // what it ranks by is the "ranking" setting
  st.push_back({"task", l.sae ? task.name + " (" + std::to_string(r.n_positive) + " positive, " + std::to_string(r.n_negative) +
                                    " negative prompts, seed " + std::to_string(o.seed) + ")"
                              : task.name + " (" + std::to_string(std::min<size_t>(mo.settings.n_prompts, task.size())) +
                                    " prompts, seed " + std::to_string(o.seed) + ")"});
  st.push_back({"metric", metric_label(task)});
  if (task.name == "induction")
    st.push_back({"induction words", !a.str("induction-words").empty() ? a.str("induction-words")
                                     : std::filesystem::exists(own_induction_words_path(m.dir))
                                         ? own_induction_words_path(m.dir) + " (the model's own)"
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

}  // namespace

RunInfo discover_run_info(const Args& a, const Model& m, const DiscoverPlan& p, const DiscoverResult& r,
                          const std::string& command_line) {
  const RunLabels l = labels_of(p.method.id, p.options.discover);
  RunInfo run;
  run.model_dir = a.str("MODEL");
  run.model_family = m.cfg.family;
  run.task = p.task.name;
  run.method = r.method;
  run.level = l.level;
  run.ranking = l.ranking;
  run.paper_score = l.paper;
  run.settings = run_settings(a, r, m, p, l);
  run.seed = p.options.discover.seed;
  run.n_layers = m.cfg.n_layers;
  run.n_heads = m.cfg.n_heads;
  run.truth_name = p.truth ? p.truth->name : "";
  if (p.truth) run.truth_heads = p.truth->heads;
  run.metric_name = metric_label(p.task);
  run.command_line = command_line;
  return run;
}

}  // namespace cs
