// Ablation through hook_z / hook_mlp_out on gpt2-tiny (3 layers x 4 heads, MLPs) and on an
// attention-only variant of it (MLPs removed), checked against runs that need no ablation code.
#include "interp/ablation.h"
#include "interp/faithfulness.h"
#include "interp/metrics.h"
#include "interp/task_metric.h"

#include <gtest/gtest.h>

#include "model/model.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "ops/error.h"

using namespace cs;

namespace {

const std::string kDir = std::string(CS_TEST_DATA) + "/gpt2-tiny";

const Model& gpt2() {
  static Model m = load_model(kDir);
  return m;
}

// gpt2-tiny without its MLPs: every write to the residual stream after the embeddings is a head's.
const Model& attn_only() {
  static Model m = [] {
    Model r = load_model(kDir);
    r.cfg.attn_only = true;
    r.cfg.d_mlp = 0;
    return r;
  }();
  return m;
}

// Clean and corrupted prompts of equal length that differ everywhere but the last token.
const std::vector<std::vector<int>> kClean = {{464, 3290, 373, 257, 922, 1110, 13, 383},
                                              {40, 588, 284, 1100, 3835, 290, 4144, 383}};
const std::vector<std::vector<int>> kCorrupt = {{1870, 11, 612, 547, 1115, 7572, 2058, 383},
                                                {818, 262, 3726, 11, 612, 373, 257, 383}};

double err(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  return rel_max_error(a.ptr(), b.ptr(), b.numel());
}

}  // namespace

TEST(Ablation, ZeroAblationMatchesHuggingFaceReference) {
  SafetensorsFile ref{kDir + "/reference.safetensors"};
  std::vector<int64_t> ids = ref.read_i64("input_ids");
  const TensorInfo* info = ref.find("input_ids");
  const int B = static_cast<int>(info->shape[0]), T = static_cast<int>(info->shape[1]);
  std::vector<std::vector<int>> seqs(B);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) seqs[b].push_back(static_cast<int>(ids[b * T + t]));
  AblationSource zero = make_ablation_source(gpt2(), AblationKind::Zero, nullptr);
  Tensor logits =
      run_with_heads_ablated(gpt2(), Batch::from_sequences(seqs), zero, {{{1, 2}}}, LogitsAt::All);
  EXPECT_LE(err(logits, ref.read_f32("logits_ablate_l1h2")), 1e-4);
}

// Attention-only: the last position's residual is W_E[tok] + W_pos[t] + sum of b_O + every head's
// output there. With every head resampled from the corrupted prompt and the last token shared,
// the clean run's last-position logits are the corrupted run's, exactly.
TEST(Ablation, ResampleEveryHeadOfAttentionOnlyModelGivesCorruptedRun) {
  const Model& m = attn_only();
  Batch clean = Batch::from_sequences(kClean), corrupt = Batch::from_sequences(kCorrupt);
  AblationSource src = make_ablation_source(m, AblationKind::Resample, &corrupt);
  Tensor want = forward(m, corrupt, nullptr, {LogitsAt::Last});
  Tensor got = run_with_heads_ablated(m, clean, src, all_heads(m));
  EXPECT_LE(err(got, want), 1e-5);
  // Meaningful: the clean run is far from the corrupted one, and leaving one head clean breaks it.
  EXPECT_GT(err(forward(m, clean, nullptr, {LogitsAt::Last}), want), 1e-2);
  HeadSet all_but_one = complement(m, HeadSet{{{2, 1}}});
  EXPECT_EQ(all_but_one.heads.size(), 11u);
  EXPECT_GT(err(run_with_heads_ablated(m, clean, src, all_but_one), want), 1e-4);
  // Positions that do not share the token differ: the embedding is not a head's.
  Tensor all = run_with_heads_ablated(m, clean, src, all_heads(m), LogitsAt::All);
  Tensor all_want = forward(m, corrupt);
  EXPECT_GT(rel_max_error(all.ptr(), all_want.ptr(), m.cfg.vocab_size), 1e-3);  // row 0, t = 0
}

