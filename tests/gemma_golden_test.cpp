// Golden tests: our forward on a Gemma checkpoint (GeGLU, RMSNorm applied as 1 + w, embeddings
// scaled by sqrt(d_model), multi-query attention, head_dim != d_model / n_heads, tied
// embeddings) vs Hugging Face transformers (float64 reference activations from the float32
// weights as stored; tests/data/gemma-tiny, made by GemmaForCausalLM on the lent GPU machine).
#include <gtest/gtest.h>

#include "golden_fixture.h"
#include "model/model.h"
#include "model/process_weights.h"
#include "model/transformer.h"

using namespace cs;

namespace {

const std::string kDir = std::string(CS_TEST_DATA) + "/gemma-tiny";

GoldenFixture& fx() {
  static GoldenFixture f(kDir);
  return f;
}

}  // namespace

TEST(GemmaGolden, ConfigIsRead) {
  const ModelConfig& c = fx().model.cfg;
  EXPECT_EQ(c.model_type, "gemma");
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 1);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_head, 32);
  EXPECT_EQ(c.act, Activation::GeGLU);
  EXPECT_EQ(c.norm, Norm::RMSNorm);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rotary_dim, 32);
}

TEST(GemmaGolden, LogitsHiddenStatesPatternsAndZ) {
  // hidden.0 is the scaled embedding: HF multiplies by sqrt(hidden_size) before layer 0.
  const Tensor logits =
      expect_hidden_patterns_z(fx(), [&](Hooks& h) { return forward(fx().model, fx().batch, &h); });
  expect_close(logits, fx().ref.read_f32("logits"), "logits");
}

TEST(GemmaGolden, ExpandedKeyValueHeadsKeepTheLogits) {
  // Multi-query attention undone for ACDC / subnetwork probing: the same function.
  const Model e = expand_kv_heads(fx().model);
  EXPECT_EQ(e.cfg.n_kv_heads, 4);
  expect_close(forward(e, fx().batch), fx().ref.read_f32("logits"), "logits of the expanded model");
}
