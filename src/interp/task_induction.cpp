// Induction on repeated random tokens (Olsson et al. 2022, "In-context learning and induction
// heads"): after x1..xn x1..xk the induction answer is x(k+1).
//
//   clean     x1..xn x1..xn            n distinct tokens, repeated (2n tokens)
//   negative  y1..y2n                  2n distinct tokens, no repetition; corrupt = negative
//   answer    x1: the last token xn was followed by x1 in the first half
//   wrong     one pool token that is not in the sequence (a baseline for logit diffs)
// Per-position accuracy: for p in [second, end) the target of clean[p] is clean[p - n + 1]
// (positions "first" = x1 of the first half, "second" = x1 of the second half, BOS counted;
// fields "n"). Metric: Accuracy.
//
// Tokens come from a fixed pool of ordinary word tokens: every id whose text is a space and
// 3..12 lowercase ASCII letters and that encodes back to itself alone, in id order. Such
// tokens concatenate without merging, so the prompt text round-trips (checked anyway).
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "interp/task.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

std::vector<int> induction_token_pool(const Tokenizer& tok) {
  std::vector<int> pool;
  for (int id = 0; id < tok.vocab_size(); ++id) {
    const std::string s = tok.token_text(id);
    if (s.size() < 4 || s.size() > 13 || s[0] != ' ') continue;
    if (!std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= 'a' && c <= 'z'; })) continue;
    if (tok.single_token(s) == id) pool.push_back(id);
  }
  return pool;
}

TokenizedTask induction_task(const Tokenizer& tok, const TaskOptions& opts) {
  task_detail::check_n("induction", opts);
  const int n = opts.induction_len;
  if (n < 2) throw Error("task induction: induction_len must be at least 2, got " + std::to_string(n));
  const std::vector<int> pool = opts.induction_pool.empty() ? induction_token_pool(tok) : opts.induction_pool;
  for (int id : pool)
    if (id < 0 || id >= tok.vocab_size())
      throw Error("task induction: token id " + std::to_string(id) + " of the word pool is not in the vocabulary");
  const int n_pool = static_cast<int>(pool.size());
  if (n_pool < 2 * n + 1)
    throw Error("task induction: only " + std::to_string(n_pool) + " words in the pool; " + std::to_string(2 * n + 1) + " needed for induction_len " + std::to_string(n));

  TokenizedTask t = task_detail::begin_task("induction", MetricKind::Accuracy, tok, opts);
  SplitMix64 rng(opts.seed, 0x1dc7ull);
  long attempts = 0;
  const long max_attempts = 100L * opts.n + 1000;
  while (static_cast<int>(t.size()) < opts.n) {
    task_detail::check_attempts("induction", ++attempts, max_attempts, static_cast<int>(t.size()), opts.n);
    const std::vector<int> xi = rng.distinct(n_pool, n + 1);  // x1..xn and the wrong token
    const std::vector<int> yi = rng.distinct(n_pool, 2 * n);
    std::vector<int> clean, negative;
    for (int r = 0; r < 2; ++r)
      for (int i = 0; i < n; ++i) clean.push_back(pool[static_cast<size_t>(xi[static_cast<size_t>(i)])]);
    for (int i : yi) negative.push_back(pool[static_cast<size_t>(i)]);
    const int wrong = pool[static_cast<size_t>(xi[static_cast<size_t>(n)])];
    TaskPrompt p;
    p.clean = tok.decode(clean);
    p.negative = tok.decode(negative);
    p.corrupt = p.negative;
    if (tok.encode(p.clean) != clean || tok.encode(p.negative) != negative) continue;
    p.answer = tok.token_text(clean[0]);
    p.wrong = {tok.token_text(wrong)};
    p.fields = {{"n", std::to_string(n)}};
    std::vector<int> corrupt = negative;
    const int answer = clean[0];
    task_detail::add_prompt(t, tok, opts, std::move(p), std::move(clean), std::move(corrupt),
                            std::move(negative), answer, {wrong}, {{"first", 0}, {"second", n}});
  }
  return t;
}

std::vector<int> read_induction_words(const std::string& path, const Tokenizer& tok) {
  std::istringstream f(read_input_file(path, kMaxSmallJsonBytes));
  std::vector<int> ids;
  std::unordered_set<int> seen;
  std::string line;
  // The word as printed in a message: JSON-quoted (control bytes escaped), at most 80 bytes.
  auto shown = [](const std::string& w) {
    return nlohmann::json(w.substr(0, 80)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  for (int no = 1; std::getline(f, line); ++no) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    const int id = tok.single_token(" " + line);
    if (id < 0)
      throw Error(path + ":" + std::to_string(no) + ": " + shown(line) +
                  " is not one token with a leading space in this tokenizer: list single-token words only");
    if (!seen.insert(id).second) throw Error(path + ":" + std::to_string(no) + ": " + shown(line) + " is listed twice");
    ids.push_back(id);
  }
  if (ids.empty()) throw Error(path + ": no words (one word per line)");
  return ids;
}

std::string own_induction_words_path(const std::string& model_dir) {
  return (std::filesystem::path(model_dir) / "induction_words.txt").string();
}

std::vector<int> own_induction_words(const std::string& model_dir, const Tokenizer& tok) {
  const std::string path = own_induction_words_path(model_dir);
  return std::filesystem::exists(path) ? read_induction_words(path, tok) : std::vector<int>{};
}

std::vector<TaskPrompt> induction_prompts(const Tokenizer& tok, const TaskOptions& opts) {
  return induction_task(tok, opts).prompts;
}

}  // namespace cs
