// Task dispatch, shared generator helpers, and user JSONL tasks. See task.h.
#include "interp/task.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "ops/error.h"

namespace cs {
namespace task_detail {

uint64_t Rng::next() {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int Rng::below(int n) {
  // Rejection from the top of the range keeps every value equally likely.
  const uint64_t un = static_cast<uint64_t>(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % un;
  uint64_t x;
  do x = next();
  while (x >= limit);
  return static_cast<int>(x % un);
}

std::vector<int> Rng::distinct(int n, int k) {
  // Partial Fisher-Yates: O(n) memory, exact, k <= n.
  std::vector<int> idx(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
  for (int i = 0; i < k; ++i) std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(i + below(n - i))]);
  idx.resize(static_cast<size_t>(k));
  return idx;
}

Rendered render(const std::string& tmpl, const std::map<std::string, std::string>& values) {
  Rendered r;
  size_t i = 0;
  while (i < tmpl.size()) {
    const size_t open = tmpl.find('{', i);
    if (open == std::string::npos) break;
    const size_t close = tmpl.find('}', open);
    if (close == std::string::npos) break;
    const std::string key = tmpl.substr(open + 1, close - open - 1);
    const auto it = values.find(key);
    r.text.append(tmpl, i, open - i);
    if (it == values.end()) {  // not a slot: keep the braces literally
      r.text.append(tmpl, open, close + 1 - open);
    } else {
      r.slots.emplace_back(key, r.text.size());
      r.text += it->second;
    }
    i = close + 1;
  }
  r.text.append(tmpl, std::min(i, tmpl.size()));
  return r;
}

int slot_position(const Tokenizer& tok, const Rendered& r, const std::vector<int>& ids,
                  const std::string& key, int occurrence, int id, bool leading_space) {
  int seen = 0;
  for (const auto& [k, offset] : r.slots) {
    if (k != key || seen++ != occurrence) continue;
    size_t start = offset;
    if (leading_space) {
      if (start == 0 || r.text[start - 1] != ' ') return -1;
      --start;
    }
    const size_t pos = tok.encode(std::string_view(r.text).substr(0, start)).size();
    return pos < ids.size() && ids[pos] == id ? static_cast<int>(pos) : -1;
  }
  return -1;
}

TokenizedTask begin_task(const std::string& name, MetricKind metric, const Tokenizer& tok,
                         const TaskOptions& opts) {
  if (opts.prepend_bos && tok.bos_id() < 0)
    throw Error("task " + name + ": prepend_bos asked for, but the tokenizer has no BOS token");
  TokenizedTask t;
  t.name = name;
  t.metric = metric;
  return t;
}

void add_prompt(TokenizedTask& t, const Tokenizer& tok, const TaskOptions& opts, TaskPrompt p,
                std::vector<int> clean, std::vector<int> corrupt, std::vector<int> negative,
                int answer, std::vector<int> wrong, const std::map<std::string, int>& positions) {
  const int shift = opts.prepend_bos ? 1 : 0;
  auto with_bos = [&](std::vector<int>& v) {
    if (opts.prepend_bos && !v.empty()) v.insert(v.begin(), tok.bos_id());
  };
  with_bos(clean);
  with_bos(corrupt);
  with_bos(negative);
  t.positions["end"].push_back(static_cast<int>(clean.size()) - 1);
  for (const auto& [name, pos] : positions) t.positions[name].push_back(pos + shift);
  t.clean.push_back(std::move(clean));
  if (!corrupt.empty()) t.corrupt.push_back(std::move(corrupt));
  if (!negative.empty()) t.negative.push_back(std::move(negative));
  t.answer.push_back(answer);
  t.wrong.push_back(std::move(wrong));
  t.prompts.push_back(std::move(p));
}

void check_attempts(const std::string& task, long attempts, long max_attempts, int made, int want) {
  if (attempts > max_attempts && made < want)
    throw Error("task " + task + ": only " + std::to_string(made) + " of " + std::to_string(want) +
                " prompts passed the tokenizer checks after " + std::to_string(attempts) +
                " draws; this tokenizer does not fit the task's word lists");
}

void check_n(const std::string& task, const TaskOptions& opts) {
  if (opts.n <= 0) throw Error("task " + task + ": n must be positive, got " + std::to_string(opts.n));
  if (!opts.variant.empty() && task != "ioi")
    throw Error("task " + task + ": unknown variant \"" + opts.variant + "\" (this task has none)");
}

}  // namespace task_detail

std::vector<std::string> builtin_task_names() {
  return {"ioi", "greater-than", "docstring", "induction"};
}

TokenizedTask make_task(const std::string& name, const Tokenizer& tok, const TaskOptions& opts) {
  if (name == "ioi") return ioi_task(tok, opts);
  if (name == "greater-than") return greater_than_task(tok, opts);
  if (name == "docstring") return docstring_task(tok, opts);
  if (name == "induction") return induction_task(tok, opts);
  const bool jsonl = name.size() > 6 && name.compare(name.size() - 6, 6, ".jsonl") == 0;
  if (jsonl || std::filesystem::is_regular_file(name)) return jsonl_task(name, tok, opts);
  std::string names;
  for (const auto& b : builtin_task_names()) names += (names.empty() ? "" : ", ") + b;
  throw Error("unknown task \"" + name + "\": builtin tasks are " + names +
              "; or give the path of a .jsonl file with one {\"prompt\", \"answer\"} per line");
}

namespace {

using json = nlohmann::json;

// JSON-quoted, so newlines and quotes in prompts print on one line; a token that is part of a
// UTF-8 character prints with U+FFFD.
std::string quoted(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

// First token of `text`, with a warning when it is not exactly one token.
int first_token(const Tokenizer& tok, const std::string& text, const std::string& where,
                const char* what, std::vector<std::string>& warnings) {
  const std::vector<int> ids = tok.encode(text);
  if (ids.empty()) throw Error(where + ": " + what + " is empty");
  if (ids.size() > 1)
    warnings.push_back(where + ": " + what + " " + quoted(text) + " is " +
                       std::to_string(ids.size()) + " tokens; using the first, " +
                       quoted(tok.token_text(ids[0])));
  return ids[0];
}

std::string string_field(const json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) throw Error(where + ": missing \"" + key + "\"");
  if (!it->is_string()) throw Error(where + ": \"" + key + "\" must be a string");
  return it->get<std::string>();
}

}  // namespace

TokenizedTask jsonl_task(const std::string& path, const Tokenizer& tok, const TaskOptions& opts) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open task file (" + std::strerror(errno) + ")");
  std::ostringstream text;
  text << f.rdbuf();
  return jsonl_task_from_text(text.str(), path, tok, opts);
}

TokenizedTask jsonl_task_from_text(const std::string& text, const std::string& path, const Tokenizer& tok,
                                   const TaskOptions& opts) {
  std::istringstream in(text);
  const std::string file = std::filesystem::path(path).filename().string();
  TokenizedTask t = task_detail::begin_task(file, MetricKind::LogitDiff, tok, opts);
  bool all_wrong = true;
  int first_line = 0;              // line of the first prompt, for "on every line or none"
  bool has_corrupt = false, has_negative = false;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    json obj;
    try {
      obj = json::parse(line);
    } catch (const json::parse_error& e) {
      throw Error(where + ": not valid JSON (" + e.what() + ")");
    }
    if (!obj.is_object()) throw Error(where + ": expected a JSON object {\"prompt\", \"answer\"}");
    for (const auto& [key, value] : obj.items())
      if (key != "prompt" && key != "answer" && key != "wrong" && key != "corrupt" && key != "negative")
        throw Error(where + ": unknown key \"" + key +
                    "\" (expected prompt, answer, wrong, corrupt, negative)");
    TaskPrompt p;
    p.clean = string_field(obj, "prompt", where);
    p.answer = string_field(obj, "answer", where);
    if (auto it = obj.find("wrong"); it != obj.end()) {
      if (it->is_string()) {
        p.wrong.push_back(it->get<std::string>());
      } else if (it->is_array() && !it->empty() &&
                 std::all_of(it->begin(), it->end(), [](const json& w) { return w.is_string(); })) {
        for (const auto& w : *it) p.wrong.push_back(w.get<std::string>());
      } else {
        throw Error(where + ": \"wrong\" must be a string or a non-empty list of strings");
      }
    }
    const bool c = obj.contains("corrupt"), ng = obj.contains("negative");
    if (c) p.corrupt = string_field(obj, "corrupt", where);
    if (ng) p.negative = string_field(obj, "negative", where);
    if (first_line == 0) {
      first_line = lineno;
      has_corrupt = c;
      has_negative = ng;
    }
    for (const auto& [key, here, first] : {std::tuple{"corrupt", c, has_corrupt},
                                           std::tuple{"negative", ng, has_negative}})
      if (here != first)
        throw Error(where + ": \"" + key + "\" " + (here ? "given" : "missing") + " but line " +
                    std::to_string(first_line) + (first ? " has one" : " has none") +
                    "; give it on every line or on none");

    std::vector<int> clean = tok.encode(p.clean);
    if (clean.empty()) throw Error(where + ": \"prompt\" is empty");
    std::vector<int> corrupt, negative;
    if (c) {
      corrupt = tok.encode(p.corrupt);
      if (corrupt.size() != clean.size())
        t.warnings.push_back(where + ": corrupt prompt is " + std::to_string(corrupt.size()) +
                             " tokens, clean is " + std::to_string(clean.size()) +
                             "; position-wise patching needs equal lengths");
      if (corrupt.empty()) throw Error(where + ": \"corrupt\" is empty");
    }
    if (ng) {
      negative = tok.encode(p.negative);
      if (negative.empty()) throw Error(where + ": \"negative\" is empty");
    }
    const int answer = first_token(tok, p.answer, where, "answer", t.warnings);
    std::vector<int> wrong;
    for (const auto& w : p.wrong) wrong.push_back(first_token(tok, w, where, "wrong answer", t.warnings));
    all_wrong = all_wrong && !wrong.empty();
    task_detail::add_prompt(t, tok, opts, std::move(p), std::move(clean), std::move(corrupt),
                            std::move(negative), answer, std::move(wrong), {});
  }
  if (t.clean.empty()) throw Error(path + ": no prompts (every line blank)");
  if (!all_wrong) t.metric = MetricKind::Accuracy;
  for (size_t i = 1; i < t.clean.size(); ++i)
    if (t.clean[i].size() != t.clean[0].size()) {
      t.warnings.push_back(path + ": prompts have different token lengths; methods pad or "
                                  "use the \"end\" position per prompt");
      break;
    }
  return t;
}

}  // namespace cs
