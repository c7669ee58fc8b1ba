#include <algorithm>
#include <cstdio>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/method_flags.h"
#include "cli/precision_flag.h"
#include "cli/progress.h"
#include "cli/task_flags.h"
#include "compare/compare.h"
#include "evaluation/head_edges.h"
#include "interp/task_metric.h"
#include "report/compare_report.h"
#include "report/text_table.h"
#include "model/model.h"
#include "model/save.h"
#include "model/tokenizer.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

// compare's flags, declared once: cmd_compare parses them, and `sweep` checks a plan's options
// against them before any job runs.
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
  a.positional("MODEL", "Hugging Face model directory")
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

int cmd_compare(int argc, char** argv) {
  Args a = compare_args();
  if (!a.parse(argc, argv)) return 0;
  const std::string out = a.str("out");
  const std::vector<std::string> files = {"compare.md", "compare.json", "compare.html"};
  if (!out.empty()) check_output_dir(out, "--out", files);
  CompareOptions o;
  std::stringstream ss(a.str("methods"));
  for (std::string m; std::getline(ss, m, ',');) o.methods.push_back(parse_method(m));
  method_options_from_flags(a, o.options);  // usage errors before the model loads
  for (const std::string& spec : a.all("import")) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw UsageError("compare: --import takes NAME=FILE (a graph JSON), got '" + spec + "'");
    o.imports.push_back({spec.substr(0, eq), read_graph_json(spec.substr(eq + 1))});
  }
  Model m = load_model(a.str("MODEL"), {.process_weights = true, .precision = precision_from_flag(a)});
  Tokenizer tok = Tokenizer::for_model_dir(a.str("MODEL"));
  const BosChoice bos = bos_from_flags(a, a.str("MODEL"), tok);
  TokenizedTask task = task_from_flags(a, tok, a.str("MODEL"));
  print_warnings(task.warnings);
  std::optional<GroundTruth> truth = resolve_truth(a.str("truth"), a.str("MODEL"), task.name);
  o.trials = a.integer("trials");
  o.options.settings.ablation = parse_ablation_kind(a.str("ablation"));
  o.options.settings.seed = a.seed("seed");
  o.options.discover.sae.l1 = task.name == "docstring" ? 0.05f : 0.02f;
  o.faith.n_prompts = a.integer("faith-prompts");
  o.faith.ablation = parse_ablation_kind(a.str("faith-ablation"));
  o.faithfulness = !a.on("no-faithfulness");

  CompareInfo info;
  info.model = a.str("MODEL");
  info.task = task.name;
  info.truth = truth ? truth->name : "";
  info.metric = metric_label(task);
  info.method_ablation = to_string(o.options.settings.ablation);
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

  std::printf("model %s, task %s (metric: %s), truth %s, BOS %s\n", info.model.c_str(), task.name.c_str(),
              info.metric.c_str(), truth ? truth->name.c_str() : "none", info.bos.c_str());
  std::printf("%zu methods%s; baselines ablate by %s; faithfulness: %s\n", o.methods.size(),
              o.imports.empty() ? "" : (" and " + std::to_string(o.imports.size()) + " imported circuit(s)").c_str(),
              info.method_ablation.c_str(),
              !o.faithfulness ? "off" : task.corrupt.empty() ? "not computed (no corrupt prompts)"
                                                             : (info.faith_ablation + " ablation, as discover's default").c_str());
  std::fflush(stdout);
  ProgressBar bar(/*eta=*/true, /*every_phase=*/true);
  o.progress = [&](const std::string& p, double f) { bar.update(p, f); };
  std::vector<MethodRow> rows = compare(m, task, truth ? &*truth : nullptr, o);
  bar.finish();
  // Notes wrapped at 100 columns, continuation lines indented.
  std::string notes;
  std::istringstream in(compare_notes(rows, info));
  for (std::string line; std::getline(in, line);) {
    size_t col = 0;
    std::istringstream words(line);
    for (std::string w; words >> w;) {
      if (col > 0 && col + 1 + TextTable::width(w) > 100) notes += "\n  ", col = 2;
      else if (col > 0) notes += ' ', ++col;
      notes += w, col += TextTable::width(w);
    }
    notes += '\n';
  }
  std::printf("\n%s\n%s", compare_table(rows, info, false).c_str(), notes.c_str());
  if (truth) std::printf("\nrankings (best first):\n%s", compare_rankings(rows, info, 12).c_str());
  if (!out.empty()) {
    const std::string md = compare_table(rows, info, true) + "\n" + compare_notes(rows, info),
                      json = compare_json(rows, info), html = compare_html(rows, info);
    StagedDir dir(out);  // the three files appear together or not at all
    write_file_atomic(dir.path(files[0]), md);
    write_file_atomic(dir.path(files[1]), json);
    write_file_atomic(dir.path(files[2]), html);
    dir.commit();
    std::printf("\nwrote %s/{compare.md,compare.json,compare.html}\n", out.c_str());
  }
  return 0;
}

}  // namespace cs
