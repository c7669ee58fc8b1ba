// Node and edge scores on hand-built code sets with hand-computed answers.
#include "sae/code_scores.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "ops/error.h"

namespace {

// 3 heads. Positives (3 prompts) and negatives (2 prompts), rows = prompts.
//   head 0: P = {1, 2}, N = {2}     -> |P\N| = 1, |P u N| = 2
//   head 1: P = {5},    N = {5, 6}  -> 0,          2
//   head 2: P = {7,8,9}, N = {0}    -> 3,          4
const std::vector<int32_t> kPos = {1, 5, 7,
                                   2, 5, 8,
                                   1, 5, 9};
const std::vector<int32_t> kNeg = {2, 5, 0,
                                   2, 6, 0};

TEST(CodeScores, NodeScoresRawAndNormalised) {
  EXPECT_EQ(cs::node_scores(kPos.data(), 3, kNeg.data(), 2, 3, false),
            (std::vector<double>{1, 0, 3}));
  std::vector<double> norm = cs::node_scores(kPos.data(), 3, kNeg.data(), 2, 3, true);
  EXPECT_DOUBLE_EQ(norm[0], 0.5);
  EXPECT_DOUBLE_EQ(norm[1], 0.0);
  EXPECT_DOUBLE_EQ(norm[2], 0.75);
}

TEST(CodeScores, NodeScoresWithoutNegatives) {
  // No negatives: every positive code is unique to positives.
  EXPECT_EQ(cs::node_scores(kPos.data(), 3, nullptr, 0, 3, false),
            (std::vector<double>{2, 1, 3}));
  EXPECT_EQ(cs::node_scores(kPos.data(), 3, nullptr, 0, 3, true),
            (std::vector<double>{1, 1, 1}));
}

TEST(CodeScores, Softmax) {
  std::vector<double> p = cs::softmax({0.0, std::log(3.0), 1000.0, 1000.0});
  EXPECT_NEAR(p[2], 0.5, 1e-15);
  EXPECT_NEAR(p[3], 0.5, 1e-15);
  p = cs::softmax({0.0, std::log(3.0)});
  EXPECT_NEAR(p[0], 0.25, 1e-15);
  EXPECT_NEAR(p[1], 0.75, 1e-15);
}

TEST(CodeScores, EdgeScoresRawAndNormalised) {
  // Pairs per prompt (h1, h2) -> (code h1, code h2):
  //   (0,1): pos {(1,5), (2,5)}          neg {(2,5), (2,6)}        only-pos 1, |Pp|+|Np| = 4
  //   (1,0): pos {(5,1), (5,2)}          neg {(5,2), (6,2)}        1, 4
  //   (0,2): pos {(1,7), (2,8), (1,9)}   neg {(2,0)}               3, 4
  //   (2,0): pos {(7,1), (8,2), (9,1)}   neg {(0,2)}               3, 4
  //   (1,2): pos {(5,7), (5,8), (5,9)}   neg {(5,0), (6,0)}        3, 5
  //   (2,1): pos {(7,5), (8,5), (9,5)}   neg {(0,5), (0,6)}        3, 5
  std::vector<double> U = cs::edge_scores(kPos.data(), 3, kNeg.data(), 2, 3, false);
  EXPECT_EQ(U, (std::vector<double>{0, 1, 3,
                                    1, 0, 3,
                                    3, 3, 0}));
  std::vector<double> N = cs::edge_scores(kPos.data(), 3, kNeg.data(), 2, 3, true);
  const std::vector<double> want = {0, 0.25, 0.75, 0.25, 0, 0.6, 0.75, 0.6, 0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(N[i], want[i]) << i;
}

TEST(CodeScores, EdgeScoresCountPairsNotCodes) {
  // Each head alone shows nothing new on positives, but the combination (1, 1) does.
  const std::vector<int32_t> pos = {0, 0,
                                    1, 1};
  const std::vector<int32_t> neg = {0, 1,
                                    1, 0};
  EXPECT_EQ(cs::node_scores(pos.data(), 2, neg.data(), 2, 2, false), (std::vector<double>{0, 0}));
  EXPECT_EQ(cs::edge_scores(pos.data(), 2, neg.data(), 2, 2, false),
            (std::vector<double>{0, 2, 2, 0}));
}

// Brute force with std::set, straight from the definition.
std::vector<double> naive_edge_scores(const std::vector<int32_t>& pos, int64_t n_pos,
                                      const std::vector<int32_t>& neg, int64_t n_neg,
                                      int64_t H, bool normalise) {
  std::vector<double> U(H * H, 0.0);
  for (int64_t a = 0; a < H; ++a)
    for (int64_t b = 0; b < H; ++b) {
      if (a == b) continue;
      std::set<std::pair<int32_t, int32_t>> P, N;
      for (int64_t i = 0; i < n_pos; ++i) P.insert({pos[i * H + a], pos[i * H + b]});
      for (int64_t i = 0; i < n_neg; ++i) N.insert({neg[i * H + a], neg[i * H + b]});
      double only = 0;
      for (auto& p : P) only += N.count(p) == 0;
      U[a * H + b] = normalise ? only / (P.size() + N.size()) : only;
    }
  return U;
}

// Random codes against the brute force: few distinct codes (direct pair table) and, for two
// heads, so many that the pair table would exceed its cap (sorting fallback).
TEST(CodeScores, EdgeScoresMatchBruteForce) {
  std::mt19937 rng(3);
  struct Case { int64_t n_pos, n_neg, H; int32_t codes; };
  for (const Case& c : {Case{40, 30, 6, 5}, Case{1500, 1500, 3, 1 << 30}}) {
    std::uniform_int_distribution<int32_t> code(0, c.codes - 1);
    std::vector<int32_t> pos(c.n_pos * c.H), neg(c.n_neg * c.H);
    for (auto& x : pos) x = code(rng);
    for (auto& x : neg) x = code(rng);
    for (int i = 0; i < 10; ++i) neg[i * c.H] = pos[i * c.H], neg[i * c.H + 1] = pos[i * c.H + 1];
    for (bool norm : {false, true}) {
      std::vector<double> got =
          cs::edge_scores(pos.data(), c.n_pos, neg.data(), c.n_neg, c.H, norm);
      std::vector<double> want = naive_edge_scores(pos, c.n_pos, neg, c.n_neg, c.H, norm);
      for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want[i]) << i;
    }
  }
}

TEST(CodeScores, EdgeToNodeReduction) {
  // 3 heads, U row-major (h1, h2). Sorted descending, ties by flat index:
  //   5:(1,2)=4  7:(2,1)=4  2:(0,2)=3  1:(0,1)=1  then zeros 0,3,4,6,8
  // Flat list: 1,2, 2,1, 0,2, 0,1, 0,0, 1,0, 1,1, 2,0, 2,2
  const std::vector<double> U = {0, 1, 3,
                                 0, 0, 4,
                                 0, 4, 0};
  // k = 3: entries 1, 2, 2 -> counts {0, 1, 2}
  EXPECT_EQ(cs::edge_to_node_scores(U, 3, 3), (std::vector<double>{0, 1, 2}));
  // Default k = 9 / 2 = 4: 1, 2, 2, 1 -> {0, 2, 2}
  EXPECT_EQ(cs::edge_to_node_scores(U, 3), (std::vector<double>{0, 2, 2}));
  // k = 8: adds 0, 2, 0, 1 -> {2, 3, 3}
  EXPECT_EQ(cs::edge_to_node_scores(U, 3, 8), (std::vector<double>{2, 3, 3}));
  // k larger than the list (18 entries) counts every head 2 * n_heads times.
  EXPECT_EQ(cs::edge_to_node_scores(U, 3, 100), (std::vector<double>{6, 6, 6}));
  EXPECT_EQ(cs::reference_edge_k(12), 72);
}

TEST(CodeScores, BadInputThrows) {
  EXPECT_THROW(cs::node_scores(kPos.data(), 3, kNeg.data(), 2, 0, false), cs::Error);
  EXPECT_THROW(cs::edge_scores(nullptr, 3, kNeg.data(), 2, 3, false), cs::Error);
  EXPECT_THROW(cs::edge_to_node_scores({1, 2, 3}, 2), cs::Error);
  EXPECT_THROW(cs::edge_to_node_scores({0, NAN, 0, 0}, 2), cs::Error);
}

}  // namespace
