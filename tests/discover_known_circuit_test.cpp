// End to end: the discrete-SAE method (O'Neill & Bui 2024; docs/method.md) on a
// model whose circuit is known by construction (tests/support/toy_circuits.h): a 2-layer attention-only
// model with a hand-set previous-token head 0.0 and induction head 1.1, and random heads 0.1
// and 1.0. First we check that the model really solves induction through those two heads, then
// that discover() ranks them first.
//
// What the method does here, measured over 8 model seeds (5 SAE trials each, 100 + 100 prompts,
// paper settings otherwise; scores listed as [0.0 0.1 1.0 1.1], circuit = 0.0 and 1.1). The
// tests below assert the random_scale 0.5 raw-score rows on all 8 seeds; the other rows are what
// one run of the same loop measured (2026-12-03):
//   random heads at half the circuit heads' output norm (random_scale 0.5, the setting tested):
//     mean over positions (paper default): both circuit heads top 2 on 8/8 seeds, AUC 1.000,
//       e.g. seed 0 [27 10 12 15]; margin of the induction head over the best random head 3-11.
//     position last: induction head first on 8/8 seeds, previous-token head last (score 0-1),
//       AUC 0.500: at the last token it copies the second-to-last token, uniformly random on
//       positives and negatives alike, so it emits no code only positives show. The method
//       measures "behaves differently on positives", not "is needed".
//     normalised scores (|P \ N| / |P u N|): mean AUC 0.875 (5/8 both top 2), last 0.500.
//   random heads as loud as the circuit heads (random_scale 1, the model's default): mean AUC
//     0.906 (6/8 seeds both top 2; the previous-token head is first on 8/8, the induction head
//     drops among the random heads, e.g. seed 0 [24 16 17 15]); last AUC 0.375 (induction head
//     first on 4/8); normalised, mean AUC 0.594. Random heads whose attention depends on token
//     content also behave differently on repeated sequences, and |P \ N| rewards heads whose
//     outputs vary.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sae/discover.h"
#include "interp/head_outputs.h"
#include "support/toy_circuits.h"
#include "model/transformer.h"

using namespace cs;

namespace {

constexpr int kPrompts = 100;  // positives and as many negatives (the paper: 250 + 250)
constexpr int kHalf = 12;      // clean prompts are BOS x1..x12 x1..x12
constexpr int kLen = 2 * kHalf + 1;
constexpr int kHeads = 4;      // 2 layers x 2 heads; index = layer * 2 + head
constexpr int kPrev = kToyPrevTokenLayer * 2 + kToyPrevTokenHead;       // 0
constexpr int kInduction = kToyInductionLayer * 2 + kToyInductionHead;  // 3

// The random heads write outputs of about half the circuit heads' norm: prompt-dependent and
// not negligible (checked below), yet the circuit stays the loudest thing in the model. At
// equal norm the method no longer separates them reliably (see the header comment).
InductionToyOptions toy_options() {
  InductionToyOptions o;
  o.random_scale = 0.5f;
  return o;
}

TokenizedTask toy_task(uint64_t seed) {
  InductionToyPrompts p = induction_toy_prompts(kPrompts, kHalf, seed, toy_options());
  TokenizedTask t;
  t.name = "toy-induction";
  t.metric = MetricKind::Accuracy;
  t.clean = p.clean;
  t.negative = p.negative;
  t.answer = p.answer;
  for (int w : p.wrong) t.wrong.push_back({w});
  for (const auto& c : p.clean) {
    t.positions["end"].push_back(static_cast<int>(c.size()) - 1);
    t.positions["first"].push_back(1);
    t.positions["second"].push_back(1 + kHalf);
  }
  return t;
}

GroundTruth toy_truth() {
  GroundTruth g;
  g.name = "toy-induction";
  g.model = "induction_toy_model";
  g.task = "toy-induction";
  g.source = "tests/support/toy_circuits.h: hand-set weights";
  g.heads = {{kToyPrevTokenLayer, kToyPrevTokenHead}, {kToyInductionLayer, kToyInductionHead}};
  return g;
}

// Paper settings (n_features 200, lambda 0.02, lr 1e-3, 500 epochs, 10 SAE training prompts),
// 5 trials instead of the paper's 10 to keep the test fast (3 trials leave the induction head
// only 2 points above a random head on seed 0).
DiscoverOptions paper_options(PositionReduce position, uint64_t seed) {
  DiscoverOptions o;
  o.score = SaeScore::Paper;
  o.position = position;
  o.trials = 5;
  o.seed = seed;
  o.faithfulness = false;
  return o;
}

// Fraction of the second-half positions p in [n+1, 2n] whose argmax is the induction target
// clean[p - n + 1] (at the last position: the answer x1).
double induction_accuracy(const Model& m, const TokenizedTask& t) {
  Tensor logits = forward(m, Batch::from_sequences(t.clean));  // [B,T,V]
  const int64_t T = kLen, V = m.cfg.vocab_size;
  int ok = 0, n = 0;
  for (size_t b = 0; b < t.size(); ++b)
    for (int p = kHalf + 1; p < T; ++p, ++n) {
      const float* l = logits.ptr() + (b * T + p) * V;
      const int target = p + 1 < T ? t.clean[b][p - kHalf + 1] : t.answer[b];
      ok += std::max_element(l, l + V) - l == target;
    }
  return double(ok) / n;
}

Model without_head(Model m, int layer, int head) {
  const int64_t dh = m.cfg.d_head, D = m.cfg.d_model;
  std::fill_n(m.w.layers[layer].W_O.ptr() + head * dh * D, dh * D, 0.0f);
  return m;
}

// Heads sorted by score, best first; ties keep head order (as discover's circuit does).
std::vector<int> ranking(const std::vector<double>& s) {
  std::vector<int> order(s.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return s[a] > s[b]; });
  return order;
}

