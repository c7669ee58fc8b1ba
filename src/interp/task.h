// Task generators: seeded, deterministic prompt sets for the benchmark circuits, each checked
// against the model's tokenizer. Spec: docs/tasks.md.
//
//   ioi           Wang et al. 2022, 30 templates (15 BABA + 15 ABBA), logit diff IO - S
//   greater-than  Hanna et al. 2023, "The {noun} lasted from the year XXYY to the year XX",
//                 prob diff over the 100 two-digit tokens
//   docstring     Heimersheim & Janiak 2023 / ACDC, predict the third :param name
//   induction     repeated random word tokens
//   *.jsonl       user prompts, one JSON object per line (see make_task)
//
// Same seed, same prompts, on any machine: the RNG is splitmix64 with our own bounded draw
// (std::uniform_int_distribution is implementation-defined). A candidate prompt that fails a
// tokenizer check (answer not one token, corrupt prompt of a different token length) is
// dropped and the next one drawn from the same stream, so the result stays deterministic.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/tokenizer.h"
#include "ops/rng.h"

namespace cs {

struct TaskPrompt {
  std::string clean;               // positive prompt (the model can predict the answer)
  std::string answer;              // e.g. " Mary" (one token)
  std::vector<std::string> wrong;  // wrong answers (IOI: the subject; docstring: other names)
  std::string corrupt;             // corrupted prompt for patching ("" if none)
  std::string negative;            // negative prompt for the SAE method ("" if none)
  std::map<std::string, std::string> fields;  // template variables: "IO", "S", "PLACE", ...
};

enum class MetricKind {
  LogitDiff,  // logit(answer) - logit(wrong) (docstring: - max over wrong), last position
  ProbDiff,   // greater-than: sum p(ZZ > YY) - sum p(ZZ <= YY) over year_tokens
  Accuracy,   // argmax == answer (induction: at every position of the repeated half)
};

// Everything a method needs, token ids checked. Prompts of a builtin task all have the same
// token length, and corrupt/negative prompts have the length of their clean prompt, so they
// batch without padding. JSONL tasks may mix lengths (a warning says so).
struct TokenizedTask {
  std::string name;  // "ioi", "greater-than", "docstring", "induction", or the file name
  std::vector<std::vector<int>> clean, corrupt, negative;  // (n, T_i); BOS first iff prepend_bos
  std::vector<int> answer;                                 // (n) one id per prompt
  std::vector<std::vector<int>> wrong;                     // (n, n_wrong_i)
  // greater-than only: ids of "00".."99" and the start year YY of each prompt.
  std::vector<int> year_tokens;  // (100), empty for other tasks
  std::vector<int> threshold;    // (n) YY, empty for other tasks
  MetricKind metric = MetricKind::LogitDiff;
  // Named token positions, one per prompt (index into clean[i], BOS counted): "end" always;
  // ioi "IO","S1","S2"; greater-than "XX","YY","noun"; docstring "met","A","B","C" (def),
  // "docA","docB" (:param names); induction "first","second" (starts of the two halves).
  // Builtin corrupt prompts share the clean layout, so the positions hold for them too.
  std::map<std::string, std::vector<int>> positions;
  std::vector<TaskPrompt> prompts;
    // JSONL: answers cut to their first token, corrupt/clean length mismatches, one entry per kind
  // of problem (with its count and first lines). Collected, not printed: the frontend decides
  // where they go.
  std::vector<std::string> warnings;