// With MLPs. An MLP acts on each position alone, so at the shared last token resampling every
// head already gives the corrupted logits. At the other positions the clean embedding stays, and
// the MLPs read it: there only resampling every head and every MLP makes the residual stream,
// less the token embedding, equal to the corrupted run's.
TEST(Ablation, ResampleEveryNodeOfGpt2GivesCorruptedRun) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean), corrupt = Batch::from_sequences(kCorrupt);
  AblationSource src = make_ablation_source(m, AblationKind::Resample, &corrupt);
  Tensor want = forward(m, corrupt, nullptr, {LogitsAt::Last});
  NodeSet everything = complement(m, NodeSet{});
  EXPECT_EQ(everything.heads.size(), 12u);
  EXPECT_EQ(everything.mlps, (std::vector<int>{0, 1, 2}));
  EXPECT_LE(err(run_with_nodes_ablated(m, clean, src, everything), want), 1e-5);
  EXPECT_LE(err(run_with_heads_ablated(m, clean, src, all_heads(m)), want), 1e-5);

  // resid_post of the last layer minus hook_embed [B,T,D]: what the heads and MLPs wrote.
  auto written = [&](const Batch& batch, const NodeSet* ablate) {
    Hooks hooks;
    if (ablate) add_ablation_hooks(hooks, m, src, *ablate);
    ActivationCache c;
    hooks.cache({Hook::embed, -1}, &c);
    hooks.cache({Hook::resid_post, 2}, &c);
    forward(m, batch, &hooks, {LogitsAt::None});
    Tensor r = c.at("blocks.2.hook_resid_post");
    for (int64_t i = 0; i < r.numel(); ++i) r.data[i] -= c.at("hook_embed").data[i];
    return r;
  };
  Tensor corrupt_written = written(corrupt, nullptr);
  EXPECT_LE(err(written(clean, &everything), corrupt_written), 1e-5);
  NodeSet heads_only{all_heads(m).heads, {}};
  EXPECT_GT(err(written(clean, &heads_only), corrupt_written), 1e-3);
}

// Mean ablation over a single reference prompt is patching from that prompt; checked against a
// plain hook that copies the cached z.
TEST(Ablation, MeanOverOnePromptEqualsPatchingFromIt) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean);
  Batch reference = Batch::from_sequences({kCorrupt[1]});
  AblationSource src = make_ablation_source(m, AblationKind::Mean, &reference);
  const HeadSet heads{{{0, 1}, {1, 3}, {2, 0}, {1, 0}}};
  Tensor got = run_with_heads_ablated(m, clean, src, heads, LogitsAt::All);

  ActivationCache ref_z;
  Hooks rec;
  for (int l = 0; l < 3; ++l) rec.cache({Hook::z, l}, &ref_z);
  forward(m, reference, &rec, {LogitsAt::None});
  Hooks patch;
  for (auto [l, h] : heads.heads) {
    const Tensor* r = &ref_z.at(HookPoint{Hook::z, l}.name());  // [1,T,H,dh]
    patch.add({Hook::z, l}, [r, h = h](const HookPoint&, Tensor& z) {
      const int64_t B = z.dim(0), T = z.dim(1), H = z.dim(2), dh = z.dim(3);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
          for (int64_t j = 0; j < dh; ++j)
            z.data[((b * T + t) * H + h) * dh + j] = r->data[(t * H + h) * dh + j];
    });
  }
  Tensor want = forward(m, clean, &patch);
  EXPECT_LE(err(got, want), 1e-6);
  EXPECT_GT(err(got, forward(m, clean)), 1e-3);
  // The same source resamples when the reference is repeated for every row.
  Batch repeated = Batch::from_sequences({kCorrupt[1], kCorrupt[1]});
  AblationSource rs = make_ablation_source(m, AblationKind::Resample, &repeated);
  EXPECT_LE(err(run_with_heads_ablated(m, clean, rs, heads, LogitsAt::All), want), 1e-6);
}