std::string scores_str(const std::vector<double>& s) {
  std::string r;
  for (size_t h = 0; h < s.size(); ++h) r += (h ? " " : "") + std::to_string(s[h]);
  return r;
}

// The toy matrices are tiny: OpenMP threads cost more than they save (and much more on a
// loaded machine). Results do not depend on the thread count (sae.h, head_outputs.h).
class DiscoverKnownCircuit : public testing::Test {
 protected:
  void SetUp() override { omp_set_num_threads(1); }
};
using ToyInductionModel = DiscoverKnownCircuit;

}  // namespace

TEST_F(ToyInductionModel, SolvesInductionThroughItsCircuit) {
  for (uint64_t seed : {0, 1, 2}) {
    SCOPED_TRACE("model seed " + std::to_string(seed));
    const Model m = induction_toy_model(seed, toy_options());
    const TokenizedTask t = toy_task(seed + 100);
    const double full = induction_accuracy(m, t);
    // The circuit is necessary: without either head the model is at chance (1/32) or near it.
    const double no_prev = induction_accuracy(without_head(m, kToyPrevTokenLayer, kToyPrevTokenHead), t);
    const double no_induction = induction_accuracy(without_head(m, kToyInductionLayer, kToyInductionHead), t);
    // ... and sufficient: the random heads do not matter for the answer, even when loud.
    const double circuit_only = induction_accuracy(without_head(without_head(m, 0, 1), 1, 0), t);
    const double loud = induction_accuracy(induction_toy_model(seed), t);
    RecordProperty("accuracy_seed" + std::to_string(seed),
                   scores_str({full, no_prev, no_induction, circuit_only, loud}));
    EXPECT_GT(full, 0.95);
    EXPECT_LT(no_prev, 0.2);
    EXPECT_LT(no_induction, 0.2);
    EXPECT_GT(circuit_only, 0.95);
    EXPECT_GT(loud, 0.95);
  }
}

