// Flags shared by the commands that run a task on a model (discover, compare, reference-circuit):
// the task's prompts (--task, --prompts, --seed, --prepend-bos / --no-prepend-bos) and the ground truth to evaluate
// against.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "evaluation/ground_truth.h"
#include "interp/task.h"
#include "model/tokenizer.h"
#include "ops/error.h"

namespace cs {

// Upper bounds of the count flags: far above any published setting (the paper uses 250 prompts
// and 10 trials), low enough that a typo fails at once rather than after minutes of allocation.
inline constexpr int kMaxPrompts = 100000;
inline constexpr int kMaxTrials = 1000;

inline constexpr const char* kPromptsHelp =
    "positive prompts, and as many negative prompts; of a .jsonl task, its first N (all when not given)";

// The warnings of a run (task building and the like) as one line on stderr.
inline void print_warnings(const std::vector<std::string>& warnings) {
  if (warnings.empty()) return;
  std::string line = "warning: " + warnings[0];
  for (size_t i = 1; i < warnings.size(); ++i) line += "; " + warnings[i];
  for (char& c : line)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "%s\n", line.c_str());
}

// Refuses, before allocating it, a working set larger than the machine's memory.
inline void check_memory(double bytes, const std::string& what, const std::string& flag) {
  const double phys = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
  if (phys > 0 && bytes > 0.9 * phys) {
    char b[160];
    std::snprintf(b, sizeof b, "%.1f GB for %s, more than this machine's %.1f GB of memory: use a smaller ",
                  bytes / (1 << 30), what.c_str(), phys / (1 << 30));
    throw Error(std::string("the run needs ") + b + flag);
  }
}

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

// Whether prompts start with BOS, and why. TransformerLens (which O'Neill & Bui used) prepends
// BOS by default, so a model says nothing: yes. A model trained on rows without BOS says so in
// its config.json with TransformerLens's key "default_prepend_bos": false (the shipped zoo model:
// its training rows start at a document start, and its scores and reference circuits are
// measured that way). --prepend-bos / --no-prepend-bos override either.
struct BosChoice {
  bool prepend = true;
  std::string why;  // "--prepend-bos", "the model's config.json", "TransformerLens's default"
};

inline BosChoice bos_from_flags(const Args& a, const std::string& model_dir, const Tokenizer& tok) {
  const bool on = a.given("prepend-bos") && a.on("prepend-bos");
  const bool off = a.given("no-prepend-bos") && a.on("no-prepend-bos");
  if (on && off) throw UsageError("give --prepend-bos or --no-prepend-bos, not both");
  if (on) return {true, "--prepend-bos"};
  if (off || (a.given("prepend-bos") && !a.on("prepend-bos"))) return {false, "--no-prepend-bos"};
  if (!model_dir.empty()) {
    std::ifstream f(std::filesystem::path(model_dir) / "config.json");
    nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("default_prepend_bos") && j["default_prepend_bos"].is_boolean())
      return {j["default_prepend_bos"].get<bool>(), "default_prepend_bos in the model's config.json"};
  }
  if (tok.adds_bos()) return {true, "the tokenizer adds it, as transformers' tokenizer(text) does"};
  if (tok.bos_id() < 0) return {false, "the tokenizer has no BOS token"};
  return {true, "TransformerLens's default"};
}

// The task named by --task, with --prompts prompts from --seed, BOS as bos_from_flags says.
inline TokenizedTask task_from_flags(const Args& a, const Tokenizer& tok, const std::string& model_dir) {
  TaskOptions to;
  to.n = a.integer("prompts");
  to.max_file_prompts = a.given("prompts") ? to.n : 0;
  to.seed = a.seed("seed");
  to.prepend_bos = bos_from_flags(a, model_dir, tok).prepend;
  to.induction_pool = induction_pool_from_flags(a, tok, a.str("task"), model_dir);
  return make_task(a.str("task"), tok, to);
}

// A ground truth named on the command line: a path (anything that exists there, or a name with a
// '/': the loader refuses what is not a regular file), else a name under data/truth.
inline GroundTruth truth_from_arg(const std::string& name_or_path) {
  std::error_code ec;
  if (name_or_path.find('/') != std::string::npos || std::filesystem::exists(std::filesystem::symlink_status(name_or_path, ec)))
    return load_ground_truth(name_or_path);
  return ground_truth_by_name(name_or_path);
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
  return truth_from_arg(flag);
}

}  // namespace cs
