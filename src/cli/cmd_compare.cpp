#include <algorithm>
#include <cstdio>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/compare_command.h"
#include "cli/precision_flag.h"
#include "cli/progress.h"
#include "cli/task_flags.h"
#include "attribution/edge_patching.h"
#include "compare/compare.h"
#include "compare/methods.h"
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

int cmd_compare(int argc, char** argv) {
  Args a = compare_args();
  if (!a.parse(argc, argv)) return 0;
  compare_options(a);  // unknown methods and bad combinations fail before the model loads
  const std::string out = a.str("out");
  const std::vector<std::string> files = {"compare.md", "compare.json", "compare.html"};
  if (!out.empty()) check_output_dir(out, "--out", files);
  Model m = load_model(a.str("MODEL"), {.process_weights = true, .precision = precision_from_flag(a)});
  Tokenizer tok = Tokenizer::for_model_dir(m.dir);
  ComparePlan plan = plan_compare(a, m, tok);
  const TokenizedTask& task = plan.task;
  print_warnings(task.warnings);
  const std::optional<GroundTruth>& truth = plan.truth;
  CompareOptions& o = plan.options;
  const CompareInfo info = compare_info(m, plan, a.str("MODEL"));

  std::printf("model %s, task %s (metric: %s), truth %s, BOS %s\n", info.model.c_str(), task.name.c_str(),
              info.metric.c_str(), truth ? truth->name.c_str() : "none", info.bos.c_str());
  std::printf("%zu methods%s; baselines ablate by %s; faithfulness: %s\n", o.methods.size(),
              o.imports.empty() ? "" : (" and " + std::to_string(o.imports.size()) + " imported circuit(s)").c_str(),
              info.method_ablation.c_str(),
              !o.faithfulness ? "off" : task.corrupt.empty() ? "not computed (no corrupt prompts)"
                                                             : (info.faith_ablation + " ablation, as discover's default").c_str());
  bool edge_methods = false;
  for (MethodId id : o.methods) edge_methods = edge_methods || method_info(id).edges;
  if (const std::string note = post_norm_edge_note(m.cfg); edge_methods && !note.empty())
    std::printf("note: %s\n", note.c_str());
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
