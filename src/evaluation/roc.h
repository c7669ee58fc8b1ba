// Evaluation statistics for circuit discovery: ROC curves and AUC of component scores
// against a ground-truth circuit, confusion counts at a threshold or top-k, mean ± std over
// trials, and areas under faithfulness curves.
//
// Conventions follow scikit-learn so numbers compare with the Python reference code:
// roc_curve is sklearn.metrics.roc_curve(drop_intermediate=False), roc_auc equals
// sklearn.metrics.roc_auc_score, precision with no predicted positives is 0.
#pragma once
#include <cstdint>
#include <vector>

namespace cs {

// One point per distinct score, highest first, preceded by (0, 0) at threshold +infinity.
// Point i counts every item with score >= thresholds[i] as predicted positive.
struct RocCurve {
  std::vector<double> fpr, tpr, thresholds;  // (n_distinct + 1) each
  double auc;                                // trapezoid area under (fpr, tpr)
};

// Tied scores enter the curve together (a diagonal step), so the AUC equals the
// Mann-Whitney U statistic / (P * N) with each positive-negative tie counted 1/2.
// Throws cs::Error on size mismatch, NaN scores, or labels that are all one class.
RocCurve roc_curve(const std::vector<double>& scores, const std::vector<bool>& labels);

// Shortcut for roc_curve(scores, labels).auc.
double roc_auc(const std::vector<double>& scores, const std::vector<bool>& labels);

struct Confusion {
  int64_t tp, fp, fn, tn;
  double precision;  // tp / (tp + fp), 0 when nothing is predicted positive
  double recall;     // tp / (tp + fn), 0 when there are no positives
  double f1;         // 2 p r / (p + r), 0 when p + r == 0
};

// Predicted positive = score >= threshold.
Confusion confusion_at_threshold(const std::vector<double>& scores,
                                 const std::vector<bool>& labels, double threshold);

// Predicted positive = the k highest scores; among equal scores the lower index wins, so the
// selection is deterministic. 0 <= k <= scores.size(), else cs::Error.
Confusion confusion_top_k(const std::vector<double>& scores, const std::vector<bool>& labels,
                          int64_t k);

// Mean and sample standard deviation (divisor n - 1; 0 when n < 2), as reported for
// "mean ± std over 10 trials". Throws cs::Error on an empty vector.
struct MeanStd {
  double mean, std;
};
MeanStd mean_std(const std::vector<double>& values);

// Spearman's rank correlation of two score vectors of one length (ties share their average
// rank); 1 when either is constant. How far two rankings of the same heads agree.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

// Trapezoid area under y(x) for x ascending within [0, 1]; 0 for fewer than 2 points.
// Faithfulness curves (MIB, Mueller et al. 2025): x = circuit size as a fraction of the
// model, y = faithfulness at that size. CPR = area_under(x, y) (higher is better);
// CMD = area_under(x, |1 - y|) (lower is better). Throws cs::Error when sizes differ, an x is
// outside [0, 1], or x decreases.
double area_under(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace cs
