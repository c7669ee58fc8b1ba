#include "evaluation/roc.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "ops/error.h"

namespace cs {
namespace {

void check_inputs(const char* fn, const std::vector<double>& scores,
                  const std::vector<bool>& labels) {
  if (scores.size() != labels.size())
    throw Error(std::string(fn) + ": " + std::to_string(scores.size()) + " scores but " +
                std::to_string(labels.size()) + " labels");
  for (size_t i = 0; i < scores.size(); i++)
    if (std::isnan(scores[i]))
      throw Error(std::string(fn) + ": score " + std::to_string(i) +
                  " is NaN; replace it with a finite value before scoring");
}

// Indices sorted by score descending, ties by index ascending (stable).
std::vector<size_t> order_desc(const std::vector<double>& scores) {
  std::vector<size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::stable_sort(idx.begin(), idx.end(),
                   [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return idx;
}

Confusion finish(int64_t tp, int64_t fp, int64_t fn, int64_t tn) {
  Confusion c{tp, fp, fn, tn, 0.0, 0.0, 0.0};
  if (tp + fp > 0) c.precision = double(tp) / double(tp + fp);
  if (tp + fn > 0) c.recall = double(tp) / double(tp + fn);
  if (c.precision + c.recall > 0) c.f1 = 2 * c.precision * c.recall / (c.precision + c.recall);
  return c;
}

}  // namespace

RocCurve roc_curve(const std::vector<double>& scores, const std::vector<bool>& labels) {
  check_inputs("roc_curve", scores, labels);
  const int64_t n_pos = std::count(labels.begin(), labels.end(), true);
  const int64_t n_neg = int64_t(labels.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0)
    throw Error("roc_curve: all " + std::to_string(labels.size()) + " labels are " +
                (n_pos == 0 ? "negative" : "positive") +
                "; ROC needs at least one positive and one negative (check the ground truth "
                "matches the model)");

  RocCurve r;
  r.fpr.push_back(0.0);
  r.tpr.push_back(0.0);
  r.thresholds.push_back(std::numeric_limits<double>::infinity());
  const std::vector<size_t> idx = order_desc(scores);
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < idx.size(); i++) {
    (labels[idx[i]] ? tp : fp)++;
    // Emit a point only after the last item of a run of equal scores.
    if (i + 1 < idx.size() && scores[idx[i + 1]] == scores[idx[i]]) continue;
    r.fpr.push_back(double(fp) / double(n_neg));
    r.tpr.push_back(double(tp) / double(n_pos));
    r.thresholds.push_back(scores[idx[i]]);
  }
  r.auc = 0.0;
  for (size_t i = 1; i < r.fpr.size(); i++)
    r.auc += (r.fpr[i] - r.fpr[i - 1]) * (r.tpr[i] + r.tpr[i - 1]) / 2;
  return r;
}

double roc_auc(const std::vector<double>& scores, const std::vector<bool>& labels) {
  return roc_curve(scores, labels).auc;
}

Confusion confusion_at_threshold(const std::vector<double>& scores,
                                 const std::vector<bool>& labels, double threshold) {
  check_inputs("confusion_at_threshold", scores, labels);
  int64_t tp = 0, fp = 0, fn = 0, tn = 0;
  for (size_t i = 0; i < scores.size(); i++) {
    const bool pred = scores[i] >= threshold;
    (pred ? (labels[i] ? tp : fp) : (labels[i] ? fn : tn))++;
  }
  return finish(tp, fp, fn, tn);
}

Confusion confusion_top_k(const std::vector<double>& scores, const std::vector<bool>& labels,
                          int64_t k) {
  check_inputs("confusion_top_k", scores, labels);
  if (k < 0 || k > int64_t(scores.size()))
    throw Error("confusion_top_k: k = " + std::to_string(k) + " is outside [0, " +
                std::to_string(scores.size()) + "]");
  const std::vector<size_t> idx = order_desc(scores);
  int64_t tp = 0, fp = 0, fn = 0, tn = 0;
  for (size_t r = 0; r < idx.size(); r++) {
    const bool pred = int64_t(r) < k, label = labels[idx[r]];
    (pred ? (label ? tp : fp) : (label ? fn : tn))++;
  }
  return finish(tp, fp, fn, tn);
}

MeanStd mean_std(const std::vector<double>& values) {
  if (values.empty()) throw Error("mean_std: no values (did every trial fail?)");
  const double n = double(values.size());
  double mean = 0;
  for (double v : values) mean += v;
  mean /= n;
  if (values.size() < 2) return {mean, 0.0};
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  return {mean, std::sqrt(ss / (n - 1))};
}

double area_under(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size())
    throw Error("area_under: " + std::to_string(x.size()) + " x values but " +
                std::to_string(y.size()) + " y values");
  for (size_t i = 0; i < x.size(); i++) {
    if (!(x[i] >= 0.0 && x[i] <= 1.0))
      throw Error("area_under: x[" + std::to_string(i) + "] = " + std::to_string(x[i]) +
                  " is outside [0, 1]; pass circuit size as a fraction of the model");
    if (i > 0 && x[i] < x[i - 1])
      throw Error("area_under: x decreases at index " + std::to_string(i) +
                  "; sort the points by x first");
  }
  double area = 0;
  for (size_t i = 1; i < x.size(); i++) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
  return area;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw Error("spearman: score vectors of different lengths");
  auto ranks = [](const std::vector<double>& x) {
    std::vector<size_t> o(x.size());
    std::iota(o.begin(), o.end(), 0);
    std::sort(o.begin(), o.end(), [&](size_t i, size_t j) { return x[i] < x[j]; });
    std::vector<double> r(x.size());
    for (size_t i = 0; i < o.size();) {  // average ranks of ties
      size_t j = i;
      while (j + 1 < o.size() && x[o[j + 1]] == x[o[i]]) ++j;
      for (size_t k = i; k <= j; ++k) r[o[k]] = 0.5 * (i + j);
      i = j + 1;
    }
    return r;
  };
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size()), mean = (n - 1) / 2;
  double num = 0, da = 0, db = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (ra[i] - mean) * (rb[i] - mean);
    da += (ra[i] - mean) * (ra[i] - mean);
    db += (rb[i] - mean) * (rb[i] - mean);
  }
  return da > 0 && db > 0 ? num / std::sqrt(da * db) : 1.0;
}

}  // namespace cs
