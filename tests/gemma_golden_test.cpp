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
  const Model& m = fx().model;
  Hooks hooks;
  ActivationCache cache;
  for (int l = 0; l < m.cfg.n_layers; ++l) {
    hooks.cache({Hook::resid_pre, l}, &cache);
    hooks.cache({Hook::pattern, l}, &cache);
    hooks.cache({Hook::z, l}, &cache);
  }
  hooks.cache({Hook::ln_final_normalized, -1}, &cache);
  expect_close(forward(m, fx().batch, &hooks), fx().ref.read_f32("logits"), "logits");
  for (int l = 0; l < m.cfg.n_layers; ++l) {
    const std::string L = std::to_string(l);
    // hidden.0 is the scaled embedding: HF multiplies by sqrt(hidden_size) before layer 0.
    expect_close(cache.at("blocks." + L + ".hook_resid_pre"), fx().ref.read_f32("hidden." + L), "hidden." + L);
    expect_close(cache.at("blocks." + L + ".attn.hook_pattern"), fx().ref.read_f32("pattern." + L), "pattern." + L);
    expect_close(cache.at("blocks." + L + ".attn.hook_z"), fx().ref.read_f32("z." + L), "z." + L);
  }
  expect_close(cache.at("ln_final.hook_normalized"),
               fx().ref.read_f32("hidden." + std::to_string(m.cfg.n_layers)), "hidden.L (final norm)");
}

TEST(GemmaGolden, ExpandedKeyValueHeadsKeepTheLogits) {
  // Multi-query attention undone for ACDC / subnetwork probing: the same function.
  const Model e = expand_kv_heads(fx().model);
  EXPECT_EQ(e.cfg.n_kv_heads, 4);
  expect_close(forward(e, fx().batch), fx().ref.read_f32("logits"), "logits of the expanded model");
}
