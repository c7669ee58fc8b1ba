// Metrics on hand-built logits, checked against values worked out by hand.
#include "interp/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops/error.h"

using namespace cs;

namespace {

Tensor rows(std::vector<std::vector<float>> r) {
  Tensor t({static_cast<int64_t>(r.size()), static_cast<int64_t>(r[0].size())});
  for (size_t b = 0; b < r.size(); ++b)
    for (size_t v = 0; v < r[b].size(); ++v) t.data[b * r[0].size() + v] = r[b][v];
  return t;
}

}  // namespace

TEST(Metrics, LogitDiffOneWrongTokenIsIoiMetric) {
  Tensor l = rows({{1.0f, 3.5f, -2.0f, 0.5f}, {0.0f, 1.0f, 2.0f, 3.0f}});
  std::vector<double> d = logit_diff(l, {1, 0}, {{2}, {3}});
  EXPECT_DOUBLE_EQ(d[0], 3.5 - (-2.0));
  EXPECT_DOUBLE_EQ(d[1], 0.0 - 3.0);
  EXPECT_DOUBLE_EQ(mean(d), (5.5 - 3.0) / 2);
}

TEST(Metrics, LogitDiffSeveralWrongTokensTakesTheMax) {
  Tensor l = rows({{1.0f, 3.5f, -2.0f, 0.5f}});
  EXPECT_DOUBLE_EQ(logit_diff(l, {1}, {{0, 2, 3}})[0], 3.5 - 1.0);
  EXPECT_THROW(logit_diff(l, {1}, {{}}), Error);
  EXPECT_THROW(logit_diff(l, {4}, {{0}}), Error);
  EXPECT_THROW(logit_diff(l, {1, 1}, {{0}, {0}}), Error);
}

TEST(Metrics, ProbDiffOnToyYearSet) {
  // Vocabulary of 6; "years" 0..3 are tokens 5, 1, 4, 2. Tokens 0 and 3 are not years, so their
  // probability counts on neither side.
  const std::vector<int> years = {5, 1, 4, 2};
  Tensor l = rows({{0.3f, -1.0f, 2.0f, 0.7f, 1.5f, 0.1f}, {0.3f, -1.0f, 2.0f, 0.7f, 1.5f, 0.1f}});
  double z = 0;
  std::vector<double> p(6);
  for (int v = 0; v < 6; ++v) z += std::exp(double{l.data[v]});
  for (int v = 0; v < 6; ++v) p[v] = std::exp(double{l.data[v]}) / z;
  std::vector<double> d = prob_diff(l, years, {1, 3});
  // threshold YY = 1: years 2, 3 (tokens 4, 2) are greater; years 0, 1 (tokens 5, 1) are not.
  EXPECT_NEAR(d[0], (p[4] + p[2]) - (p[5] + p[1]), 1e-12);
  // threshold YY = 3 (the largest): nothing is greater.
  EXPECT_NEAR(d[1], -(p[5] + p[1] + p[4] + p[2]), 1e-12);
  EXPECT_THROW(prob_diff(l, years, {1, 4}), Error);
}

TEST(Metrics, ProbDiffIsStableForLargeLogits) {
  Tensor l = rows({{1000.0f, 0.0f, 0.0f}});
  EXPECT_NEAR(prob_diff(l, {1, 0}, {0})[0], 1.0, 1e-12);  // year 1 = token 0 has all the mass
}

TEST(Metrics, AccuracyAgainstWrongTokensAndArgmax) {
  Tensor l = rows({{1.0f, 3.5f, -2.0f, 0.5f}, {0.0f, 1.0f, 2.0f, 3.0f}, {2.0f, 2.0f, 0.0f, 0.0f}});
  EXPECT_EQ(accuracy(l, {1, 2, 0}, {{0, 2}, {1}, {1}}),
            (std::vector<double>{1, 1, 0}));                              // tie is a miss
  EXPECT_EQ(accuracy(l, {1, 2, 0}, {}), (std::vector<double>{1, 0, 0}));  // argmax
  EXPECT_EQ(accuracy(l, {1, 3, 1}, {{}, {}, {}}), (std::vector<double>{1, 1, 0}));
}

TEST(Metrics, KlDivergence) {
  Tensor a = rows({{0.5f, -1.0f, 2.0f}, {3.0f, 0.0f, 0.0f}});
  std::vector<double> same = kl_div(a, a);
  EXPECT_EQ(same, (std::vector<double>{0, 0}));
  // Adding a constant to a row does not change its distribution.
  Tensor shifted = a;
  for (int v = 0; v < 3; ++v) shifted.data[v] += 7.0f;
  EXPECT_NEAR(kl_div(a, shifted)[0], 0.0, 1e-6);
  // Against a uniform distribution: KL(p || u) = sum p log p + log 3.
  Tensor u = rows({{0, 0, 0}, {0, 0, 0}});
  std::vector<double> kl = kl_div(a, u);
  for (int b = 0; b < 2; ++b) {
    double z = 0, h = 0;
    for (int v = 0; v < 3; ++v) z += std::exp(double{a.data[b * 3 + v]});
    for (int v = 0; v < 3; ++v) {
      double p = std::exp(double{a.data[b * 3 + v]}) / z;
      h += p * std::log(p);
    }
    EXPECT_NEAR(kl[b], h + std::log(3.0), 1e-12);
    EXPECT_GT(kl[b], 0.0);
  }
  EXPECT_THROW(kl_div(a, rows({{0, 0, 0}})), Error);
}

TEST(Metrics, MeanOfNothingThrows) { EXPECT_THROW(mean({}), Error); }
