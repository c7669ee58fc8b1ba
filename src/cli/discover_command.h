// `discover` as a command, apart from its printing: the flags (declared once), the checks of
// their combinations, the method, options, task and truth they make, and the record of a run for
// the report. The command line (cmd_discover.cpp) and the Python module (circuitscan.discover,
// which passes keyword arguments as these flags) both use it, so their defaults, checks and
// one-line errors are the same.
#pragma once
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/task_flags.h"
#include "compare/methods.h"
#include "evaluation/ground_truth.h"
#include "interp/task.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "report/circuit_report.h"
#include "sae/discover.h"

namespace cs {

// discover's flags: the positional MODEL and every option, with defaults and help.
Args discover_args();

// What --method, --score and --level choose, checked together.
struct DiscoverMethod {
  MethodId id = MethodId::Sae;
  SaeScore score = SaeScore::Confirmed;  // the SAE methods' node ranking (sae-paper: Paper)
  Level level = Level::Node;
  bool sae = true;                       // sae or sae-paper
};

// The checks that need no model (cs::UsageError), run right after parsing.
DiscoverMethod check_discover_flags(const Args& a);

// Whether the run wants TransformerLens-processed weights (the default; --no-process-weights).
bool discover_processes_weights(const Args& a);

struct DiscoverPlan {
  DiscoverMethod method;
  TokenizedTask task;
  std::optional<GroundTruth> truth;
  MethodOptions options;  // options.discover.progress left empty: the frontend's
  BosChoice bos;          // whether prompts start with BOS, and why
};

// The task (from --task; `given`, when set, is used instead: a task the frontend built), its
// warnings left in task.warnings, the truth (--truth or the model's own), and the options, with
// the checks that need the task or the model (--position, --top-k, memory). `m` must be loaded
// as discover_processes_weights says; m.dir locates its own files.
DiscoverPlan plan_discover(const Args& a, const Model& m, const Tokenizer& tok, std::optional<TokenizedTask> given = {});

// The run: discover_with on the plan.
DiscoverResult run_discover(const Model& m, const DiscoverPlan& p);

// What the run is and how its scores read, for the printed table and the report.
struct RunLabels {
  const MethodInfo& info;
  bool sae;
  std::string level, ranking, paper;  // paper: "" for the other methods
  bool rank_counts = false, paper_counts = false;
};
RunLabels labels_of(MethodId id, const DiscoverOptions& o);

// The ranking in a sentence, for the run's header and its settings.
std::string ranking_description(const DiscoverOptions& o, const MethodInfo& info);

// The run's identity and settings (as used, after defaults) for circuit.json and the report.
RunInfo discover_run_info(const Args& a, const Model& m, const DiscoverPlan& p, const DiscoverResult& r,
                          const std::string& command_line);

}  // namespace cs
