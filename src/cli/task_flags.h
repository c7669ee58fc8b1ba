// Flags shared by the commands that run a task on a model (discover, compare, reference-circuit):
// the task's prompts (--task, --prompts, --seed, --prepend-bos / --no-prepend-bos) and the ground truth to evaluate
// against.
#pragma once
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "evaluation/ground_truth.h"
#include "interp/task.h"
#include "model/bos.h"
#include "model/tokenizer.h"
#include "ops/error.h"

namespace cs {

inline constexpr const char* kInductionWordsHelp =
    "induction: file of the words to repeat, one per line (default: MODEL/induction_words.txt\n"
    "                            when the model ships one, else every plain word token)";

// --induction-words, or the model's own MODEL/induction_words.txt (said on stderr) when the task
// is induction; empty = the task's default pool.
inline std::vector<int> induction_pool_from_flags(const Args& a, const Tokenizer& tok, const std::string& task,
                                                  const std::string& model_dir) {
  const std::string path = a.str("induction-words");
  if (!path.empty()) return read_induction_words(path, tok);
  if (task != "induction" || model_dir.empty()) return {};
  std::vector<int> own = own_induction_words(model_dir, tok);
  if (!own.empty())
    std::fprintf(stderr, "induction words: %s (the model's own; --induction-words FILE for others)\n",
                 own_induction_words_path(model_dir).c_str());
  return own;
}

inline constexpr const char* kPrependBosHelp =
    "prepend BOS to every prompt (default: the model's config.json \"default_prepend_bos\",\n"
    "                            else yes, as TransformerLens and the paper)";
inline constexpr const char* kNoPrependBosHelp = "do not prepend BOS (see --prepend-bos)";

// Whether prompts start with BOS, and why: --prepend-bos / --no-prepend-bos, else the model's
// default (model/bos.h).
inline BosChoice bos_from_flags(const Args& a, const std::string& model_dir, const Tokenizer& tok) {
  const bool on = a.given("prepend-bos") && a.on("prepend-bos");
  const bool off = a.given("no-prepend-bos") && a.on("no-prepend-bos");
  if (on && off) throw UsageError("give --prepend-bos or --no-prepend-bos, not both");
  if (on) return {true, "--prepend-bos"};
  if (off || (a.given("prepend-bos") && !a.on("prepend-bos"))) return {false, "--no-prepend-bos"};
  return default_prepend_bos(model_dir, tok);
}

// --prompts prompts from --seed, BOS as bos_from_flags says, for the task named `task`.
inline TaskOptions task_options_from_flags(const Args& a, const Tokenizer& tok, const std::string& model_dir,
                                           const std::string& task) {
  TaskOptions to;
  to.n = a.integer("prompts");
  to.seed = static_cast<uint64_t>(a.integer("seed"));
  to.prepend_bos = bos_from_flags(a, model_dir, tok).prepend;
  to.induction_pool = induction_pool_from_flags(a, tok, task, model_dir);
  return to;
}

// The task named by --task, with task_options_from_flags.
inline TokenizedTask task_from_flags(const Args& a, const Tokenizer& tok, const std::string& model_dir) {
  return make_task(a.str("task"), tok, task_options_from_flags(a, tok, model_dir, a.str("task")));
}

// --truth: a name under data/truth, a file path, "none", or (empty) the model's own reference
// circuit MODEL/circuits/<task>.json when the model ships one.
inline std::optional<GroundTruth> resolve_truth(const std::string& flag, const std::string& model_dir,
                                                const std::string& task) {
  if (flag == "none") return std::nullopt;
  if (flag.empty()) {
    auto own = std::filesystem::path(model_dir) / "circuits" / (task + ".json");
    if (std::filesystem::exists(own)) return load_ground_truth(own.string());
    return std::nullopt;
  }
  if (std::filesystem::exists(flag)) return load_ground_truth(flag);
  return ground_truth_by_name(flag);
}

}  // namespace cs