TEST_F(ToyInductionModel, AttentionPatternsAreTheIntendedOnes) {
  const Model m = induction_toy_model(0, toy_options());
  const TokenizedTask t = toy_task(100);
  std::map<std::string, Tensor> cache;
  Hooks hooks;
  hooks.cache({Hook::pattern, 0}, &cache);
  hooks.cache({Hook::pattern, 1}, &cache);
  forward(m, Batch::from_sequences(t.clean), &hooks, {LogitsAt::None});
  const Tensor& p0 = cache.at(HookPoint{Hook::pattern, 0}.name());  // [B,H,T,T]
  const Tensor& p1 = cache.at(HookPoint{Hook::pattern, 1}.name());
  const int64_t B = t.size(), H = 2, T = kLen;
  auto at = [&](const Tensor& p, int64_t b, int64_t h, int64_t q, int64_t k) {
    return p.data[((b * H + h) * T + q) * T + k];
  };
  double prev = 1, induction = 1, random_max = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t q = 1; q < T; ++q) prev = std::min<double>(prev, at(p0, b, 0, q, q - 1));
    // Second half: each token attends to the position after its first occurrence.
    for (int64_t q = kHalf + 1; q < T; ++q) induction = std::min<double>(induction, at(p1, b, 1, q, q - kHalf + 1));
    for (const auto& [p, h] : {std::pair{&p0, 1}, std::pair{&p1, 0}})
      for (int64_t q = 0; q < T; ++q) {
        double mx = 0;
        for (int64_t k = 0; k <= q; ++k) mx = std::max<double>(mx, at(*p, b, h, q, k));
        random_max += mx / (2.0 * B * T);
      }
  }
  EXPECT_GT(prev, 0.99);
  EXPECT_GT(induction, 0.9);
  // Random heads: neither uniform nor one-hot (mean of the largest weight per query).
  RecordProperty("random_heads_mean_max_attention", std::to_string(random_max));
  EXPECT_GT(random_max, 0.3);
  EXPECT_LT(random_max, 0.9);
}

TEST_F(ToyInductionModel, RandomHeadsAreNotNegligible) {
  const Model m = induction_toy_model(0, toy_options());
  const TokenizedTask t = toy_task(100);
  PositionChoice mean;
  Tensor out = collect_head_outputs(m, t.clean, mean);  // [N, 4, D]
  const int64_t N = out.dim(0), D = out.dim(2);
  std::vector<double> norm(kHeads, 0), spread(kHeads, 0);
  for (int h = 0; h < kHeads; ++h) {
    std::vector<double> avg(D, 0);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t d = 0; d < D; ++d) avg[d] += out.data[(i * kHeads + h) * D + d] / N;
    for (int64_t i = 0; i < N; ++i) {
      double n2 = 0, s2 = 0;
      for (int64_t d = 0; d < D; ++d) {
        const double x = out.data[(i * kHeads + h) * D + d];
        n2 += x * x;
        s2 += (x - avg[d]) * (x - avg[d]);
      }
      norm[h] += std::sqrt(n2) / N;
      spread[h] += std::sqrt(s2) / N;
    }
  }
  RecordProperty("mean_output_norm", scores_str(norm));
  RecordProperty("mean_output_spread", scores_str(spread));
  const double circuit_norm = std::min(norm[kPrev], norm[kInduction]);
  for (int h : {1, 2}) {
    SCOPED_TRACE("random head " + std::to_string(h));
    EXPECT_GT(norm[h], 0.3 * circuit_norm);
    // The output moves with the prompt about as much as the circuit heads' outputs do.
    EXPECT_GT(spread[h], 0.3 * std::min(spread[kPrev], spread[kInduction]));
  }
}

