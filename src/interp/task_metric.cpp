#include "interp/task_metric.h"

#include <algorithm>

#include "interp/metrics.h"
#include "model/transformer.h"
#include "ops/error.h"

namespace cs {

const char* metric_name(MetricKind k) {
  switch (k) {
    case MetricKind::LogitDiff: return "logit difference";
    case MetricKind::ProbDiff: return "probability difference";
    case MetricKind::Accuracy: return "accuracy";
  }
  return "?";
}

std::string metric_label(const TokenizedTask& task) {
  if (task.metric != MetricKind::Accuracy) return metric_name(task.metric);
  size_t none = 0, one = 0;
  for (size_t i = 0; i < task.size(); ++i) {
    const size_t w = i < task.wrong.size() ? task.wrong[i].size() : 0;
    none += w == 0, one += w == 1;
  }
  if (none == task.size()) return "top-1 accuracy: answer is the argmax over the vocabulary";
  if (one == task.size()) return "accuracy: answer logit above the wrong token's (chance 0.5)";
  if (none == 0) return "accuracy: answer logit above every wrong token's";
  return "accuracy: answer logit above the wrong tokens' (argmax where a prompt lists none)";
}

std::vector<double> task_metric(const TokenizedTask& task, const Tensor& logits, size_t first) {
  const size_t n = static_cast<size_t>(logits.dim(0));
  if (first + n > task.size()) throw Error("task_metric: more logit rows than prompts");
  std::vector<int> answer(task.answer.begin() + first, task.answer.begin() + first + n);
  std::vector<std::vector<int>> wrong;
  if (!task.wrong.empty()) wrong.assign(task.wrong.begin() + first, task.wrong.begin() + first + n);
  switch (task.metric) {
    case MetricKind::LogitDiff: return logit_diff(logits, answer, wrong);
    case MetricKind::ProbDiff: {
      std::vector<int> th(task.threshold.begin() + first, task.threshold.begin() + first + n);
      return prob_diff(logits, task.year_tokens, th);
    }
    case MetricKind::Accuracy: return accuracy(logits, answer, wrong);
  }
  return {};
}

std::vector<int> metric_columns(const TokenizedTask& task) {
  if (task.metric == MetricKind::ProbDiff) return {};
  if (task.metric == MetricKind::Accuracy)
    for (size_t i = 0; i < task.size(); ++i)
      if (task.wrong.empty() || task.wrong[i].empty()) return {};
  std::vector<int> cols(task.answer.begin(), task.answer.end());
  for (const auto& w : task.wrong) cols.insert(cols.end(), w.begin(), w.end());
  std::sort(cols.begin(), cols.end());
  cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
  return cols;
}

TokenizedTask on_columns(const TokenizedTask& task, const std::vector<int>& columns) {
  auto index = [&](int id) {
    auto it = std::lower_bound(columns.begin(), columns.end(), id);
    if (it == columns.end() || *it != id)
      throw Error("on_columns: token " + std::to_string(id) + " is not among the metric's columns");
    return static_cast<int>(it - columns.begin());
  };
  TokenizedTask t = task;
  for (int& a : t.answer) a = index(a);
  for (auto& w : t.wrong)
    for (int& id : w) id = index(id);
  return t;
}

static Batch rows(const std::vector<std::vector<int>>& seqs, size_t first, size_t n, const char* what) {
  if (seqs.size() < first + n)
    throw Error(std::string("the task has no ") + what + " prompts: give \"" + what +
                "\" in the task file or use another ablation");
  return Batch::from_sequences({seqs.begin() + first, seqs.begin() + first + n});
}
Batch clean_batch(const TokenizedTask& t, size_t first, size_t n) { return rows(t.clean, first, n, "clean"); }
Batch corrupt_batch(const TokenizedTask& t, size_t first, size_t n) { return rows(t.corrupt, first, n, "corrupt"); }

double model_metric(const Model& m, const TokenizedTask& task, size_t n) {
  Tensor logits = forward(m, clean_batch(task, 0, n), nullptr, {LogitsAt::Last});
  return mean(task_metric(task, logits));
}

}  // namespace cs