// Means skip padding: position t averages only the prompts longer than t; past the longest
// prompt, the per-head mean over every real position stands in.
TEST(Ablation, MeanSkipsPaddingAndFallsBackPastTheReference) {
  const Model& m = gpt2();
  const std::vector<int> a = {464, 3290, 373, 257, 922}, b = {40, 588, 284};
  Batch reference = Batch::from_sequences({a, b}, 50256);
  AblationSource src = make_ablation_source(m, AblationKind::Mean, &reference);
  ActivationCache za, zb;
  Hooks ha, hb;
  ha.cache({Hook::z, 1}, &za);
  hb.cache({Hook::z, 1}, &zb);
  forward(m, Batch::from_sequences({a}), &ha, {LogitsAt::None});
  forward(m, Batch::from_sequences({b}), &hb, {LogitsAt::None});
  const std::string name = "blocks.1.attn.hook_z";
  const Tensor &ta = za.at(name), &tb = zb.at(name), &mean = src.z.at(name);
  const Tensor& fallback = src.z_fallback.at(name);
  const int64_t F = 4 * 16;  // H * dh
  ASSERT_EQ(mean.shape, (std::vector<int64_t>{5, 4, 16}));
  ASSERT_EQ(fallback.shape, (std::vector<int64_t>{4, 16}));
  for (int64_t j = 0; j < F; ++j) {
    EXPECT_NEAR(mean.data[1 * F + j], 0.5 * (ta.data[1 * F + j] + tb.data[1 * F + j]), 1e-6);
    EXPECT_NEAR(mean.data[4 * F + j], ta.data[4 * F + j], 1e-6);  // only a reaches t = 4
    double s = 0;
    for (int t = 0; t < 5; ++t) s += ta.data[t * F + j];
    for (int t = 0; t < 3; ++t) s += tb.data[t * F + j];
    EXPECT_NEAR(fallback.data[j], s / 8, 1e-6);
  }
  // A clean prompt longer than the reference uses the fallback at t >= 5.
  Batch longer = Batch::from_sequences({kClean[0]});
  Hooks hooks;
  add_ablation_hooks(hooks, m, src, HeadSet{{{1, 2}}});
  ActivationCache seen;
  hooks.cache({Hook::z, 1}, &seen);  // runs after the ablation hook
  forward(m, longer, &hooks, {LogitsAt::None});
  const Tensor& z = seen.at(name);
  for (int64_t j = 0; j < 16; ++j) {
    EXPECT_EQ(z.data[(0 * 4 + 2) * 16 + j], mean.data[(0 * 4 + 2) * 16 + j]);
    EXPECT_EQ(z.data[(7 * 4 + 2) * 16 + j], fallback.data[2 * 16 + j]);
  }
}

TEST(Ablation, PositionsLimitTheAblation) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean);
  AblationSource zero = make_ablation_source(m, AblationKind::Zero, nullptr);
  Hooks hooks;
  add_ablation_hooks(hooks, m, zero, HeadSet{{{0, 0}, {1, 1}}}, {5});
  Tensor got = forward(m, clean, &hooks), base = forward(m, clean);
  const int64_t V = m.cfg.vocab_size;
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 8; ++t) {
      const int64_t off = (b * 8 + t) * V;
      double e = rel_max_error(got.ptr() + off, base.ptr() + off, V);
      if (t < 5)
        EXPECT_EQ(e, 0.0) << "b=" << b << " t=" << t;  // causal: earlier rows untouched
      else
        EXPECT_GT(e, 1e-5) << "b=" << b << " t=" << t;
    }
}

TEST(Ablation, BadInputsThrowUsefulErrors) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean);
  AblationSource zero = make_ablation_source(m, AblationKind::Zero, nullptr);
  Hooks hooks;
  EXPECT_THROW(add_ablation_hooks(hooks, m, zero, HeadSet{{{3, 0}}}), Error);
  EXPECT_THROW(add_ablation_hooks(hooks, m, zero, HeadSet{{{0, 4}}}), Error);
  EXPECT_THROW(add_ablation_hooks(hooks, m, zero, HeadSet{{{0, 0}}}, {-1}), Error);
  EXPECT_THROW(add_ablation_hooks(hooks, attn_only(), zero, NodeSet{{}, {0}}), Error);
  EXPECT_THROW(make_ablation_source(m, AblationKind::Resample, nullptr), Error);
  Batch shorter = Batch::from_sequences({kCorrupt[0]});
  AblationSource rs = make_ablation_source(m, AblationKind::Resample, &shorter);
  EXPECT_THROW(run_with_heads_ablated(m, clean, rs, HeadSet{{{0, 0}}}), Error);
  Hooks late;
  add_ablation_hooks(late, m, zero, HeadSet{{{0, 0}}}, {8});
  EXPECT_THROW(forward(m, clean, &late), Error);
  EXPECT_EQ(parse_ablation_kind("mean"), AblationKind::Mean);
  EXPECT_THROW(parse_ablation_kind("gaussian"), Error);
}

