// Golden tests: our forward on a GPT-NeoX (Pythia layout) checkpoint vs Hugging Face transformers
// (float64 reference activations from the f16 weights as stored). Exercises the per-head fused
// query_key_value layout, partial rotary (25% of head dims) and the parallel residual.
#include <gtest/gtest.h>

#include <cmath>

#include "model/model.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "golden_fixture.h"

using namespace cs;

namespace {

const std::string kDir = std::string(CS_TEST_DATA) + "/neox-tiny";

GoldenFixture& fx() {
  static GoldenFixture f(kDir);
  return f;
}

Tensor log_softmax_rows(Tensor t, int64_t V) {
  for (int64_t i = 0; i < t.numel() / V; ++i) {
    float* r = t.ptr() + i * V;
    double mx = r[0], s = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max<double>(mx, r[v]);
    for (int64_t v = 0; v < V; ++v) s += std::exp(r[v] - mx);
    for (int64_t v = 0; v < V; ++v) r[v] = static_cast<float>(r[v] - mx - std::log(s));
  }
  return t;
}

}  // namespace

TEST(NeoxGolden, ConfigIsRead) {
  const ModelConfig& c = fx().model.cfg;
  EXPECT_EQ(c.model_type, "gpt_neox");
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_head, 16);
  EXPECT_EQ(c.d_mlp, 256);
  EXPECT_EQ(c.vocab_size, 1000);
  EXPECT_EQ(c.positions, Positions::Rotary);
  EXPECT_EQ(c.rotary_dim, 4);  // 25% of 16
  EXPECT_FLOAT_EQ(c.rope.theta, 10000.0f);
  EXPECT_TRUE(c.parallel_residual);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.act, Activation::GeluErf);
  EXPECT_EQ(c.norm, Norm::LayerNorm);
  EXPECT_EQ(c.dtype_on_disk, "F16");
}

TEST(NeoxGolden, Logits) {
  Tensor logits = forward(fx().model, fx().batch);
  expect_close(logits, fx().ref.read_f32("logits"), "logits");
}

TEST(NeoxGolden, HiddenStatesPatternsAndZ) {
  expect_hidden_patterns_z(fx(), [&](Hooks& h) { return forward(fx().model, fx().batch, &h); });
}

TEST(NeoxGolden, SplitQkvInputsLeaveOutputUnchanged) {
  Hooks hooks;
  ActivationCache cache;
  hooks.cache({Hook::k_input, 1}, &cache);
  Tensor logits = forward(fx().model, fx().batch, &hooks);
  expect_close(logits, fx().ref.read_f32("logits"), "logits with split q/k/v inputs");
  EXPECT_EQ(cache.at("blocks.1.hook_k_input").shape, (std::vector<int64_t>{2, 10, 4, 64}));
}

TEST(NeoxGolden, ProcessedWeightsKeepOutputDistribution) {
  Model processed = load_model(kDir, {.process_weights = true});
  const int64_t V = processed.cfg.vocab_size;
  Tensor a = log_softmax_rows(fx().ref.read_f32("logits"), V);
  Tensor b = log_softmax_rows(forward(processed, fx().batch), V);
  EXPECT_LE(rel_max_error(b.ptr(), a.ptr(), a.numel()), 1e-4);
}
