// Task dispatch, shared generator helpers, and user JSONL tasks. See task.h.
#include "interp/task.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "ops/error.h"
#include "ops/files.h"

namespace cs {
namespace task_detail {

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
  // BOS when asked for (the CLI's default follows the model and its tokenizer: bos_from_flags)
  const bool bos = opts.prepend_bos;
  const int shift = bos ? 1 : 0;
  auto with_bos = [&](std::vector<int>& v) {
    if (bos && !v.empty()) v.insert(v.begin(), tok.bos_id());
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
  if (opts.n <= 0 || opts.n > kMaxTaskPrompts)
    throw Error("task " + task + ": the number of prompts must be from 1 to " + std::to_string(kMaxTaskPrompts) +
                ", got " + std::to_string(opts.n));
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

// Lines that share one problem, reported as one warning: the line's own message when there is
// one, else how many, the first few lines, and the first message in full.
struct LineProblem {
  std::vector<int> lines;
  std::string first;  // the first line's message
  void add(int line, const std::string& message) {
    if (lines.empty()) first = message;
    lines.push_back(line);
  }
  std::string str(const std::string& path, const std::string& what) const {
    if (lines.size() == 1) return first;
    std::string s = path + ": " + std::to_string(lines.size()) + " " + what + " (lines ";
    for (size_t i = 0; i < lines.size() && i < 5; ++i) s += (i ? ", " : "") + std::to_string(lines[i]);
    if (lines.size() > 5) s += ", ...";
    return s + "); the first: " + first;
  }
};

// First token of `text`; a text of several tokens is recorded in `cut`.
int first_token(const Tokenizer& tok, const std::string& text, const std::string& where, int lineno,
                const char* what, LineProblem& cut) {
  const std::vector<int> ids = tok.encode(text);
  if (ids.empty()) throw Error(where + ": " + what + " is empty");
  if (ids.size() > 1)
    cut.add(lineno, where + ": " + what + " " + quoted(text) + " is " + std::to_string(ids.size()) +
                        " tokens; using the first, " + quoted(tok.token_text(ids[0])));
  return ids[0];
}

// A prompt longer than this many bytes is longer than any model's context (128k tokens of a few
// bytes each); refusing it early keeps a hostile file from tokenizing hundreds of megabytes.
constexpr size_t kMaxPromptBytes = size_t{1} << 20;

std::string string_field(const json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end()) throw Error(where + ": missing \"" + key + "\"");
  if (!it->is_string()) throw Error(where + ": \"" + key + "\" must be a string");
  const std::string& v = it->get_ref<const std::string&>();
  if (v.size() > kMaxPromptBytes)
    throw Error(where + ": \"" + key + "\" is " + std::to_string(v.size() >> 10) +
                " KB, longer than any model's context (limit 1 MB)");
  return v;
}

}  // namespace

TokenizedTask jsonl_task(const std::string& path, const Tokenizer& tok, const TaskOptions& opts) {
  return jsonl_task_from_text(read_input_file(path, kMaxLargeInputBytes), path, tok, opts);
}

TokenizedTask jsonl_task_from_text(const std::string& text, const std::string& path, const Tokenizer& tok,
                                   const TaskOptions& opts) {
  const std::string file = std::filesystem::path(path).filename().string();
  TokenizedTask t = task_detail::begin_task(file, MetricKind::LogitDiff, tok, opts);
  bool all_wrong = true;
  int first_line = 0;              // line of the first prompt, for "on every line or none"
  bool has_corrupt = false, has_negative = false;
  LineProblem corrupt_len, answer_cut, wrong_cut;
  std::istringstream in(text);
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (opts.max_file_prompts > 0 && t.clean.size() >= static_cast<size_t>(opts.max_file_prompts)) break;
    if (t.clean.size() >= static_cast<size_t>(kMaxTaskPrompts))
      throw Error(path + ": more than " + std::to_string(kMaxTaskPrompts) + " prompts; take the first N with --prompts N");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    json obj;
    try {
      obj = json::parse(line);
    } catch (const json::parse_error& e) {
      throw Error(where + ": not valid JSON (error at byte " + std::to_string(e.byte) + ")");
    } catch (const json::exception&) {  // out_of_range.406: a number beyond double's range
      throw Error(where + ": not valid JSON (a number too large for a double)");
    }
    if (!obj.is_object()) throw Error(where + ": expected a JSON object {\"prompt\", \"answer\"}");
    for (const auto& [key, value] : obj.items())
      if (key != "prompt" && key != "answer" && key != "wrong" && key != "corrupt" && key != "negative")
        throw Error(where + ": unknown key " + quoted(key) + " (expected prompt, answer, wrong, corrupt, negative)");
    TaskPrompt p;
    p.clean = string_field(obj, "prompt", where);
    p.answer = string_field(obj, "answer", where);
    if (auto it = obj.find("wrong"); it != obj.end()) {
      if (it->is_string()) {
        p.wrong.push_back(it->get<std::string>());
      } else if (it->is_array() && !it->empty() &&
                 std::all_of(it->begin(), it->end(), [](const json& w) { return w.is_string(); })) {
        for (const auto& w : *it) p.wrong.push_back(w.get<std::string>());
      for (const std::string& w : p.wrong)
        if (w.size() > kMaxPromptBytes) throw Error(where + ": a \"wrong\" answer is longer than any model's context");
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
      if (corrupt.empty()) throw Error(where + ": \"corrupt\" is empty");
      if (corrupt.size() != clean.size())
        corrupt_len.add(lineno, where + ": corrupt prompt is " + std::to_string(corrupt.size()) + " tokens, clean is " +
                                    std::to_string(clean.size()) + "; position-wise patching needs equal lengths");
    }
    if (ng) {
      negative = tok.encode(p.negative);
      if (negative.empty()) throw Error(where + ": \"negative\" is empty");
    }
    const int answer = first_token(tok, p.answer, where, lineno, "answer", answer_cut);
    std::vector<int> wrong;
    for (const auto& w : p.wrong) wrong.push_back(first_token(tok, w, where, lineno, "wrong answer", wrong_cut));
    all_wrong = all_wrong && !wrong.empty();
    task_detail::add_prompt(t, tok, opts, std::move(p), std::move(clean), std::move(corrupt),
                            std::move(negative), answer, std::move(wrong), {});
  }
  if (t.clean.empty()) throw Error(path + ": no prompts (every line blank)");
  if (!all_wrong) t.metric = MetricKind::Accuracy;
  if (!corrupt_len.lines.empty())
    t.warnings.push_back(corrupt_len.str(path, "corrupt prompts differ in token length from their prompt"));
  if (!answer_cut.lines.empty())
    t.warnings.push_back(answer_cut.str(path, "answers are several tokens, each cut to its first"));
  if (!wrong_cut.lines.empty())
    t.warnings.push_back(wrong_cut.str(path, "wrong answers are several tokens, each cut to its first"));
  if (opts.max_file_prompts > 0 && t.clean.size() < static_cast<size_t>(opts.max_file_prompts))
    t.warnings.push_back(path + ": " + std::to_string(opts.max_file_prompts) + " prompts asked for, the file has " +
                         std::to_string(t.clean.size()) + "; using them all");
  for (size_t i = 1; i < t.clean.size(); ++i)
    if (t.clean[i].size() != t.clean[0].size()) {
      t.warnings.push_back(path + ": prompts have different token lengths; methods pad or "
                                  "use the \"end\" position per prompt");
      break;
    }
  return t;
}

}  // namespace cs