// start_at_layer resumes a run from the residual entering a layer: with the same ablation hooks,
// starting at layer l from the hooked run's blocks.l.hook_resid_pre gives the full run's logits.
TEST(Ablation, StartAtLayerFromCachedResidualMatchesFullRun) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean), corrupt = Batch::from_sequences(kCorrupt);
  AblationSource src = make_ablation_source(m, AblationKind::Resample, &corrupt);
  HeadSet ablate{{{0, 1}, {1, 3}, {2, 0}}};
  Hooks hooks;
  add_ablation_hooks(hooks, m, src, ablate);
  ActivationCache c;
  for (int l = 1; l < 3; ++l) hooks.cache({Hook::resid_pre, l}, &c);
  const Tensor want = forward(m, clean, &hooks, {LogitsAt::Last});
  Hooks plain;
  add_ablation_hooks(plain, m, src, ablate);
  for (int l = 1; l < 3; ++l) {
    const Tensor& resid = c.at("blocks." + std::to_string(l) + ".hook_resid_pre");
    ForwardOptions fo{LogitsAt::Last, -1, l, &resid};
    EXPECT_LE(err(forward(m, clean, &plain, fo), want), 1e-6) << "start at layer " << l;
  }
  // Without the ablations on the later layers the answer differs: the check can fail.
  const Tensor& r2 = c.at("blocks.2.hook_resid_pre");
  EXPECT_GT(err(forward(m, clean, nullptr, {LogitsAt::Last, -1, 2, &r2}), want), 1e-4);
  // A missing or misshapen residual is an error, not a read out of bounds.
  EXPECT_THROW(forward(m, clean, nullptr, {LogitsAt::Last, -1, 1, nullptr}), Error);
  Tensor wrong({1, 8, m.cfg.d_model});
  EXPECT_THROW(forward(m, clean, nullptr, {LogitsAt::Last, -1, 1, &wrong}), Error);
  EXPECT_THROW(forward(m, clean, nullptr, {LogitsAt::Last, -1, 3, &r2}), Error);
}

// stop_at_z ends the pass at a layer's hook_z: the z values of every layer up to it are those of
// the full pass, and nothing after it runs.
TEST(Ablation, StopAtZGivesTheFullRunsZ) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean);
  for (int last = 0; last < m.cfg.n_layers; ++last) {
    ActivationCache full, part;
    Hooks hf, hp;
    for (int l = 0; l <= last; ++l) {
      hf.cache({Hook::z, l}, &full);
      hp.cache({Hook::z, l}, &part);
    }
    bool later_ran = false;
    hp.add({Hook::attn_out, last}, [&](const HookPoint&, Tensor&) { later_ran = true; });
    if (last + 1 < m.cfg.n_layers)
      hp.add({Hook::resid_pre, last + 1}, [&](const HookPoint&, Tensor&) { later_ran = true; });
    forward(m, clean, &hf, {LogitsAt::None});
    ForwardOptions fo;
    fo.logits = LogitsAt::None;
    fo.stop_after_layer = last;
    fo.stop_at_z = true;
    EXPECT_TRUE(forward(m, clean, &hp, fo).empty());
    EXPECT_FALSE(later_ran) << "layer " << last;
    for (int l = 0; l <= last; ++l) {
      const std::string name = "blocks." + std::to_string(l) + ".attn.hook_z";
      ASSERT_EQ(part.at(name).shape, full.at(name).shape);
      EXPECT_EQ(part.at(name).data, full.at(name).data) << name;
    }
  }
  ForwardOptions bad;
  bad.stop_at_z = true;  // without the layer to stop at
  EXPECT_THROW(forward(m, clean, nullptr, bad), Error);
}

