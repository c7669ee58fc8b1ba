#include "interp/task_block.h"

#include <string>

#include "ops/error.h"

namespace cs {

namespace {

// v[begin, end) when v has one entry per prompt, else v whole (a field a task does not fill).
template <class T>
std::vector<T> cut(const std::vector<T>& v, size_t n, size_t begin, size_t end) {
  if (v.size() != n) return v;
  return std::vector<T>(v.begin() + begin, v.begin() + end);
}

}  // namespace

TokenizedTask task_block(const TokenizedTask& task, size_t begin, size_t end) {
  const size_t n = task.size();
  if (begin > end || end > n)
    throw Error("task block [" + std::to_string(begin) + ", " + std::to_string(end) + ") is outside the task's " +
                std::to_string(n) + " prompts");
  TokenizedTask t;
  t.name = task.name;
  t.metric = task.metric;
  t.year_tokens = task.year_tokens;
  t.warnings = task.warnings;
  t.clean = cut(task.clean, n, begin, end);
  t.corrupt = cut(task.corrupt, n, begin, end);
  t.negative = cut(task.negative, n, begin, end);
  t.answer = cut(task.answer, n, begin, end);
  t.wrong = cut(task.wrong, n, begin, end);
  t.threshold = cut(task.threshold, n, begin, end);
  t.prompts = cut(task.prompts, n, begin, end);
  for (const auto& [name, pos] : task.positions) t.positions[name] = cut(pos, n, begin, end);
  return t;
}

}  // namespace cs
