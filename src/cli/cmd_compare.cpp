#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/task_flags.h"
#include "compare/compare.h"
#include "model/model.h"
#include "model/save.h"
#include "model/tokenizer.h"
#include "ops/error.h"

namespace cs {

int cmd_compare(int argc, char** argv) {
  Args a("compare",
         "Run the SAE method and the baselines on the same model, prompts and ground truth, and print\n"
         "one table: node ROC AUC, edge AUC (head->head and head->logits), precision/recall/F1 and faithfulness at the\n"
         "ground truth's size, and wall time (mean ± std over trials for stochastic methods).");
  a.positional("MODEL", kModelHelp)
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file")
      .flag("truth", "", "ground truth: name (data/truth), file; default MODEL/circuits/TASK.json")
      .flag("methods", "sae,sae-confirmed,patching,acdc,eap,eap-ig,hisp,sp", "comma-separated methods")
      .flag("trials", "3", "trials of the stochastic methods (sae, sae-confirmed, sp)")
      .flag("prompts", "250", "task prompts generated (SAE: positives and as many negatives)")
      .flag("method-prompts", "100", "prompts the baselines use")
      .flag("ablation", "resample", "baselines' ablation: resample, mean or zero")
      .flag("tau", "0.01", "ACDC threshold")
      .flag("acdc-sweep", "0", "ACDC runs at this many thresholds log-spaced over [1e-4, 0.3] (the paper's\n"
            "                            ROC; scores = largest tau keeping the head); 0: one run at --tau")
      .flag("steps", "5", "EAP-IG integration steps")
      .flag("sp-steps", "200", "subnetwork probing optimisation steps")
      .flag("faith-prompts", "100", "prompts for faithfulness")
      .flag("seed", "0", "seed")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", "prepend BOS to every prompt")
      .flag("out", "", "write compare.md, compare.json and compare.html here");
  if (!a.parse(argc, argv)) return 0;
  CompareOptions o;
  std::stringstream ss(a.str("methods"));
  for (std::string m; std::getline(ss, m, ',');) {
    bool ok = false;
    for (auto& k : known_methods()) ok |= k == m;
    if (!ok) throw UsageError("compare: unknown method '" + m + "' (sae, patching, acdc, eap, eap-ig, hisp, sp)");
    o.methods.push_back(m);
  }
  Model m = load_model(a.str("MODEL"), {.process_weights = true});
  Tokenizer tok = Tokenizer::for_model_dir(m.dir);
  TokenizedTask task = task_from_flags(a, tok, m.dir);
  std::optional<GroundTruth> truth = resolve_truth(a.str("truth"), m.dir, task.name);
  o.trials = a.integer("trials");
  o.settings.n_prompts = a.integer("method-prompts");
  o.settings.ablation = parse_ablation_kind(a.str("ablation"));
  o.settings.seed = static_cast<uint64_t>(a.integer("seed"));
  o.settings.params["tau"] = a.number("tau");
  if (a.integer("acdc-sweep") > 1) o.settings.params["tau_sweep"] = a.integer("acdc-sweep");
  o.settings.params["steps"] = a.integer("steps");
  o.settings.params["sp_steps"] = a.integer("sp-steps");
  o.sae.sae.sae.l1 = task.name == "docstring" ? 0.05f : 0.02f;
  o.faith.n_prompts = a.integer("faith-prompts");
  o.faith.ablation = AblationKind::Mean;
  ProgressBar bar;
  o.progress = [&](const std::string& p, double f) { bar.update(p, f); };
  std::vector<MethodRow> rows = compare(m, task, truth ? &*truth : nullptr, o);
  bar.finish();
  std::printf("model %s, task %s, truth %s\n\n%s", a.str("MODEL").c_str(), task.name.c_str(),
              truth ? truth->name.c_str() : "none", compare_table(rows, false).c_str());
  if (truth)
    std::printf("\nedge AUC: against the truth's edges, over every head -> later head edge (q/k/v merged) and\n"
                "head -> logits edge; \"(pairs)\": the method scores no logit edges, head -> head only;\n"
                "\"-\": no truth edge among the method's candidates.\n");
  if (!a.str("out").empty()) {
    namespace fs = std::filesystem;
    fs::create_directories(a.str("out"));
    const std::string tn = truth ? truth->name : "";
    write_file_atomic((fs::path(a.str("out")) / "compare.md").string(), compare_table(rows, true));
    write_file_atomic((fs::path(a.str("out")) / "compare.json").string(), compare_json(rows, a.str("MODEL"), task.name, tn));
    write_file_atomic((fs::path(a.str("out")) / "compare.html").string(), compare_html(rows, a.str("MODEL"), task.name, tn));
    std::printf("\nwrote %s/{compare.md,compare.json,compare.html}\n", a.str("out").c_str());
  }
  return 0;
}

}  // namespace cs