// A metric that reads a few tokens' logits gets the same values from those columns alone
// (ForwardOptions::vocab_columns + on_columns) as from the whole unembedding.
TEST(Ablation, MetricOnItsColumnsEqualsMetricOnAllLogits) {
  const Model& m = gpt2();
  Batch clean = Batch::from_sequences(kClean);
  TokenizedTask t;
  t.clean = kClean;
  t.answer = {318, 1110};
  t.wrong = {{617, 40}, {3290}};
  const Tensor all = forward(m, clean, nullptr, {LogitsAt::Last});
  for (MetricKind k : {MetricKind::LogitDiff, MetricKind::Accuracy}) {
    t.metric = k;
    const std::vector<int> cols = metric_columns(t);
    EXPECT_EQ(cols, (std::vector<int>{40, 318, 617, 1110, 3290}));
    ForwardOptions fo;
    fo.logits = LogitsAt::Last;
    fo.vocab_columns = &cols;
    const Tensor some = forward(m, clean, nullptr, fo);
    ASSERT_EQ(some.shape, (std::vector<int64_t>{2, 5}));
    const std::vector<double> want = task_metric(t, all), got = task_metric(on_columns(t, cols), some);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << metric_name(k);
  }
  t.metric = MetricKind::Accuracy;
  t.wrong.clear();  // argmax over the vocabulary reads every column
  EXPECT_TRUE(metric_columns(t).empty());
  t.metric = MetricKind::ProbDiff;
  EXPECT_TRUE(metric_columns(t).empty());
  EXPECT_THROW(on_columns(t, {40}), Error);
}

// The faithfulness curve (its circuits run one per thread, reading only the metric's logit
// columns) against one plain full-vocabulary forward per size with the rest of the heads
// mean-ablated; for a metric with columns (logit difference) and one without (accuracy with no
// wrong answers reads the argmax over the vocabulary).
TEST(Faithfulness, CurveEqualsOneFullAblatedRunPerSize) {
  const Model& m = gpt2();
  TokenizedTask t;
  t.clean = kClean;
  t.corrupt = kCorrupt;
  t.answer = {318, 1110};
  t.wrong = {{617, 40}, {3290}};
  const std::vector<double> scores = {0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.0, 0.6, 0.4, 1.0, 0.05};
  ASSERT_EQ(static_cast<int>(scores.size()), m.cfg.n_heads_total());
  FaithfulnessOptions fo;
  fo.max_points = 6;  // fewer points than sizes: the even grid
  const Batch clean = Batch::from_sequences(kClean);
  for (MetricKind k : {MetricKind::LogitDiff, MetricKind::Accuracy}) {
    t.metric = k;
    if (k == MetricKind::Accuracy) t.wrong.clear();
    SCOPED_TRACE(metric_name(k));
    const FaithfulnessCurve c = faithfulness_curve(m, t, scores, fo);
    ASSERT_EQ(c.size, (std::vector<int>{0, 2, 5, 7, 10, 12}));
    const AblationSource src = task_ablation_source(m, t, fo);
    for (size_t i = 0; i < c.size.size(); ++i) {
      const HeadSet keep = top_k_heads(scores, m.cfg.n_heads, c.size[i]);
      const Tensor logits =
          run_with_heads_ablated(m, clean, src, complement(m, keep), LogitsAt::Last);
      const double want = mean(task_metric(t, logits));
      EXPECT_NEAR(c.metric[i], want, 1e-5 * std::max(1.0, std::abs(want))) << "size " << c.size[i];
      EXPECT_NEAR(circuit_metric(m, t, keep, src, fo.n_prompts), want,
                  1e-5 * std::max(1.0, std::abs(want)));
    }
    EXPECT_EQ(c.empty, c.metric.front());
    EXPECT_NEAR(c.full, mean(task_metric(t, forward(m, clean, nullptr, {LogitsAt::Last}))), 1e-5);
    EXPECT_NEAR(c.metric.back(), c.full, 1e-5 * std::max(1.0, std::abs(c.full)));  // all heads kept
  }
}