// The paper's default: head outputs averaged over positions.
TEST_F(DiscoverKnownCircuit, MeanOverPositionsRanksCircuitHeadsFirst) {
  const GroundTruth truth = toy_truth();
  for (uint64_t seed = 0; seed < 8; ++seed) {
    SCOPED_TRACE("model seed " + std::to_string(seed));
    const Model m = induction_toy_model(seed, toy_options());
    const TokenizedTask t = toy_task(seed + 100);
    const DiscoverResult r = discover(m, t, paper_options(PositionReduce::Mean, seed), &truth);
    RecordProperty("mean_scores_seed" + std::to_string(seed), scores_str(r.mean_scores));
    ASSERT_EQ(r.mean_scores.size(), size_t{kHeads});
    const std::vector<int> order = ranking(r.mean_scores);
    EXPECT_TRUE((order[0] == kPrev && order[1] == kInduction) ||
                (order[0] == kInduction && order[1] == kPrev))
        << "scores " << scores_str(r.mean_scores);
    EXPECT_EQ(r.mean_eval->auc, 1.0);
    EXPECT_EQ(r.mean_eval->at_k.tp, 2);
    // The circuit is sized by |P\\N| alone (heads above its mean), never by the truth: one or both
    // circuit heads, nothing else (they rank first).
    EXPECT_GE(r.circuit_eval->tp, 1);
    EXPECT_EQ(r.circuit_eval->fp, 0);

    if (seed == 0) {  // same seed, same codes: trial 0 again, alone
      DiscoverOptions one = paper_options(PositionReduce::Mean, seed);
      one.trials = 1;
      const DiscoverResult again = discover(m, t, one, &truth);
      EXPECT_EQ(again.head_scores[0], r.head_scores[0]);
      EXPECT_EQ(again.trials[0].train_rows, r.trials[0].train_rows);
      EXPECT_EQ(again.trials[0].pos_codes, r.trials[0].pos_codes);
      EXPECT_EQ(again.trials[0].neg_codes, r.trials[0].neg_codes);
      EXPECT_EQ(again.trials[0].sae_loss, r.trials[0].sae_loss);
    }
  }
}

// Random heads as loud as the circuit (the model's default): what still holds is that the
// previous-token head, whose mean output is a pure histogram of the prompt's tokens (n tokens
// twice vs 2n once), ranks first. Where the induction head lands is not asserted (sweep: top 2
// on 6 of 8 seeds).
TEST_F(DiscoverKnownCircuit, LoudRandomHeadsStillLeavePreviousTokenHeadFirst) {
  const GroundTruth truth = toy_truth();
  for (uint64_t seed : {0, 1}) {
    SCOPED_TRACE("model seed " + std::to_string(seed));
    const Model m = induction_toy_model(seed);
    const TokenizedTask t = toy_task(seed + 100);
    const DiscoverResult r = discover(m, t, paper_options(PositionReduce::Mean, seed), &truth);
    RecordProperty("loud_mean_scores_seed" + std::to_string(seed), scores_str(r.mean_scores));
    EXPECT_EQ(ranking(r.mean_scores)[0], kPrev) << "scores " << scores_str(r.mean_scores);
    EXPECT_GE(r.mean_eval->auc, 0.5);
  }
}

// --position last: only the last token's head outputs. The induction head is the one head
// whose last-token output differs in kind (a sharp copy of x1 vs an average over no match), so
// it ranks first; the previous-token head does the same thing on both prompt sets (copies the
// second-to-last token, uniformly random in both) and scores about 0, below the random heads.
TEST_F(DiscoverKnownCircuit, LastPositionFindsInductionHeadButMissesPreviousTokenHead) {
  const GroundTruth truth = toy_truth();
  for (uint64_t seed = 0; seed < 8; ++seed) {
    SCOPED_TRACE("model seed " + std::to_string(seed));
    const Model m = induction_toy_model(seed, toy_options());
    const TokenizedTask t = toy_task(seed + 100);
    const DiscoverResult r = discover(m, t, paper_options(PositionReduce::Last, seed), &truth);
    RecordProperty("last_scores_seed" + std::to_string(seed), scores_str(r.mean_scores));
    const std::vector<int> order = ranking(r.mean_scores);
    EXPECT_EQ(order[0], kInduction) << "scores " << scores_str(r.mean_scores);
    EXPECT_EQ(order[kHeads - 1], kPrev) << "scores " << scores_str(r.mean_scores);
    // One circuit head first, the other last: AUC 0.5.
    EXPECT_EQ(r.mean_eval->auc, 0.5);
  }
}

