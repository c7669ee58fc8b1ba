// `compare` as a command, apart from its printing: the flags (declared once), their checks, and
// the options, task and truth they make; shared by the command line (cmd_compare.cpp) and the
// Python module (circuitscan.compare), as discover_command.h is for discover.
#pragma once
#include <optional>

#include "cli/args.h"
#include "cli/task_flags.h"
#include "compare/compare.h"
#include "report/compare_report.h"
#include "evaluation/ground_truth.h"
#include "interp/task.h"
#include "model/model.h"
#include "model/tokenizer.h"

namespace cs {

Args compare_args();

struct ComparePlan {
  TokenizedTask task;
  std::optional<GroundTruth> truth;
  CompareOptions options;  // progress left empty: the frontend's
  BosChoice bos;
};

// The methods and every option (cs::UsageError for an unknown method), before any model is loaded.
CompareOptions compare_options(const Args& a);
// `m` loaded with processed weights (compare runs every method on them).
ComparePlan plan_compare(const Args& a, const Model& m, const Tokenizer& tok, std::optional<TokenizedTask> given = {});
// The comparison's identity and settings for its table, JSON and page; model_name as given.
CompareInfo compare_info(const Model& m, const ComparePlan& p, const std::string& model_name);

}  // namespace cs
