// MIB's edge-level faithfulness (attribution/mib_faithfulness.h) on a hand-built model whose
// curve, and so its integral, is known in closed form: every head and MLP writes exactly 0
// (W_O, b_O, W_out, b_out zeroed), so the metric reads only the edge input -> logits. With it
// kept the logits are the clean prompt's, without it the corrupt prompt's (whose last token
// differs): f is 0 below the first fraction p* of MIB's grid whose floor(p* E) edges reach that
// edge's rank, and 1 from p* on. Trapezoids over MIB's grid x_0 < ... < x_9 then give
//   CPR = (x_k - x_{k-1}) / 2 + (1 - x_k),   CMD = (x_{k-1} - x_0) + (x_k - x_{k-1}) / 2
// for p* = x_k.
#include "attribution/mib_faithfulness.h"

#include <gtest/gtest.h>

#include <cmath>

#include "interp/graph.h"
#include "model/init.h"
#include "ops/error.h"

using namespace cs;

namespace {

Model silent_model() {
  Model m = random_model(preset_config("gpt2-tiny"), 3);
  for (LayerWeights& l : m.w.layers) {  // random_model's weights are f32: their data is the elements
    std::fill(l.W_O.data.begin(), l.W_O.data.end(), 0.0f);
    std::fill(l.W_out.data.begin(), l.W_out.data.end(), 0.0f);
    std::fill(l.b_O.data.begin(), l.b_O.data.end(), 0.0f);
    std::fill(l.b_out.data.begin(), l.b_out.data.end(), 0.0f);
  }
  return m;
}

TokenizedTask hand_task() {
  TokenizedTask t;
  t.name = "hand";
  t.clean = {{5, 7, 9}, {3, 8, 11}, {4, 6, 10}};
  t.corrupt = {{5, 7, 12}, {3, 8, 13}, {4, 6, 14}};  // the last token differs
  t.answer = {100, 101, 102};
  t.wrong = {{200}, {201}, {202}};
  t.metric = MetricKind::LogitDiff;
  return t;
}

// Scores putting input -> logits at rank `rank` (1 = best), every other edge in index order.
std::vector<double> scores_with_rank(const Graph& g, int rank) {
  const int E = g.n_edges(), star = g.find(parse_edge("input->logits"));
  std::vector<double> s(E);
  int pos = 0;
  for (int e = 0; e < E; ++e) {
    if (e == star) continue;
    if (pos == rank - 1) ++pos;  // leave rank's slot for the star edge
    s[e] = E - pos++;
  }
  s[star] = E - (rank - 1);
  return s;
}

}  // namespace

TEST(MibFaithfulness, AreasAreMibsTrapezoids) {
  const std::vector<double>& x = mib_edge_fractions();
  ASSERT_EQ(x, (std::vector<double>{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0}));
  double cpr = 0, cmd = 0;
  mib_areas(x, x, &cpr, &cmd);  // f(p) = p: trapezoids are exact on a line
  EXPECT_NEAR(cpr, (1 - 0.001 * 0.001) / 2, 1e-15);
  EXPECT_NEAR(cmd, 0.999 - cpr, 1e-15);
}

TEST(MibFaithfulness, StepCurveOfTheSilentModelIntegratesInClosedForm) {
  const Model m = silent_model();
  const TokenizedTask task = hand_task();
  const Graph g(m.cfg);
  const int E = g.n_edges();
  ASSERT_EQ(E, 262);  // 3 x 4 heads with MLPs: 216 head inputs, 30 MLP inputs, 16 logits inputs
  const std::vector<double>& x = mib_edge_fractions();
  for (int rank : {10, 1, E}) {
    SCOPED_TRACE(rank);
    const MibFaithfulness r = mib_faithfulness(m, task, scores_with_rank(g, rank), 100);
    size_t k = 0;
    while (static_cast<int>(x[k] * E) < rank) ++k;  // p* = x[k]
    ASSERT_EQ(r.faithfulness.size(), x.size());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(r.faithfulness[i], i < k ? 0.0 : 1.0, 1e-5) << x[i];
    const double lo = k > 0 ? x[k - 1] : x[0];
    const double cpr = (x[k] - lo) / 2 + (1 - x[k]), cmd = (lo - x[0]) + (x[k] - lo) / 2;
    EXPECT_NEAR(r.cpr, cpr, 1e-5);
    EXPECT_NEAR(r.cmd, cmd, 1e-5);
    EXPECT_EQ(r.edges.back(), E);
    EXPECT_EQ(r.n_prompts, 3);
  }
  // rank 10 lands at p* = 0.05 (floor(0.02 * 262) = 5 < 10 <= 13): CPR 0.965, CMD 0.034.
  const MibFaithfulness r = mib_faithfulness(m, task, scores_with_rank(g, 10), 100);
  EXPECT_NEAR(r.cpr, 0.965, 1e-5);
  EXPECT_NEAR(r.cmd, 0.034, 1e-5);
}

TEST(MibFaithfulness, NeedsCorruptPromptsAndAMovingMetric) {
  const Model m = silent_model();
  const Graph g(m.cfg);
  TokenizedTask t = hand_task();
  t.corrupt.clear();
  EXPECT_THROW(mib_faithfulness(m, t, scores_with_rank(g, 1), 100), Error);
  t = hand_task();
  t.corrupt = t.clean;  // nothing to patch: f undefined
  EXPECT_THROW(mib_faithfulness(m, t, scores_with_rank(g, 1), 100), Error);
  EXPECT_THROW(mib_faithfulness(m, hand_task(), std::vector<double>(3, 0.0), 100), Error);
}
