#include "cli/compare_command.h"

#include <algorithm>
#include <sstream>

#include "interp/task_metric.h"
#include "ops/error.h"

namespace cs {

Args compare_args() {
  Args a("compare",
         "Run the SAE method and the baselines on the same model, prompts and ground truth, and print\n"
         "one table: node ROC AUC, edge AUC (head->head and head->logits), precision and faithfulness of the\n"
         "top k heads (k = the truth's size), the faithfulness curve's CPR and CMD, and wall time (mean ± std\n"
         "over trials for stochastic methods). Without a truth: CPR, CMD, time and each method's ranking.");
  a.positional("MODEL", kModelHelp)
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file")
      .flag("truth", "", "ground truth: name (data/truth), file, or none; default MODEL/circuits/TASK.json")
      .flag("methods", "sae,sae-confirmed,patching,acdc,eap,eap-ig,hisp,sp", "comma-separated methods")
      .int_flag("trials", "3", 1, kMaxTrials, "trials of the stochastic methods (sae, sae-confirmed, sp)")
      .int_flag("prompts", "250", 1, kMaxPrompts, kPromptsHelp)
      .int_flag("method-prompts", "100", 1, kMaxPrompts, "prompts the baselines use")
      .choice_flag("ablation", "resample", {"resample", "mean", "zero"}, "the baselines' ablation (faithfulness: --faith-ablation)")
      .real_flag("tau", "0.01", RealRange::non_negative(), "ACDC threshold")
      .int_flag("acdc-sweep", "0", 0, 1000, "ACDC runs at this many thresholds (2 or more) log-spaced over [1e-4, 0.3]\n"
                "                            (the paper's ROC; scores = largest tau keeping the head); 0: one run at --tau")
      .int_flag("steps", "5", 1, 10000, "EAP-IG integration steps")
      .int_flag("sp-steps", "200", 1, 1000000, "subnetwork probing optimisation steps")
      .int_flag("faith-prompts", "100", 1, kMaxPrompts, "prompts for faithfulness")
      .choice_flag("faith-ablation", "mean", {"mean", "resample", "zero"},
                   "faithfulness ablation of every method (mean: discover's default)")
      .toggle("no-faithfulness", "skip the faithfulness curves")
      .int_flag("seed", "0", 0, kMaxSeed, "seed")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", kPrependBosHelp)
      .toggle("no-prepend-bos", kNoPrependBosHelp)
      .flag("out", "", "write compare.md, compare.json and compare.html here");
  return a;
}

CompareOptions compare_options(const Args& a) {
  if (a.integer("acdc-sweep") == 1)
    throw UsageError("compare: --acdc-sweep must be 0 (one run at --tau) or at least 2 thresholds, got 1");
  CompareOptions o;
  std::stringstream ss(a.str("methods"));
  for (std::string m; std::getline(ss, m, ',');) {
    bool ok = false;
    for (auto& k : known_methods()) ok |= k == m;
    if (!ok) throw UsageError("compare: unknown method '" + m + "' (sae, sae-confirmed, patching, acdc, eap, eap-ig, hisp, sp)");
    o.methods.push_back(m);
  }
  o.trials = a.integer("trials");
  o.settings.n_prompts = a.integer("method-prompts");
  o.settings.ablation = parse_ablation_kind(a.str("ablation"));
  o.settings.seed = a.seed("seed");
  o.settings.params["tau"] = a.number("tau");
  if (a.integer("acdc-sweep") > 1) o.settings.params["tau_sweep"] = a.integer("acdc-sweep");
  o.settings.params["steps"] = a.integer("steps");
  o.settings.params["sp_steps"] = a.integer("sp-steps");
  o.faith.n_prompts = a.integer("faith-prompts");
  o.faith.ablation = parse_ablation_kind(a.str("faith-ablation"));
  o.faithfulness = !a.on("no-faithfulness");
  return o;
}

ComparePlan plan_compare(const Args& a, const Model& m, const Tokenizer& tok, std::optional<TokenizedTask> given) {
  ComparePlan p;
  p.options = compare_options(a);
  p.bos = bos_from_flags(a, m.dir, tok);
  p.task = given ? std::move(*given) : task_from_flags(a, tok, m.dir);
  p.truth = resolve_truth(a.str("truth"), m.dir, p.task.name);
  p.options.sae.sae.sae.l1 = p.task.name == "docstring" ? 0.05f : 0.02f;
  return p;
}

CompareInfo compare_info(const Model& m, const ComparePlan& p, const std::string& model_name) {
  const TokenizedTask& task = p.task;
  const std::optional<GroundTruth>& truth = p.truth;
  const CompareOptions& o = p.options;
  const BosChoice& bos = p.bos;
  CompareInfo info;
  info.model = model_name;
  info.task = task.name;
  info.truth = truth ? truth->name : "";
  info.metric = metric_label(task);
  info.method_ablation = to_string(o.settings.ablation);
  info.faith_ablation = to_string(o.faith.ablation);
  info.bos = std::string(bos.prepend ? "prepended" : "not prepended") + " (" + bos.why + ")";
  info.n_layers = m.cfg.n_layers;
  info.n_heads = m.cfg.n_heads;
  info.trials = o.trials;
  if (truth) {
    info.truth_heads = head_labels(*truth, m.cfg.n_layers, m.cfg.n_heads);
    const std::vector<bool> e = head_edge_labels(*truth, m.cfg.n_layers, m.cfg.n_heads);
    info.truth_head_edges = static_cast<int>(std::count(e.begin(), e.end(), true));
  }

  return info;
}

}  // namespace cs
