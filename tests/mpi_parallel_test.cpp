// The data-parallel passes (ops/comm.h) against one process: every pass run over the world's
// ranks equals the same pass run by this process alone (CommScope(Comm::self())) within float
// tolerance, and a second run over the ranks gives the same bits (fixed summation order).
// scripts/test.sh runs this file plainly and under `mpirun -np 2` (ctest: mpi_parallel_test_np2,
// with CS_EXPECT_RANKS=2, so a launch that silently gave one rank fails). The prompt count is
// odd so the ranks' blocks differ in size.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "attribution/eap.h"
#include "baselines/acdc.h"
#include "baselines/activation_patching.h"
#include "interp/faithfulness.h"
#include "interp/head_outputs.h"
#include "interp/task.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "ops/comm.h"

namespace cs {
namespace {

const std::string kModel = CS_SOURCE_DIR "/models/toy-gpt2-4l";

struct Fixture {
  Model m = load_model(kModel, {.process_weights = true});
  Tokenizer tok = Tokenizer::for_model_dir(kModel);
  TokenizedTask task = make_task("ioi", tok, options());
  static TaskOptions options() {
    TaskOptions o;
    o.n = 25, o.seed = 3;
    return o;
  }
};
Fixture& fx() {
  static Fixture f;
  return f;
}

// Runs fn over the world's ranks and alone; returns (alone, ranks, ranks again).
template <class F>
auto both(F fn) {
  auto ranks = fn();
  auto again = fn();
  decltype(ranks) alone;
  {
    CommScope solo(Comm::self());
    alone = fn();
  }
  return std::make_tuple(alone, ranks, again);
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double rel, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 0;
  for (double x : a) scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], rel * scale + 1e-12) << what << " [" << i << "] on rank " << Comm::world().rank();
}

TEST(MpiParallel, RunsOnTheExpectedNumberOfRanks) {
  const char* want = std::getenv("CS_EXPECT_RANKS");
  const int n = want ? std::atoi(want) : 1;
  EXPECT_EQ(Comm::world().size(), n) << "CS_EXPECT_RANKS=" << (want ? want : "(unset)")
                                     << (built_with_mpi() ? "" : " (this build has no MPI)");
  EXPECT_EQ(Comm::self().size(), 1);
  const LocalRange r = Comm::world().local_range(25);
  std::vector<double> sizes = {double(r.size())};
  Comm::world().allreduce_sum(sizes);
  EXPECT_EQ(sizes[0], 25.0);  // the blocks cover every prompt once
}

TEST(MpiParallel, AllreduceAddsInRankOrder) {
  Comm& w = Comm::world();
  // 1e16 + r: the sum depends on the order; rank order is what one process summing would do.
  std::vector<double> x = {w.rank() == 0 ? 1e16 : 1.0, double(w.rank() + 1)};
  w.allreduce_sum(x);
  double want = 1e16, count = 0;
  for (int r = 1; r < w.size(); ++r) want += 1.0;
  for (int r = 0; r < w.size(); ++r) count += r + 1;
  EXPECT_EQ(x[0], want);
  EXPECT_EQ(x[1], count);
}

TEST(MpiParallel, HeadOutputsGatheredEqualOneProcess) {
  Fixture& f = fx();
  PositionChoice pos;
  auto [alone, ranks, again] = both([&] {
    const Tensor t = collect_head_outputs(f.m, f.task.clean, pos, 8);
    return std::vector<double>(t.data.begin(), t.data.end());
  });
  expect_close(alone, ranks, 1e-5, "head outputs");
  EXPECT_EQ(ranks, again);
}

void check_eap(AblationKind kind, int steps) {
  Fixture& f = fx();
  MethodSettings s;
  s.n_prompts = 25, s.ablation = kind;
  EapOptions o;
  o.batch = 5;
  auto [alone, ranks, again] = both([&] {
    const EdgeAttribution a = edge_attribution(f.m, f.task, s, steps, o);
    std::vector<double> v = a.edge_signed;
    v.push_back(a.clean_metric);
    return v;
  });
  expect_close(alone, ranks, 1e-4, steps ? "EAP-IG" : "EAP");
  EXPECT_EQ(ranks, again);
}

TEST(MpiParallel, EapResampleEqualsOneProcess) { check_eap(AblationKind::Resample, 0); }
TEST(MpiParallel, EapMeanAblationEqualsOneProcess) { check_eap(AblationKind::Mean, 0); }
TEST(MpiParallel, EapIgEqualsOneProcess) { check_eap(AblationKind::Resample, 3); }

TEST(MpiParallel, ActivationPatchingEqualsOneProcess) {
  Fixture& f = fx();
  MethodSettings s;
  s.n_prompts = 25;
  PatchingOptions o;
  o.batch = 13;
  auto [alone, ranks, again] = both([&] {
    const NodePatching p = node_patching(f.m, f.task, s, o);
    std::vector<double> v = p.head_delta;
    v.insert(v.end(), p.mlp_delta.begin(), p.mlp_delta.end());
    v.push_back(p.clean_metric);
    return v;
  });
  expect_close(alone, ranks, 1e-4, "activation patching");
  EXPECT_EQ(ranks, again);
}

// ACDC: each rank's engine holds its block; every evaluation's metric is allreduced, so every
// rank takes the same decisions. KL and task-metric variants, resample and zero ablation.
TEST(MpiParallel, AcdcEqualsOneProcess) {
  Fixture& f = fx();
  for (const auto& [kind, kl] : {std::pair{AblationKind::Resample, true}, std::pair{AblationKind::Zero, false}}) {
    MethodSettings s;
    s.n_prompts = 25, s.ablation = kind;
    AcdcOptions o;
    o.tau = 0.02, o.metric_kl = kl, o.max_evaluations = 100;
    std::vector<char> kept_alone, kept_ranks;
    auto [alone, ranks, again] = both([&] {
      const AcdcResult a = acdc_run(f.m, f.task, s, o);
      (Comm::current().size() == 1 && &Comm::current() == &Comm::self() ? kept_alone : kept_ranks) = a.kept;
      std::vector<double> v = a.effect;
      v.push_back(a.initial_metric), v.push_back(a.final_metric);
      return v;
    });
    expect_close(alone, ranks, 1e-4, kl ? "ACDC (KL)" : "ACDC (metric)");
    EXPECT_EQ(ranks, again);
    EXPECT_EQ(kept_alone, kept_ranks) << "the ranks took other keep/remove decisions than one process";
  }
}

TEST(MpiParallel, FaithfulnessCurveEqualsOneProcess) {
  Fixture& f = fx();
  std::vector<double> scores(f.m.cfg.n_heads_total());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = std::sin(1.7 * i);  // any ranking
  for (AblationKind kind : {AblationKind::Mean, AblationKind::Resample, AblationKind::Zero}) {
    FaithfulnessOptions o;
    o.ablation = kind, o.n_prompts = 25;
    auto [alone, ranks, again] = both([&] {
      const FaithfulnessCurve c = faithfulness_curve(f.m, f.task, scores, o);
      std::vector<double> v = c.metric;
      v.push_back(c.cpr), v.push_back(c.cmd);
      return v;
    });
    expect_close(alone, ranks, 1e-5, to_string(kind).c_str());
    EXPECT_EQ(ranks, again);
  }
}

}  // namespace
}  // namespace cs
