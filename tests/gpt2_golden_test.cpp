// Golden tests: our GPT-2 forward vs Hugging Face transformers (float64 reference activations).
#include <gtest/gtest.h>

#include <cmath>

#include "model/model.h"
#include "model/process_weights.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "golden_fixture.h"

using namespace cs;

namespace {

const std::string kDir = std::string(CS_TEST_DATA) + "/gpt2-tiny";

GoldenFixture& fx() {
  static GoldenFixture f(kDir);
  return f;
}

}  // namespace

TEST(Gpt2Golden, ConfigIsRead) {
  const ModelConfig& c = fx().model.cfg;
  EXPECT_EQ(c.n_layers, 3);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_head, 16);
  EXPECT_EQ(c.vocab_size, 50257);
}

TEST(Gpt2Golden, Logits) {
  Tensor logits = forward(fx().model, fx().batch);
  expect_close(logits, fx().ref.read_f32("logits"), "logits");
}

TEST(Gpt2Golden, HiddenStatesPatternsAndZ) {
  expect_hidden_patterns_z(fx(), [&](Hooks& h) { return forward(fx().model, fx().batch, &h); });
}

TEST(Gpt2Golden, ZeroAblationThroughHookReplacement) {
  Hooks hooks;
  hooks.add({Hook::z, 1}, [](const HookPoint&, Tensor& z) {  // z [B,T,H,dh]: zero head 2
    const int64_t B = z.dim(0), T = z.dim(1), H = z.dim(2), dh = z.dim(3);
    for (int64_t bt = 0; bt < B * T; ++bt)
      for (int64_t j = 0; j < dh; ++j) z.data[(bt * H + 2) * dh + j] = 0.0f;
  });
  Tensor logits = forward(fx().model, fx().batch, &hooks);
  expect_close(logits, fx().ref.read_f32("logits_ablate_l1h2"), "logits_ablate_l1h2");
  // and the ablation really changed something
  EXPECT_GT(rel_max_error(logits.ptr(), fx().ref.read_f32("logits").ptr(), logits.numel()), 1e-3);
}

TEST(Gpt2Golden, ResultHookSumsToAttnOut) {
  const Model& m = fx().model;
  Hooks hooks;
  ActivationCache cache;
  hooks.cache({Hook::result, 1}, &cache);
  hooks.cache({Hook::attn_out, 1}, &cache);
  Tensor with_result = forward(m, fx().batch, &hooks);
  const Tensor& r = cache.at("blocks.1.attn.hook_result");
  const Tensor& a = cache.at("blocks.1.hook_attn_out");
  const int64_t BT = r.dim(0) * r.dim(1), H = r.dim(2), D = r.dim(3);
  Tensor sum({r.dim(0), r.dim(1), D});
  for (int64_t i = 0; i < BT; ++i)
    for (int64_t d = 0; d < D; ++d) {
      float s = m.w.layers[1].b_O.data[d];
      for (int64_t h = 0; h < H; ++h) s += r.data[(i * H + h) * D + d];
      sum.data[i * D + d] = s;
    }
  expect_close(sum, a, "sum of hook_result + b_O vs hook_attn_out", 1e-5);
  expect_close(with_result, fx().ref.read_f32("logits"), "logits with hook_result active");
}

TEST(Gpt2Golden, SplitQkvInputsLeaveOutputUnchanged) {
  Hooks hooks;
  ActivationCache cache;
  hooks.cache({Hook::q_input, 2}, &cache);
  hooks.cache({Hook::v_input, 0}, &cache);
  Tensor logits = forward(fx().model, fx().batch, &hooks);
  expect_close(logits, fx().ref.read_f32("logits"), "logits with split q/k/v inputs");
  EXPECT_EQ(cache.at("blocks.2.hook_q_input").shape, (std::vector<int64_t>{2, 14, 4, 64}));
}

TEST(Gpt2Golden, LastPositionLogits) {
  const Batch& b = fx().batch;
  Tensor all = forward(fx().model, b);
  Tensor last = forward(fx().model, b, nullptr, {LogitsAt::Last});
  const int64_t V = fx().model.cfg.vocab_size;
  ASSERT_EQ(last.shape, (std::vector<int64_t>{b.B, V}));
  for (int i = 0; i < b.B; ++i)
    EXPECT_LE(rel_max_error(last.ptr() + i * V, all.ptr() + (i * b.T + b.last(i)) * V, V), 1e-6);
}

TEST(Gpt2Golden, RightPaddingDoesNotChangeRealPositions) {
  const Batch& b = fx().batch;
  std::vector<std::vector<int>> seqs = {{b.row(0), b.row(0) + 9}, {b.row(1), b.row(1) + b.T}};
  Batch padded = Batch::from_sequences(seqs, 50256);
  Tensor lp = forward(fx().model, padded, nullptr, {LogitsAt::Last});
  Tensor alone = forward(fx().model, Batch::from_sequences({seqs[0]}), nullptr, {LogitsAt::Last});
  const int64_t V = fx().model.cfg.vocab_size;
  EXPECT_LE(rel_max_error(lp.ptr(), alone.ptr(), V), 1e-5);
}

TEST(ProcessWeights, KeepsOutputDistributionAndChangesResult) {
  Model processed = load_model(kDir, {.process_weights = true});
  const Model& raw = fx().model;
  Tensor a = forward(raw, fx().batch), b = forward(processed, fx().batch);
  // Logits may shift by a constant per position (center_unembed): compare log-softmax.
  const int64_t V = raw.cfg.vocab_size, N = a.numel() / V;
  auto log_softmax = [&](Tensor t) {
    for (int64_t i = 0; i < N; ++i) {
      float* r = t.ptr() + i * V;
      double mx = r[0], s = 0;
      for (int64_t v = 0; v < V; ++v) mx = std::max<double>(mx, r[v]);
      for (int64_t v = 0; v < V; ++v) s += std::exp(r[v] - mx);
      for (int64_t v = 0; v < V; ++v) r[v] = static_cast<float>(r[v] - mx - std::log(s));
    }
    return t;
  };
  Tensor la = log_softmax(a), lb = log_softmax(b);
  EXPECT_LE(rel_max_error(lb.ptr(), la.ptr(), la.numel()), 1e-4);

  Hooks hooks;
  ActivationCache ca, cb;
  hooks.cache({Hook::result, 0}, &ca);
  forward(raw, fx().batch, &hooks);
  Hooks hooks2;
  hooks2.cache({Hook::result, 0}, &cb);
  forward(processed, fx().batch, &hooks2);
  const Tensor& ra = ca.begin()->second;
  const Tensor& rb = cb.begin()->second;
  EXPECT_GT(rel_max_error(rb.ptr(), ra.ptr(), ra.numel()), 1e-2);
  // Processed hook_result is centered over d_model (center_writing_weights).
  const int64_t D = rb.dim(3);
  for (int64_t i = 0; i < rb.numel() / D; i += 7) {
    double s = 0;
    for (int64_t d = 0; d < D; ++d) s += rb.data[i * D + d];
    EXPECT_NEAR(s / D, 0.0, 1e-5);
  }
}
