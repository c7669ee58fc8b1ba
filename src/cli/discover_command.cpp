#include "cli/discover_command.h"

#include "cli/task_flags.h"
#include "interp/task_metric.h"
#include "ops/error.h"

namespace cs {

Args discover_args() {
  Args a("discover",
         "Find a task's circuit with the discrete sparse-autoencoder method (O'Neill & Bui 2024):\n"
         "head outputs on positive and negative prompts, one SAE over all heads, integer codes,\n"
         "heads scored by the codes that appear only on positive prompts.");
  a.positional("MODEL", kModelHelp)
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file of prompts")
      .flag("method", "sae", "discovery method (sae)")
      .flag("level", "node", "node: head scores |P\\N|; edge: head-pair code scores reduced to heads")
      .flag("features", "200", "SAE features")
      .flag("l1", "", "SAE L1 coefficient (default 0.05 for docstring, else 0.02, as the paper)")
      .flag("lr", "0.001", "SAE Adam learning rate")
      .flag("epochs", "500", "SAE full-batch epochs")
      .flag("train-prompts", "10", "prompts (pooled positives+negatives) the SAE is trained on")
      .flag("prompts", "250", "positive prompts, and as many negative prompts")
      .flag("trials", "1", "independent trials (different SAE prompts and seeds): mean ± std")
      .flag("seed", "0", "seed of the task prompts and of trial 0 (trial t uses seed+t)")
      .flag("position", "mean", "head output reduction: mean (paper), last, or a task position (e.g. S2)")
      .flag("score", "confirmed", "node ranking: confirmed (paper's |P\\N| + one attribution pass; the default: higher AUC on every zoo task), paper (O'Neill & Bui's |P\\N| alone), null (null-corrected), causal (null + one attribution pass)")
      .toggle("normalise", "divide |P\\N| by |P u N| (the paper's normalised variant)")
      .flag("top-k", "", "circuit = the K best heads")
      .flag("threshold", "", "circuit size = heads whose softmax of the paper's |P\\N| is >= X (the ranking picks which)")
      .flag("truth", "", "ground truth: name (data/truth), file, or none; default MODEL/circuits/TASK.json if present")
      .flag("ablation", "mean", "faithfulness ablation: mean (over corrupted prompts), resample, zero")
      .flag("faith-prompts", "100", "prompts for the faithfulness curve")
      .toggle("no-faithfulness", "skip the faithfulness curve")
      .toggle("no-process-weights", "use raw weights (the paper used TransformerLens-processed weights)")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", "prepend BOS to every prompt")
      .flag("out", "", "write circuit.json, circuit.dot and report.html here");
  return a;
}

void check_discover_flags(const Args& a) {
  if (a.str("method") != "sae") throw UsageError("discover: unknown --method '" + a.str("method") + "' (sae; the baselines are in `compare`)");
  if (a.given("top-k") && a.given("threshold")) throw UsageError("discover: give --top-k or --threshold, not both");
  const std::string score = a.str("score");
  if (score != "paper" && score != "null" && score != "causal" && score != "confirmed")
    throw UsageError("discover: --score must be paper, null, causal or confirmed");
  const std::string level = a.str("level");
  if (level != "node" && level != "edge") throw UsageError("discover: --level must be node or edge");
}

bool discover_processes_weights(const Args& a) { return !a.on("no-process-weights"); }

DiscoverPlan plan_discover(const Args& a, const Model& m, const Tokenizer& tok, std::optional<TokenizedTask> given) {
  DiscoverPlan p;
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
  o.seed = static_cast<uint64_t>(a.integer("seed"));
  o.level = a.str("level") == "edge" ? Level::Edge : Level::Node;
  const std::string pos = a.str("position");
  o.position = pos == "mean" ? PositionReduce::Mean : pos == "last" ? PositionReduce::Last : PositionReduce::Named;
  o.position_name = pos;
  if (a.given("top-k")) o.top_k = a.integer("top-k");
  if (a.given("threshold")) o.threshold = a.number("threshold");
  o.faithfulness = !a.on("no-faithfulness");
  o.faith.ablation = parse_ablation_kind(a.str("ablation"));
  o.faith.n_prompts = a.integer("faith-prompts");
  return p;
}

RunInfo discover_run_info(const Args& a, const Model& m, const DiscoverPlan& p, const std::string& command_line) {
  RunInfo info;
  info.model_dir = m.dir;
  info.model_family = m.cfg.family;
  info.task = p.task.name;
  info.method = "sae";
  info.level = a.str("level");
  info.settings = a.values();
  info.seed = p.options.seed;
  info.n_layers = m.cfg.n_layers;
  info.n_heads = m.cfg.n_heads;
  info.truth_name = p.truth ? p.truth->name : "";
  if (p.truth) info.truth_heads = p.truth->heads;
  info.metric_name = metric_name(p.task.metric);
  info.command_line = command_line;
  return info;
}

}  // namespace cs
