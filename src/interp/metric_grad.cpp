#include "interp/metric_grad.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "ops/error.h"

namespace cs {

namespace {

bool uses_logit_diff(const TokenizedTask& t, size_t i) {
  if (t.metric == MetricKind::LogitDiff) return true;
  return t.metric == MetricKind::Accuracy && i < t.wrong.size() && !t.wrong[i].empty();
}

}  // namespace

std::vector<int32_t> metric_vocab(const TokenizedTask& task, size_t first, size_t n) {
  if (first + n > task.size()) throw Error("metric_vocab: prompts past the end of the task");
  std::vector<int32_t> ids;
  for (size_t i = first; i < first + n; ++i) {
    if (!uses_logit_diff(task, i)) return {};
    if (i >= task.wrong.size() || task.wrong[i].empty())
      throw Error("task " + task.name + ": prompt " + std::to_string(i) +
                  " has no wrong answer, which the logit difference needs");
    ids.push_back(task.answer[i]);
    ids.insert(ids.end(), task.wrong[i].begin(), task.wrong[i].end());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

Tensor task_metric_grad(const TokenizedTask& task, const Tensor& logits, size_t first,
                        const std::vector<int32_t>& vocab, double scale,
                        std::vector<double>* values) {
  if (logits.ndim() != 2) throw Error("task_metric_grad: logits must be [n, V], got " + logits.shape_str());
  const int64_t n = logits.dim(0), V = logits.dim(1);
  if (first + n > task.size()) throw Error("task_metric_grad: more logit rows than prompts");
  if (!vocab.empty() && static_cast<int64_t>(vocab.size()) != V)
    throw Error("task_metric_grad: " + std::to_string(vocab.size()) + " vocabulary ids for " +
                std::to_string(V) + " logit columns");
  auto col = [&](int id) -> int64_t {  // logit column of token `id`
    if (vocab.empty()) {
      if (id < 0 || id >= V) throw Error("task_metric_grad: token id " + std::to_string(id) + " out of range");
      return id;
    }
    auto it = std::lower_bound(vocab.begin(), vocab.end(), id);
    if (it == vocab.end() || *it != id)
      throw Error("task_metric_grad: token " + std::to_string(id) + " is not among the logit columns");
    return it - vocab.begin();
  };
  Tensor g(logits.shape);
  if (values) values->assign(n, 0.0);
  std::vector<double> p(V);
  for (int64_t b = 0; b < n; ++b) {
    const size_t i = first + b;
    const float* z = logits.ptr() + b * V;
    float* dz = g.ptr() + b * V;
    if (uses_logit_diff(task, i)) {
      const int64_t a = col(task.answer[i]);
      int64_t w = -1;
      for (int id : task.wrong.at(i))
        if (w < 0 || z[col(id)] > z[w]) w = col(id);
      if (w < 0) throw Error("task " + task.name + ": prompt " + std::to_string(i) + " has no wrong answer");
      dz[a] += static_cast<float>(scale);
      dz[w] -= static_cast<float>(scale);
      if (values) (*values)[b] = static_cast<double>(z[a]) - z[w];
      continue;
    }
    if (!vocab.empty()) throw Error("task_metric_grad: this metric needs the whole vocabulary");
    double mx = z[0], sum = 0;  // softmax in double
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, static_cast<double>(z[v]));
    for (int64_t v = 0; v < V; ++v) sum += p[v] = std::exp(z[v] - mx);
    for (int64_t v = 0; v < V; ++v) p[v] /= sum;
    if (task.metric == MetricKind::ProbDiff) {
      const int ny = static_cast<int>(task.year_tokens.size());
      const int th = task.threshold.at(i);
      double m = 0;
      for (int k = 0; k < ny; ++k) m += (k > th ? 1.0 : -1.0) * p[col(task.year_tokens[k])];
      for (int k = 0; k < ny; ++k) {
        const int64_t j = col(task.year_tokens[k]);
        dz[j] += static_cast<float>(scale * p[j] * (k > th ? 1.0 : -1.0));
      }
      for (int64_t v = 0; v < V; ++v) dz[v] -= static_cast<float>(scale * p[v] * m);
      if (values) (*values)[b] = m;
    } else {  // Accuracy without wrong answers: log p(answer)
      const int64_t a = col(task.answer[i]);
      for (int64_t v = 0; v < V; ++v) dz[v] -= static_cast<float>(scale * p[v]);
      dz[a] += static_cast<float>(scale);
      if (values) (*values)[b] = std::log(p[a]);
    }
  }
  return g;
}

}  // namespace cs
