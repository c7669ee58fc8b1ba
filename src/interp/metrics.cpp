#include "interp/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ops/error.h"
#include "ops/kl.h"

namespace cs {

namespace {

int64_t check_rows(const Tensor& logits, const char* fn) {
  if (logits.ndim() != 2)
    throw Error(std::string(fn) + ": logits must be [B,V] (last-position logits), got " +
                logits.shape_str());
  return logits.dim(0);
}

void check_token(int t, int64_t V, const char* fn) {
  if (t < 0 || t >= V)
    throw Error(std::string(fn) + ": token id " + std::to_string(t) +
                " is outside the vocabulary (size " + std::to_string(V) + ")");
}

void check_size(size_t got, int64_t B, const char* fn, const char* what) {
  if (static_cast<int64_t>(got) != B)
    throw Error(std::string(fn) + ": " + what + " has " + std::to_string(got) +
                " entries, logits have " + std::to_string(B) + " rows");
}

}  // namespace

std::vector<double> logit_diff(const Tensor& logits, const std::vector<int>& answer,
                               const std::vector<std::vector<int>>& wrong) {
  const int64_t B = check_rows(logits, "logit_diff"), V = logits.dim(1);
  check_size(answer.size(), B, "logit_diff", "answer");
  check_size(wrong.size(), B, "logit_diff", "wrong");
  std::vector<double> out(B);
  for (int64_t b = 0; b < B; ++b) {
    const float* row = logits.ptr() + b * V;
    if (wrong[b].empty())
      throw Error("logit_diff: prompt " + std::to_string(b) + " has no wrong-answer token");
    check_token(answer[b], V, "logit_diff");
    double worst = -std::numeric_limits<double>::infinity();
    for (int w : wrong[b]) {
      check_token(w, V, "logit_diff");
      worst = std::max(worst, static_cast<double>(row[w]));
    }
    out[b] = static_cast<double>(row[answer[b]]) - worst;
  }
  return out;
}

std::vector<double> prob_diff(const Tensor& logits, const std::vector<int>& year_tokens,
                              const std::vector<int>& threshold) {
  const int64_t B = check_rows(logits, "prob_diff"), V = logits.dim(1);
  check_size(threshold.size(), B, "prob_diff", "threshold");
  if (year_tokens.empty()) throw Error("prob_diff: no year tokens given");
  for (int t : year_tokens) check_token(t, V, "prob_diff");
  const int n = static_cast<int>(year_tokens.size());
  std::vector<double> out(B), lp(static_cast<size_t>(V));
  for (int64_t b = 0; b < B; ++b) {
    log_softmax(lp.data(), logits.ptr() + b * V, V);
    if (threshold[b] < 0 || threshold[b] >= n)
      throw Error("prob_diff: threshold " + std::to_string(threshold[b]) + " of prompt " +
                  std::to_string(b) + " is not an index into the " + std::to_string(n) +
                  " year tokens");
    double d = 0;
    for (int i = 0; i < n; ++i) {
      const double p = std::exp(lp[year_tokens[i]]);
      d += i > threshold[b] ? p : -p;
    }
    out[b] = d;
  }
  return out;
}

std::vector<double> accuracy(const Tensor& logits, const std::vector<int>& answer,
                             const std::vector<std::vector<int>>& wrong) {
  const int64_t B = check_rows(logits, "accuracy"), V = logits.dim(1);
  check_size(answer.size(), B, "accuracy", "answer");
  if (!wrong.empty()) check_size(wrong.size(), B, "accuracy", "wrong");
  std::vector<double> out(B);
  for (int64_t b = 0; b < B; ++b) {
    const float* row = logits.ptr() + b * V;
    check_token(answer[b], V, "accuracy");
    const float a = row[answer[b]];
    bool ok = true;
    if (wrong.empty() || wrong[b].empty()) {
      for (int64_t v = 0; v < V && ok; ++v) ok = v == answer[b] || row[v] < a;
    } else {
      for (int w : wrong[b]) {
        check_token(w, V, "accuracy");
        ok = ok && row[w] < a;
      }
    }
    out[b] = ok ? 1.0 : 0.0;
  }
  return out;
}

std::vector<double> kl_div(const Tensor& clean_logits, const Tensor& logits) {
  const int64_t B = check_rows(clean_logits, "kl_div");
  check_rows(logits, "kl_div");
  if (clean_logits.shape != logits.shape)
    throw Error("kl_div: clean logits " + clean_logits.shape_str() + " and patched logits " +
                logits.shape_str() + " differ in shape");
  const int64_t V = logits.dim(1);
  std::vector<double> out(B);
  for (int64_t b = 0; b < B; ++b)  // rounding can give -1e-17 for identical rows
    out[b] = std::max(kl_naive(clean_logits.ptr() + b * V, logits.ptr() + b * V, V), 0.0);
  return out;
}

double mean(const std::vector<double>& x) {
  if (x.empty()) throw Error("mean: no values (empty prompt set?)");
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

}  // namespace cs
