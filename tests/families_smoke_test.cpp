// Everything downstream of the engine (tasks, SAE discovery, baselines) runs on every family:
// random-weight Llama-shaped (RMSNorm, SwiGLU, rotary, grouped-query attention) and
// NeoX-shaped (parallel residual, partial rotary) models with the GPT-2 tokenizer's vocabulary.
#include <gtest/gtest.h>

#include <cmath>

#include "compare/compare.h"
#include "sae/discover.h"
#include "interp/head_outputs.h"
#include "model/init.h"
#include "model/process_weights.h"
#include "model/transformer.h"
#include "model/tokenizer.h"
#include "ops/error.h"

using namespace cs;

namespace {

ModelConfig small(const std::string& family) {
  const bool llama_like = family == "llama" || family == "gemma";
  ModelConfig c = preset_config(llama_like ? "llama-1b" : "pythia-160m");
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = family == "llama" ? 2 : family == "gemma" ? 1 : 4;  // GQA for Llama, MQA for Gemma
  if (family == "gemma") c.act = Activation::GeGLU, c.model_type = "gemma";
  c.d_model = 64;
  c.d_head = 16;
  c.d_mlp = 128;
  c.n_ctx = 128;
  c.vocab_size = 50257;
  c.rotary_dim = llama_like ? 16 : 4;
  return c;
}

TokenizedTask ioi(int n) {
  static Tokenizer tok = Tokenizer::for_model_dir(std::string(CS_SOURCE_DIR) + "/data/gpt2-tokenizer");
  TaskOptions o;
  o.n = n;
  return make_task("ioi", tok, o);
}

class Families : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Families, DiscoverRunsEndToEndWithPerQueryHeadBookkeeping) {
  Model m = random_model(small(GetParam()), 3);
  TokenizedTask t = ioi(30);
  // hook_result is per query head even when keys/values are shared (GQA).
  PositionChoice pc;
  Tensor acts = collect_head_outputs(m, t.clean, pc);
  EXPECT_EQ(acts.shape, (std::vector<int64_t>{30, 8, 64}));
  DiscoverOptions o;
  o.sae.epochs = 30;
  o.trials = 2;
  o.level = Level::Edge;
  o.faith.n_prompts = 20;
  GroundTruth g;
  g.name = "smoke";
  g.heads = {{1, 0}, {1, 3}};
  DiscoverResult r = discover(m, t, o, &g);
  ASSERT_EQ(r.mean_scores.size(), 8u);
  for (double s : r.mean_scores) EXPECT_TRUE(std::isfinite(s));
  ASSERT_TRUE(r.faith.has_value());
  EXPECT_EQ(r.faith->size.back(), 8);
  EXPECT_NEAR(r.faith->fraction.back(), 1.0, 1e-6);  // all heads kept = the full model
}

TEST_P(Families, CompareRunsEveryMethod) {
  Model m = random_model(small(GetParam()), 4);
  TokenizedTask t = ioi(24);
  CompareOptions o;
  for (const MethodInfo& i : method_table()) o.methods.push_back(i.id);
  o.trials = 1;
  o.options.settings.n_prompts = 12;
  o.options.sp.steps = 5;
  o.options.eap.steps = 2;
  o.options.discover.sae.epochs = 20;
  o.faith.n_prompts = 12;
  GroundTruth g;
  g.name = "smoke";
  g.heads = {{0, 1}, {1, 2}};
  g.edges = {parse_edge("a1.h2->logits")};  // as the reference circuits' edges: head -> logits
  std::vector<MethodRow> rows = compare(m, t, &g, o);
  ASSERT_EQ(rows.size(), o.methods.size());
  for (const MethodRow& r : rows) {
    ASSERT_EQ(r.mean_head_scores.size(), 8u) << r.method;
    for (double s : r.mean_head_scores) EXPECT_TRUE(std::isfinite(s)) << r.method;
    ASSERT_EQ(r.node_auc.size(), 1u) << r.method;
    EXPECT_GE(r.node_auc[0], 0.0);
    EXPECT_LE(r.node_auc[0], 1.0);
    if (r.method == "acdc" || r.method == "eap" || r.method == "eap-ig") {
      // Edge methods score head -> logits edges: an edge AUC against the truth's logit edge.
      EXPECT_TRUE(r.edges_to_logits) << r.method;
      ASSERT_EQ(r.edge_auc.size(), 1u) << r.method;
      EXPECT_GE(r.edge_auc[0], 0.0);
      EXPECT_LE(r.edge_auc[0], 1.0);
    }
    if (r.method == "sae-paper") {  // head pairs only, and the truth has no head pair: no edge AUC
      EXPECT_FALSE(r.edges_to_logits);
      EXPECT_TRUE(r.edge_auc.empty());
    }
  }
}

// Undoing grouped-query attention (for ACDC's per-head k/v edges and per-head k/v masks) keeps
// the model's function: same logits, and head h's key/value are its group's shared ones.
TEST(ExpandKvHeads, SameLogitsAndPerHeadCopiesOfTheSharedKeys) {
  const Model m = random_model(small("llama"), 9);
  ASSERT_EQ(m.cfg.n_kv_heads, 2);
  const Model e = expand_kv_heads(m);
  EXPECT_EQ(e.cfg.n_kv_heads, e.cfg.n_heads);
  const Batch b = Batch::from_sequences({{464, 3290, 318, 257, 1332}, {40, 588, 11, 50, 7, 9}});
  ActivationCache ca, ce;
  Hooks hm, he;
  hm.add({Hook::k, 1}, [&](const HookPoint& p, Tensor& t) { ca[p.name()] = t; });
  he.add({Hook::k, 1}, [&](const HookPoint& p, Tensor& t) { ce[p.name()] = t; });
  const Tensor lm = forward(m, b, &hm), le = forward(e, b, &he);
  ASSERT_EQ(lm.shape, le.shape);
  for (int64_t i = 0; i < lm.numel(); ++i) ASSERT_NEAR(lm.data[i], le.data[i], 1e-5f) << i;
  const Tensor &k = ca.at("blocks.1.attn.hook_k"), &kx = ce.at("blocks.1.attn.hook_k");  // [B,T,Hk|H,dh]
  ASSERT_EQ(k.dim(2), 2);
  ASSERT_EQ(kx.dim(2), 4);
  const int64_t dh = k.dim(3);
  for (int64_t bt = 0; bt < k.dim(0) * k.dim(1); ++bt)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t i = 0; i < dh; ++i)
        ASSERT_NEAR(kx.data[(bt * 4 + h) * dh + i], k.data[(bt * 2 + h / 2) * dh + i], 1e-5f);
  // A model without GQA comes back unchanged.
  const Model n = random_model(small("neox"), 9);
  EXPECT_EQ(expand_kv_heads(n).w.layers[0].W_qkv.data, n.w.layers[0].W_qkv.data);
}

INSTANTIATE_TEST_SUITE_P(LlamaNeoxGemma, Families, ::testing::Values("llama", "neox", "gemma"));
