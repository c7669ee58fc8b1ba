// `circuitscan tasks`: list the builtin tasks, or show the prompts of one exactly as a model
// receives them (text, tokens, answers, corrupt and negative versions, named positions).
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/task_flags.h"
#include "interp/task.h"
#include "interp/task_metric.h"
#include "model/data_dir.h"
#include "model/model_path.h"
#include "model/tokenizer.h"
#include "ops/error.h"

namespace cs {

namespace {

const char* describe(const std::string& name) {
  if (name == "ioi") return "indirect object identification (Wang et al. 2022), 30 templates; logit diff IO - S";
  if (name == "greater-than") return "\"The {noun} lasted from the year XXYY to the year XX\" (Hanna et al. 2023); prob diff";
  if (name == "docstring") return "predict the next :param name in a Python docstring (Heimersheim & Janiak 2023); logit diff";
  if (name == "induction")
    return "20 random word tokens, repeated; accuracy: the next token after the repeat (the first word) beats one wrong word's logit (chance 0.5)";
  return "";
}

// Text in double quotes with control characters escaped, so spaces and newlines are visible.
std::string quoted(const std::string& s, char q = '"') {
  std::string r(1, q);
  for (unsigned char c : s) {
    if (c == '\n') r += "\\n";
    else if (c == '\t') r += "\\t";
    else if (c == '\r') r += "\\r";
    else if (c == '\\' || c == static_cast<unsigned char>(q)) r += '\\', r += static_cast<char>(c);
    else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      r += b;
    } else {
      r += static_cast<char>(c);
    }
  }
  return r + q;
}

std::string tok_list(const Tokenizer& tok, const std::vector<int>& ids) {
  std::string r;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) r += ' ';
    r += std::to_string(i);
    r += ':';
    r += quoted(tok.token_text(ids[i]), '\'');
  }
  return r;
}

int list_tasks() {
  for (const std::string& n : builtin_task_names()) std::printf("%-14s %s\n", n.c_str(), describe(n));
  std::printf("%-14s %s\n", "FILE.jsonl", "your own prompts, one JSON object per line: {\"prompt\", \"answer\", \"wrong\", \"corrupt\", \"negative\"}");
  return 0;
}

}  // namespace

int cmd_tasks(int argc, char** argv) {
  Args a("tasks",
         "List the builtin tasks (`tasks list`), or show a task's prompts exactly as the model gets\n"
         "them (`tasks show TASK`): clean prompt and its tokens, answer and wrong answers with token\n"
         "ids, corrupted and negative prompts, token counts and named positions.");
  a.positional("ACTION", "list | show")
      .positional("TASK", "for show: a builtin task name or a .jsonl file", false)
      .int_flag("n", "5", 1, kMaxPrompts, "prompts to show")
      .int_flag("seed", "0", 0, kMaxSeed, "task seed (same seed, same prompts)")
      .flag("model", "", "model directory whose tokenizer to use (default: the bundled GPT-2 tokenizer)")
      .choice_flag("variant", "", {"all", "acdc"}, "task variant, ioi only: all 30 templates, or ACDC's one")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", kPrependBosHelp)
      .toggle("no-prepend-bos", kNoPrependBosHelp);
  if (!a.parse(argc, argv)) return 0;
  const std::string action = a.str("ACTION");
  if (action == "list") return list_tasks();
  if (action != "show") throw UsageError("tasks: unknown action '" + action + "': use list or show");
  if (!a.given("TASK")) throw UsageError("tasks show: missing TASK (one of `circuitscan tasks list`, or a .jsonl file)");
  const int n = a.integer("n");

  const std::string model = a.str("model").empty() ? "" : resolve_model_path(a.str("model"));
  const Tokenizer tok = Tokenizer::for_model_dir(model.empty() ? data_dir() + "/gpt2-tokenizer" : model);
  TaskOptions o;
  o.n = n;
  o.seed = a.seed("seed");
  const BosChoice bos = bos_from_flags(a, model, tok);
  o.prepend_bos = bos.prepend;
  o.variant = a.str("variant");
  o.induction_pool = induction_pool_from_flags(a, tok, a.str("TASK"), model);
  const TokenizedTask t = make_task(a.str("TASK"), tok, o);
  print_warnings(t.warnings);

  const size_t shown = std::min(t.size(), static_cast<size_t>(n));
  std::printf("%s: showing %zu of %zu prompts (seed %s%s), tokenizer %s, BOS %s (%s)\nmetric: %s\n", t.name.c_str(), shown,
              t.size(), a.str("seed").c_str(), o.variant.empty() ? "" : (", variant " + o.variant).c_str(),
              model.empty() ? "bundled GPT-2" : model.c_str(), o.prepend_bos ? "prepended" : "not prepended", bos.why.c_str(),
              metric_label(t).c_str());
  for (size_t i = 0; i < shown; ++i) {
    const TaskPrompt& p = t.prompts[i];
    std::printf("\n#%zu\n", i);
    std::printf("  clean     (%zu tokens) %s\n", t.clean[i].size(), quoted(p.clean).c_str());
    std::printf("  tokens    %s\n", tok_list(tok, t.clean[i]).c_str());
    std::printf("  answer    %s (id %d)", quoted(tok.token_text(t.answer[i]), '\'').c_str(), t.answer[i]);
    if (p.answer != tok.token_text(t.answer[i])) std::printf(" from %s", quoted(p.answer).c_str());
    std::printf("\n");
    if (i < t.wrong.size() && !t.wrong[i].empty()) {
      std::printf("  wrong    ");
      for (int id : t.wrong[i]) std::printf(" %s (id %d)", quoted(tok.token_text(id), '\'').c_str(), id);
      std::printf("\n");
    }
    if (i < t.threshold.size()) std::printf("  threshold YY = %02d: answers above it count as correct\n", t.threshold[i]);
    if (i < t.corrupt.size() && !t.corrupt[i].empty())
      std::printf("  corrupt   (%zu tokens) %s\n", t.corrupt[i].size(), quoted(p.corrupt).c_str());
    if (i < t.negative.size() && !t.negative[i].empty())
      std::printf("  negative  (%zu tokens) %s\n", t.negative[i].size(), quoted(p.negative).c_str());
    if (!t.positions.empty()) {
      std::printf("  positions");
      for (const auto& [name, idx] : t.positions) {
        if (i >= idx.size()) continue;
        const int k = idx[i];
        const bool ok = k >= 0 && static_cast<size_t>(k) < t.clean[i].size();
        std::printf(" %s=%d", name.c_str(), k);
        if (ok) std::printf(":%s", quoted(tok.token_text(t.clean[i][k]), '\'').c_str());
      }
      std::printf("\n");
    }
    if (!p.fields.empty()) {
      std::printf("  fields   ");
      for (const auto& [k, v] : p.fields) std::printf(" %s=%s", k.c_str(), quoted(v).c_str());
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace cs
