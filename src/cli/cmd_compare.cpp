#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/compare_command.h"
#include "cli/progress.h"
#include "cli/task_flags.h"
#include "compare/compare.h"
#include "model/model.h"
#include "model/save.h"
#include "model/tokenizer.h"
#include "ops/error.h"

namespace cs {

int cmd_compare(int argc, char** argv) {
  Args a = compare_args();
  if (!a.parse(argc, argv)) return 0;
  compare_options(a);  // unknown methods fail before the model loads
  Model m = load_model(a.str("MODEL"), {.process_weights = true});
  Tokenizer tok = Tokenizer::for_model_dir(m.dir);
  ComparePlan plan = plan_compare(a, m, tok);
  const TokenizedTask& task = plan.task;
  const std::optional<GroundTruth>& truth = plan.truth;
  CompareOptions& o = plan.options;
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
