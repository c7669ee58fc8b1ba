#include "cli/compare_command.h"

#include <algorithm>
#include <sstream>

#include "cli/method_flags.h"
#include "cli/precision_flag.h"
#include "evaluation/graph_json.h"
#include "evaluation/head_edges.h"
#include "interp/task_metric.h"
#include "ops/error.h"

namespace cs {

Args compare_args() {
  std::string all;
  for (const MethodInfo& i : method_table()) {
    if (!all.empty()) all += ',';
    all += i.name;  // appended: GCC 12 warns (-Wrestrict, a false positive) on "" + std::string
  }
  Args a("compare",
         "Run the SAE method and the baselines on the same model, prompts and ground truth, and print\n"
         "one table: node ROC AUC, edge AUC (head->head and head->logits), precision and faithfulness of the\n"
         "top k heads (k = the truth's size), the faithfulness curve's CPR and CMD, and wall time (mean ± std\n"
         "over trials for stochastic methods). Without a truth: CPR, CMD, time and each method's ranking.");
  a.positional("MODEL", kModelHelp)
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file")
      .flag("truth", "", "ground truth: name (data/truth), file, or none; default MODEL/circuits/TASK.json")
      .flag("methods", all, "comma-separated methods:\n" + method_help(30))
      .int_flag("trials", "3", 1, kMaxTrials, "trials of the stochastic methods (sae, sae-paper, sp)")
      .int_flag("prompts", "250", 1, kMaxPrompts, kPromptsHelp)
      .choice_flag("ablation", "resample", {"resample", "mean", "zero"}, "the baselines' ablation (faithfulness: --faith-ablation)");
  add_method_flags(a)
      .int_flag("faith-prompts", "100", 1, kMaxPrompts, "prompts for faithfulness")
      .choice_flag("faith-ablation", "mean", {"mean", "resample", "zero"},
                   "faithfulness ablation of every method (mean: discover's default)")
      .toggle("no-faithfulness", "skip the faithfulness curves")
      .int_flag("seed", "0", 0, kMaxSeed, "seed")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", kPrependBosHelp)
      .toggle("no-prepend-bos", kNoPrependBosHelp)
      .repeated("import", "NAME=FILE: also score a circuit made elsewhere, a graph JSON as EAP-IG's\n"
                "                            Graph.to_json and MIB's circuit track write it (discover's graph.json too);\n"
                "                            its row is NAME (repeatable)")
      .flag("out", "", "write compare.md, compare.json and compare.html here");
  precision_flag(a);
  return a;
}

CompareOptions compare_options(const Args& a) {
  CompareOptions o;
  std::stringstream ss(a.str("methods"));
  for (std::string m; std::getline(ss, m, ',');) o.methods.push_back(parse_method(m));
  method_options_from_flags(a, o.options);
  for (const std::string& spec : a.all("import")) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw UsageError("compare: --import takes NAME=FILE (a graph JSON), got '" + spec + "'");
    o.imports.push_back({spec.substr(0, eq), read_graph_json(spec.substr(eq + 1))});
  }
  o.trials = a.integer("trials");
  o.options.settings.ablation = parse_ablation_kind(a.str("ablation"));
  o.options.settings.seed = a.seed("seed");
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
  p.options.options.discover.sae.l1 = p.task.name == "docstring" ? 0.05f : 0.02f;
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
  info.method_ablation = to_string(o.options.settings.ablation);
  info.faith_ablation = to_string(o.faith.ablation);
  info.bos = std::string(bos.prepend ? "prepended" : "not prepended") + " (" + bos.why + ")";
  info.n_layers = m.cfg.n_layers;
  info.n_heads = m.cfg.n_heads;
  info.trials = o.trials;
  info.graph_edges = Graph(m.cfg).n_edges();
  if (truth) {
    info.truth_heads = head_labels(*truth, m.cfg.n_layers, m.cfg.n_heads);
    const std::vector<bool> e = head_edge_labels(*truth, m.cfg.n_layers, m.cfg.n_heads);
    info.truth_head_edges = static_cast<int>(std::count(e.begin(), e.end(), true));
  }

  return info;
}

}  // namespace cs
