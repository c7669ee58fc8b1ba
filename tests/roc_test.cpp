// ROC / AUC, confusion counts, mean ± std and curve areas, checked against hand-computed
// values and a naive O(n^2) Mann-Whitney pair count.
#include "evaluation/roc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "ops/error.h"

namespace {

// AUC as the probability that a random positive outscores a random negative, ties 1/2.
double naive_auc(const std::vector<double>& s, const std::vector<bool>& y) {
  double wins = 0;
  int64_t pairs = 0;
  for (size_t i = 0; i < s.size(); i++)
    for (size_t j = 0; j < s.size(); j++)
      if (y[i] && !y[j]) {
        pairs++;
        wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      }
  return wins / double(pairs);
}

TEST(Roc, HandExampleWithTies) {
  // index:   0    1    2    3    4    5    6
  // score:  0.9  0.8  0.8  0.7  0.3  0.3  0.1
  // label:   +    +    -    +    -    +    -      P = 4, N = 3, 12 pairs
  // Mann-Whitney, per positive (wins over the negatives 0.8, 0.3, 0.1; ties 1/2):
  //   0.9 -> 3;  0.8 -> 0.5 + 1 + 1 = 2.5;  0.7 -> 2;  0.3 -> 0.5 + 1 = 1.5.  Sum 9 / 12 = 0.75.
  // Curve (threshold: fpr, tpr): inf: 0,0  0.9: 0,1/4  0.8: 1/3,2/4  0.7: 1/3,3/4
  //   0.3: 2/3,1  0.1: 1,1.  Trapezoids: 1/3*(1/4+2/4)/2 + 1/3*(3/4+1)/2 + 1/3*1 = 0.75.
  const std::vector<double> s = {0.9, 0.8, 0.8, 0.7, 0.3, 0.3, 0.1};
  const std::vector<bool> y = {true, true, false, true, false, true, false};
  const cs::RocCurve r = cs::roc_curve(s, y);
  EXPECT_NEAR(r.auc, 0.75, 1e-12);
  const std::vector<double> fpr = {0, 0, 1.0 / 3, 1.0 / 3, 2.0 / 3, 1};
  const std::vector<double> tpr = {0, 0.25, 0.5, 0.75, 1, 1};
  const std::vector<double> thr = {std::numeric_limits<double>::infinity(), 0.9, 0.8, 0.7, 0.3,
                                   0.1};
  ASSERT_EQ(r.fpr.size(), fpr.size());
  ASSERT_EQ(r.tpr.size(), tpr.size());
  ASSERT_EQ(r.thresholds.size(), thr.size());
  for (size_t i = 0; i < fpr.size(); i++) {
    EXPECT_NEAR(r.fpr[i], fpr[i], 1e-12) << i;
    EXPECT_NEAR(r.tpr[i], tpr[i], 1e-12) << i;
    EXPECT_EQ(r.thresholds[i], thr[i]) << i;
  }
  EXPECT_NEAR(naive_auc(s, y), 0.75, 1e-12);
  EXPECT_DOUBLE_EQ(cs::roc_auc(s, y), r.auc);
}

TEST(Roc, PerfectInvertedAndTied) {
  const std::vector<bool> y = {false, true, false, true, true};
  EXPECT_DOUBLE_EQ(cs::roc_auc({0.1, 0.9, 0.2, 0.8, 0.7}, y), 1.0);
  EXPECT_DOUBLE_EQ(cs::roc_auc({0.9, 0.1, 0.8, 0.2, 0.3}, y), 0.0);
  const cs::RocCurve tied = cs::roc_curve({0.4, 0.4, 0.4, 0.4, 0.4}, y);
  EXPECT_DOUBLE_EQ(tied.auc, 0.5);
  ASSERT_EQ(tied.fpr.size(), 2u);  // (0,0) then (1,1): one point per distinct score
  EXPECT_DOUBLE_EQ(tied.fpr[1], 1.0);
  EXPECT_DOUBLE_EQ(tied.tpr[1], 1.0);
  // Only the order matters: a monotone transform of the scores leaves the AUC alone.
  const std::vector<double> s = {0.3, 0.5, 0.1, 0.5, 0.2};
  std::vector<double> e;
  for (double v : s) e.push_back(std::exp(10 * v) - 7);
  EXPECT_DOUBLE_EQ(cs::roc_auc(s, y), cs::roc_auc(e, y));
}

TEST(Roc, MatchesMannWhitneyOnRandomData) {
  std::mt19937_64 rng(1234);
  for (int trial = 0; trial < 50; trial++) {
    const int n = 2 + int(rng() % 300);
    // Few distinct values in half the trials, so ties are common.
    const int levels = trial % 2 ? 5 : 1000000;
    std::vector<double> s(n);
    std::vector<bool> y(n);
    for (int i = 0; i < n; i++) {
      s[i] = double(rng() % levels) / levels;
      y[i] = rng() % 3 == 0;
    }
    y[0] = true;
    y[1] = false;
    const cs::RocCurve r = cs::roc_curve(s, y);
    EXPECT_NEAR(r.auc, naive_auc(s, y), 1e-12) << "trial " << trial;
    // Curve is monotone and ends at (1, 1).
    for (size_t i = 1; i < r.fpr.size(); i++) {
      EXPECT_GE(r.fpr[i], r.fpr[i - 1]);
      EXPECT_GE(r.tpr[i], r.tpr[i - 1]);
      EXPECT_LT(r.thresholds[i], r.thresholds[i - 1]);
    }
    EXPECT_DOUBLE_EQ(r.fpr.back(), 1.0);
    EXPECT_DOUBLE_EQ(r.tpr.back(), 1.0);
  }
}

TEST(Roc, RejectsBadInput) {
  EXPECT_THROW(cs::roc_curve({0.1, 0.2}, {true, true}), cs::Error);
  EXPECT_THROW(cs::roc_curve({0.1, 0.2}, {false, false}), cs::Error);
  EXPECT_THROW(cs::roc_curve({0.1, 0.2, 0.3}, {true, false}), cs::Error);
  EXPECT_THROW(cs::roc_curve({0.1, std::nan("")}, {true, false}), cs::Error);
  try {
    cs::roc_curve({1, 2, 3}, {true, true, true});
    FAIL() << "no throw";
  } catch (const cs::Error& e) {
    EXPECT_NE(std::string(e.what()).find("positive"), std::string::npos) << e.what();
  }
}

TEST(Confusion, AtThreshold) {
  // score: 0.9 0.8 0.8 0.7 0.3 0.3 0.1, label: + + - + - + -
  // threshold 0.8 -> predicted {0,1,2}: tp 2 (0,1), fp 1 (2), fn 2 (3,5), tn 2 (4,6).
  const std::vector<double> s = {0.9, 0.8, 0.8, 0.7, 0.3, 0.3, 0.1};
  const std::vector<bool> y = {true, true, false, true, false, true, false};
  cs::Confusion c = cs::confusion_at_threshold(s, y, 0.8);
  EXPECT_EQ(c.tp, 2);
  EXPECT_EQ(c.fp, 1);
  EXPECT_EQ(c.fn, 2);
  EXPECT_EQ(c.tn, 2);
  EXPECT_DOUBLE_EQ(c.precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(c.recall, 0.5);
  EXPECT_DOUBLE_EQ(c.f1, 2 * (2.0 / 3) * 0.5 / (2.0 / 3 + 0.5));  // 4/7
  // Above every score: nothing predicted, precision and f1 are 0 by convention.
  c = cs::confusion_at_threshold(s, y, 1.0);
  EXPECT_EQ(c.tp + c.fp, 0);
  EXPECT_EQ(c.fn, 4);
  EXPECT_EQ(c.tn, 3);
  EXPECT_DOUBLE_EQ(c.precision, 0.0);
  EXPECT_DOUBLE_EQ(c.f1, 0.0);
  // Threshold equal to the lowest score selects everything.
  c = cs::confusion_at_threshold(s, y, 0.1);
  EXPECT_EQ(c.tp, 4);
  EXPECT_EQ(c.fp, 3);
  EXPECT_DOUBLE_EQ(c.recall, 1.0);
}

TEST(Confusion, TopK) {
  const std::vector<double> s = {0.9, 0.8, 0.8, 0.7, 0.3, 0.3, 0.1};
  const std::vector<bool> y = {true, true, false, true, false, true, false};
  // k = 2: the tie at 0.8 between index 1 (+) and 2 (-) goes to the lower index 1.
  cs::Confusion c = cs::confusion_top_k(s, y, 2);
  EXPECT_EQ(c.tp, 2);
  EXPECT_EQ(c.fp, 0);
  EXPECT_EQ(c.fn, 2);
  EXPECT_EQ(c.tn, 3);
  EXPECT_DOUBLE_EQ(c.precision, 1.0);
  EXPECT_DOUBLE_EQ(c.recall, 0.5);
  // k = 5: {0,1,2,3,4}; the 0.3 tie between 4 (-) and 5 (+) goes to 4.
  c = cs::confusion_top_k(s, y, 5);
  EXPECT_EQ(c.tp, 3);
  EXPECT_EQ(c.fp, 2);
  EXPECT_EQ(c.fn, 1);
  EXPECT_EQ(c.tn, 1);
  EXPECT_DOUBLE_EQ(c.precision, 0.6);
  c = cs::confusion_top_k(s, y, 0);
  EXPECT_EQ(c.tp + c.fp, 0);
  EXPECT_DOUBLE_EQ(c.precision, 0.0);
  c = cs::confusion_top_k(s, y, 7);
  EXPECT_EQ(c.tp, 4);
  EXPECT_EQ(c.fp, 3);
  EXPECT_THROW(cs::confusion_top_k(s, y, 8), cs::Error);
  EXPECT_THROW(cs::confusion_top_k(s, y, -1), cs::Error);
}

TEST(Stats, MeanStd) {
  // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sum of squares 32, sample variance 32/7.
  const cs::MeanStd m = cs::mean_std({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_DOUBLE_EQ(m.mean, 5.0);
  EXPECT_NEAR(m.std, std::sqrt(32.0 / 7), 1e-12);
  const cs::MeanStd one = cs::mean_std({0.868});
  EXPECT_DOUBLE_EQ(one.mean, 0.868);
  EXPECT_DOUBLE_EQ(one.std, 0.0);
  EXPECT_THROW(cs::mean_std({}), cs::Error);
}

TEST(Stats, AreaUnder) {
  EXPECT_DOUBLE_EQ(cs::area_under({0, 1}, {1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(cs::area_under({0, 0.5, 1}, {0, 1, 0}), 0.5);
  // Faithfulness 0.2, 0.8, 1.0 at sizes 0, 0.1, 1: CPR = 0.1*0.5 + 0.9*0.9 = 0.86;
  // CMD over |1 - f| = 0.8, 0.2, 0: 0.1*0.5 + 0.9*0.1 = 0.14.
  const std::vector<double> x = {0, 0.1, 1}, f = {0.2, 0.8, 1.0};
  EXPECT_NEAR(cs::area_under(x, f), 0.86, 1e-12);
  std::vector<double> dev;
  for (double v : f) dev.push_back(std::abs(1 - v));
  EXPECT_NEAR(cs::area_under(x, dev), 0.14, 1e-12);
  EXPECT_DOUBLE_EQ(cs::area_under({0.3}, {5}), 0.0);
  EXPECT_THROW(cs::area_under({0, 1}, {1}), cs::Error);
  EXPECT_THROW(cs::area_under({0, 1.5}, {1, 1}), cs::Error);
  EXPECT_THROW(cs::area_under({0.5, 0.2}, {1, 1}), cs::Error);
}

}  // namespace

TEST(Roc, SpearmanOfHandRankings) {
  // Same order: 1; reversed: -1; one swap among 4: 1 - 6 * 2 / (4 * 15) = 0.8; ties averaged.
  EXPECT_DOUBLE_EQ(cs::spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(cs::spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(cs::spearman({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-12);
  EXPECT_NEAR(cs::spearman({1, 1, 2, 3}, {1, 2, 3, 4}), 0.9486832980505138, 1e-12);  // ranks 0.5,0.5,2,3
  EXPECT_DOUBLE_EQ(cs::spearman({5, 5, 5}, {1, 2, 3}), 1.0);                           // constant
  EXPECT_THROW(cs::spearman({1, 2}, {1}), cs::Error);
}
