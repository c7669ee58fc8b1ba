// The edge evaluation compare and discover share (evaluation/head_edges.h): head -> head edges
// (q/k/v merged) and head -> logits edges scored against a ground truth's edges, on hand-built
// edge lists with hand-computed AUCs.
#include "evaluation/head_edges.h"

#include <gtest/gtest.h>

#include <cmath>

#include "evaluation/method.h"

namespace cs {
namespace {

// 2 layers x 2 heads with MLPs: HT = 4, pairs at s * 4 + r, logits at 16 + s.
const Graph kGraph(2, 2, true);

// Edges not listed are not scored (NaN).
MethodResult method_with_edges(bool logits) {
  MethodResult r;
  r.head_scores.assign(4, 0.0);
  r.edge_scores.assign(kGraph.n_edges(), std::nan(""));
  auto add = [&](const char* edge, double s) { r.edge_scores[kGraph.find(parse_edge(edge))] = s; };
  add("a0.h0->a1.h1<q>", 0.90);
  add("a0.h0->a1.h1<k>", 0.95);  // same head pair: the max counts
  add("a0.h1->a1.h0<v>", 0.92);
  add("input->a1.h0<q>", 7.0);   // not from a head
  add("a0.h1->m0", 6.0);         // into an MLP
  add("m0->logits", 6.0);        // from an MLP
  if (logits) {
    add("a1.h1->logits", 0.80);
    add("a0.h1->logits", 0.10);
  }
  return r;
}

GroundTruth truth_with_edges() {
  GroundTruth g;
  g.name = "hand";
  g.heads = {{0, 0}, {1, 1}};
  g.edges = {parse_edge("a0.h0->a1.h1<q>"), parse_edge("a1.h1->logits"), parse_edge("m0->logits")};
  return g;
}

TEST(CompareEdges, ScoresAndLabelsLandOnTheirHeadEdges) {
  bool logits = false;
  const std::vector<double> s = head_edge_scores(method_with_edges(true).edge_scores, kGraph, &logits);
  ASSERT_EQ(s.size(), 20u);
  EXPECT_TRUE(logits);
  EXPECT_DOUBLE_EQ(s[0 * 4 + 3], 0.95);  // a0.0 -> a1.1: max over q and k
  EXPECT_DOUBLE_EQ(s[1 * 4 + 2], 0.92);  // a0.1 -> a1.0
  EXPECT_DOUBLE_EQ(s[3 * 4 + 3], 0.0);   // a1.1 -> a1.1 is not a pair
  EXPECT_DOUBLE_EQ(s[16 + 3], 0.80);
  EXPECT_DOUBLE_EQ(s[16 + 1], 0.10);
  const std::vector<bool> y = head_edge_labels(truth_with_edges(), 2, 2);
  ASSERT_EQ(y.size(), 20u);
  EXPECT_EQ(std::count(y.begin(), y.end(), true), 2);  // m0 -> output is not a head edge
  EXPECT_TRUE(y[0 * 4 + 3]);
  EXPECT_TRUE(y[16 + 3]);

  head_edge_scores(method_with_edges(false).edge_scores, kGraph, &logits);
  EXPECT_FALSE(logits);
}

TEST(CompareEdges, AucOverPairsAndLogitEdges) {
  const std::vector<bool> y = head_edge_labels(truth_with_edges(), 2, 2);
  // Candidates: 4 forward pairs (0.95+, 0.92, 0, 0) and 4 logit edges (0.80+, 0.10, 0, 0).
  // 0.95 beats all 6 negatives, 0.80 beats 5 of them (not 0.92): 11 / 12.
  const std::vector<double> s = head_edge_scores(method_with_edges(true).edge_scores, kGraph, nullptr);
  EXPECT_NEAR(head_edge_auc(s, y, 2, 2, true), 11.0 / 12.0, 1e-12);
  // Head pairs only: 0.95 beats 0.92, 0, 0.
  EXPECT_NEAR(head_edge_auc(s, y, 2, 2, false), 1.0, 1e-12);
  // A truth without head edges among the candidates: no AUC.
  GroundTruth g = truth_with_edges();
  g.edges = {parse_edge("a1.h1->logits")};
  EXPECT_TRUE(std::isnan(head_edge_auc(s, head_edge_labels(g, 2, 2), 2, 2, false)));
  EXPECT_NEAR(head_edge_auc(s, head_edge_labels(g, 2, 2), 2, 2, true), 5.0 / 7.0, 1e-12);
}

}  // namespace
}  // namespace cs