  size_t size() const { return clean.size(); }
};

// Most prompts a generator makes (TaskOptions::n): a bound on memory, far above any real use.
inline constexpr int kMaxTaskPrompts = 1000000;

struct TaskOptions {
  int n = 250;            // prompts to generate, 1..kMaxTaskPrompts (JSONL: see max_file_prompts)
  int max_file_prompts = 0;  // JSONL: use only the first this many prompts (0: every line)
  uint64_t seed = 0;
  bool prepend_bos = false;
  // ioi: "all" (30 templates, default) or "acdc" (template 1 ABBA only, as ACDC's dataset).
  // Other tasks take no variant.
  std::string variant;
  int induction_len = 20;  // induction: tokens in each half of the repeated sequence
  // induction: the token ids to draw from; empty = every plain word token of the vocabulary
  // (induction_token_pool). A small trained model knows only its corpus's words: give it those.
  std::vector<int> induction_pool;
};

// A word file for TaskOptions::induction_pool: one word per line (blank lines skipped), each
// " word" a single token of `tok`. Errors name the file and line.
std::vector<int> read_induction_words(const std::string& path, const Tokenizer& tok);
// A model's own word file, MODEL/induction_words.txt (the trainer writes it: the held-out words of
// its evaluation), and its words; empty when the model has none.
std::string own_induction_words_path(const std::string& model_dir);
std::vector<int> own_induction_words(const std::string& model_dir, const Tokenizer& tok);

// "ioi", "greater-than", "docstring", "induction".
std::vector<std::string> builtin_task_names();

// A builtin name, or a path to a .jsonl file: one object per line
//   {"prompt": str, "answer": str, "wrong": str | [str], "corrupt": str, "negative": str}
// ("wrong", "corrupt", "negative" optional; "corrupt"/"negative" on every line or on none).
// Blank lines are skipped. Errors name file and line ("tasks.jsonl:7: missing \"answer\"").
// An answer or wrong answer of several tokens is cut to its first token, with a warning.
// Metric: LogitDiff when every line has "wrong", else Accuracy.
TokenizedTask make_task(const std::string& name_or_jsonl_path, const Tokenizer& tok,
                        const TaskOptions& opts);

// Per task: the tokenized task, and its prompts as text (== task(...).prompts).
TokenizedTask ioi_task(const Tokenizer& tok, const TaskOptions& opts);
TokenizedTask greater_than_task(const Tokenizer& tok, const TaskOptions& opts);
TokenizedTask docstring_task(const Tokenizer& tok, const TaskOptions& opts);
TokenizedTask induction_task(const Tokenizer& tok, const TaskOptions& opts);
// No tokenizer: n prompts of T random ids below V, corrupt = clean with n_swap positions
// resampled, a random answer and a different wrong id, metric the logit difference at the last
// position. For engine tests and benchmarks (the baselines need corrupt prompts, nothing more).
TokenizedTask random_token_task(int n, int T, int V, int n_swap, uint32_t seed);
TokenizedTask jsonl_task(const std::string& path, const Tokenizer& tok, const TaskOptions& opts);
// The same from the file's text (`path` names it in messages): the Python module's task lists
// and the fuzz target's entry point.
TokenizedTask jsonl_task_from_text(const std::string& text, const std::string& path, const Tokenizer& tok,
                                   const TaskOptions& opts);
std::vector<TaskPrompt> ioi_prompts(const Tokenizer& tok, const TaskOptions& opts);
std::vector<TaskPrompt> greater_than_prompts(const Tokenizer& tok, const TaskOptions& opts);
std::vector<TaskPrompt> docstring_prompts(const Tokenizer& tok, const TaskOptions& opts);
std::vector<TaskPrompt> induction_prompts(const Tokenizer& tok, const TaskOptions& opts);

// The word lists after the tokenizer filter, for reports and tests.
std::vector<std::string> ioi_names(const Tokenizer& tok);          // " Name" is one token
std::vector<std::string> greater_than_nouns(const Tokenizer& tok);  // " noun" is one token
// Valid (XX, YY): " XXYY" -> [" XX", "YY"], first and last valid year per century dropped.
std::vector<std::pair<int, int>> greater_than_years(const Tokenizer& tok);
std::vector<int> greater_than_year_tokens(const Tokenizer& tok);  // ids of "00".."99"
std::vector<std::string> docstring_names(const Tokenizer& tok);   // " name" is one token
std::vector<std::string> docstring_words(const Tokenizer& tok);   // "w" and " w" one token
std::vector<int> induction_token_pool(const Tokenizer& tok);       // ids of " word" tokens

// Shared by the generators; not part of the interface methods use.
namespace task_detail {

// A template with "{KEY}" slots filled in; slots records (key, byte offset of the value) for
// every occurrence, in text order.
struct Rendered {
  std::string text;
  std::vector<std::pair<std::string, size_t>> slots;
};
Rendered render(const std::string& tmpl, const std::map<std::string, std::string>& values);

// Token index (without BOS) of the `occurrence`-th fill of `key`, a value written " word" or
// "word" whose single token is `id`: the length of the tokenized text before it. -1 when the
// token there is not `id` (the tokenizer merged across the boundary): the caller resamples.
int slot_position(const Tokenizer& tok, const Rendered& r, const std::vector<int>& ids,
                  const std::string& key, int occurrence, int id, bool leading_space = true);

// Starts a task: name, metric; checks that a BOS id exists when asked for one.
TokenizedTask begin_task(const std::string& name, MetricKind metric, const Tokenizer& tok,
                         const TaskOptions& opts);
// Appends one prompt; ids and positions are given without BOS and shifted here.
void add_prompt(TokenizedTask& t, const Tokenizer& tok, const TaskOptions& opts, TaskPrompt p,
                std::vector<int> clean, std::vector<int> corrupt, std::vector<int> negative,
                int answer, std::vector<int> wrong, const std::map<std::string, int>& positions);
// Throws when a generator ran out of attempts (a tokenizer that rejects most candidates).
void check_attempts(const std::string& task, long attempts, long max_attempts, int made, int want);
void check_n(const std::string& task, const TaskOptions& opts);

}  // namespace task_detail
}  // namespace cs
