// `discover` as a command, apart from its printing: the flags (declared once), the checks of
// their combinations, the options, task and truth they make, and the record of a run for the
// report. The command line (cmd_discover.cpp) and the Python module (circuitscan.discover, which
// passes keyword arguments as these flags) both use it, so their defaults, checks and one-line
// errors are the same.
#pragma once
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/task_flags.h"
#include "evaluation/ground_truth.h"
#include "interp/task.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "report/circuit_report.h"
#include "sae/discover.h"

namespace cs {

// discover's flags: the positional MODEL and every option, with defaults and help.
Args discover_args();

// The checks that need no model (cs::UsageError), run right after parsing.
void check_discover_flags(const Args& a);

struct DiscoverPlan {
  TokenizedTask task;
  std::optional<GroundTruth> truth;
  DiscoverOptions options;  // progress left empty: the frontend's
  BosChoice bos;            // whether prompts start with BOS, and why
};

// Whether the run wants TransformerLens-processed weights (the default; --no-process-weights).
bool discover_processes_weights(const Args& a);

// The task (from --task; `given`, when set, is used instead: a task the frontend built), its
// warnings left in task.warnings, the truth (--truth or the model's own), and the options.
// `m` must be loaded as discover_processes_weights says; m.dir locates its own files.
DiscoverPlan plan_discover(const Args& a, const Model& m, const Tokenizer& tok, std::optional<TokenizedTask> given = {});

// The run's identity and settings (as used, after defaults) for circuit.json and the report.
RunInfo discover_run_info(const Args& a, const Model& m, const DiscoverPlan& p, const DiscoverResult& r,
                          const std::string& command_line);

// The ranking in a sentence, for the run's header and its settings.
std::string ranking_description(const DiscoverOptions& o);

}  // namespace cs
