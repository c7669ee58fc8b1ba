// Golden tests: our forward on a Llama checkpoint (bf16, sharded, GQA, RMSNorm, RoPE, SwiGLU) vs
// Hugging Face transformers (float64 reference activations from the bf16 weights as stored).
// Also checks the Qwen2 / Mistral variants read through the same file, and load_model's errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "model/checkpoint_files.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "golden_fixture.h"
#include "ops/error.h"

using namespace cs;
namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(CS_TEST_DATA) + "/llama-tiny";

GoldenFixture& fx() {
  static GoldenFixture f(kDir);
  return f;
}

// The reference was made by a transformers model cast with .to(torch.bfloat16), which also rounds
// the rotary inv_freq buffer to bf16 (a known artefact of nn.Module.to: transformers issue 25681;
// from_pretrained keeps it float32, as the model was trained and as TransformerLens computes it).
// Our engine keeps exact float32 frequencies, so to compare at 1e-4 these hooks pre-rotate q and
// k (before the engine's RoPE) by (bf16(f_i) - f_i) * t: the net rotation is then bf16(f_i) * t.
void add_fixture_rope(Hooks& hooks, const ModelConfig& c) {
  const int64_t half = c.rotary_dim / 2;
  std::vector<double> delta(half);
  const std::vector<float> ours_all = rope_inv_freq(c.rotary_dim, c.rope);
  for (int64_t i = 0; i < half; ++i) {
    // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32
    const float hf = 1.0f / std::pow(c.rope.theta, static_cast<float>(2 * i) / c.rotary_dim);
    const float ours = ours_all[i];
    delta[i] = static_cast<double>(bf16_to_f32(f32_to_bf16(hf))) - ours;
  }
  auto pre_rotate = [delta, half](const HookPoint&, Tensor& x) {  // x [B,T,n,dh]
    const int64_t B = x.dim(0), T = x.dim(1), n = x.dim(2), dh = x.dim(3);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < half; ++i) {
          const double c = std::cos(delta[i] * t), s = std::sin(delta[i] * t);
          for (int64_t h = 0; h < n; ++h) {
            float* row = x.ptr() + ((b * T + t) * n + h) * dh;
            const double x1 = row[i], x2 = row[i + half];
            row[i] = static_cast<float>(x1 * c - x2 * s);
            row[i + half] = static_cast<float>(x2 * c + x1 * s);
          }
        }
  };
  for (int l = 0; l < c.n_layers; ++l) {
    hooks.add({Hook::q, l}, pre_rotate);
    hooks.add({Hook::k, l}, pre_rotate);
  }
}

// Logits for the fixture batch as the reference computes them (bf16-rounded RoPE frequencies).
Tensor reference_semantics_forward(const Model& m, Hooks hooks = {}) {
  add_fixture_rope(hooks, m.cfg);
  return forward(m, fx().batch, &hooks);
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

nlohmann::json llama_config_json() {
  std::ifstream in(kDir + "/config.json");
  return nlohmann::json::parse(in);
}

// A fresh directory holding config `cfg` and the llama-tiny tensors (minus `drop`, plus `extra`).
std::string write_variant(const std::string& name, const nlohmann::json& cfg,
                          const std::vector<std::pair<std::string, Tensor>>& extra,
                          const std::string& drop = "") {
  const std::string dir = testing::TempDir() + "/cs_llama_variant_" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  CheckpointFiles files(kDir);
  std::vector<Tensor> store;
  std::vector<std::string> names;
  for (const std::string& n : files.names())
    if (n != drop) {
      names.push_back(n);
      store.push_back(files.read_f32(n));
    }
  for (const auto& [n, t] : extra) {
    names.push_back(n);
    store.push_back(t);
  }
  std::vector<std::pair<std::string, const Tensor*>> list;
  for (size_t i = 0; i < names.size(); ++i) list.emplace_back(names[i], &store[i]);
  write_safetensors(dir + "/model.safetensors", list, DType::F32);
  return dir;
}

Tensor random_tensor(std::vector<int64_t> shape, uint32_t seed, float scale) {
  Tensor t(std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, scale);
  for (float& x : t.data) x = n(rng);
  return t;
}

}  // namespace

TEST(LlamaGolden, ConfigIsRead) {
  const ModelConfig& c = fx().model.cfg;
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_head, 16);
  EXPECT_EQ(c.d_mlp, 128);
  EXPECT_EQ(c.vocab_size, 1000);
  EXPECT_EQ(c.norm, Norm::RMSNorm);
  EXPECT_EQ(c.act, Activation::SwiGLU);
  EXPECT_EQ(c.positions, Positions::Rotary);
  EXPECT_EQ(c.rotary_dim, 16);
  EXPECT_FLOAT_EQ(c.rope.theta, 10000.0f);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.dtype_on_disk, "BF16");
}

TEST(LlamaGolden, Logits) {
  expect_close(reference_semantics_forward(fx().model), fx().ref.read_f32("logits"), "logits");
  // With exact float32 frequencies the only difference is the reference's bf16 rounding of them.
  expect_close(forward(fx().model, fx().batch), fx().ref.read_f32("logits"),
               "logits, exact RoPE frequencies", 2e-3);
}

TEST(LlamaGolden, HiddenStatesPatternsAndZ) {
  expect_hidden_patterns_z(fx(), [&](Hooks& h) { return reference_semantics_forward(fx().model, h); });
}

TEST(LlamaGolden, SplitQkvInputsWithGqaLeaveOutputUnchanged) {
  Hooks hooks;
  ActivationCache cache;
  hooks.cache({Hook::q_input, 0}, &cache);
  hooks.cache({Hook::k_input, 1}, &cache);
  Tensor logits = reference_semantics_forward(fx().model, hooks);
  expect_close(logits, fx().ref.read_f32("logits"), "logits with split q/k/v inputs");
  EXPECT_EQ(cache.at("blocks.0.hook_q_input").shape, (std::vector<int64_t>{2, 10, 4, 64}));
  EXPECT_EQ(cache.at("blocks.1.hook_k_input").shape, (std::vector<int64_t>{2, 10, 2, 64}));
}

TEST(LlamaGolden, ProcessedWeightsKeepOutputDistribution) {
  Model processed = load_model(kDir, {.process_weights = true, .precision = Precision::Exact});
  const int64_t V = processed.cfg.vocab_size;
  Tensor a = log_softmax_rows(fx().ref.read_f32("logits"), V);
  Tensor b = log_softmax_rows(reference_semantics_forward(processed), V);
  EXPECT_LE(rel_max_error(b.ptr(), a.ptr(), a.numel()), 1e-4);
}

// Qwen2 = Llama + q/k/v biases: each bias must land in its block of the canonical b_qkv.
TEST(LlamaVariants, Qwen2BiasesLandInTheirBlocks) {
  nlohmann::json cfg = llama_config_json();
  cfg["model_type"] = "qwen2";
  cfg["use_sliding_window"] = false;
  cfg["sliding_window"] = 4;  // ignored unless use_sliding_window
  std::vector<std::pair<std::string, Tensor>> biases;
  const char* proj[3] = {"q_proj", "k_proj", "v_proj"};
  const int64_t width[3] = {64, 32, 32};
  for (int l = 0; l < 2; ++l)
    for (int s = 0; s < 3; ++s)
      biases.emplace_back("model.layers." + std::to_string(l) + ".self_attn." + proj[s] + ".bias",
                          random_tensor({width[s]}, 10 * l + s, 0.5f));
  Model qwen = load_model(write_variant("qwen2", cfg, biases), {.precision = Precision::Exact});
  EXPECT_EQ(qwen.cfg.model_type, "qwen2");
  EXPECT_EQ(qwen.cfg.n_ctx, 128);

  Model llama = load_model(kDir, {.precision = Precision::Exact});  // same weights; add the biases by hand in canonical order
  for (int l = 0; l < 2; ++l) {
    Tensor& b = llama.w.layers[l].b_qkv;
    b = Tensor({128});
    int64_t col = 0;
    for (int s = 0; s < 3; ++s) {
      const Tensor& src = biases[3 * l + s].second;
      std::copy(src.data.begin(), src.data.end(), b.data.begin() + col);
      col += width[s];
    }
    ASSERT_EQ(qwen.w.layers[l].b_qkv.data, b.data) << "layer " << l;
  }
  Tensor a = forward(llama, fx().batch), q = forward(qwen, fx().batch);
  EXPECT_LE(rel_max_error(q.ptr(), a.ptr(), a.numel()), 1e-6);
  EXPECT_GT(rel_max_error(a.ptr(), fx().ref.read_f32("logits").ptr(), a.numel()), 1e-3);
}

TEST(LlamaVariants, TiedEmbeddingsWithoutLmHead) {
  nlohmann::json cfg = llama_config_json();
  cfg["tie_word_embeddings"] = true;
  Model m = load_model(write_variant("tied", cfg, {}, "lm_head.weight"));
  EXPECT_TRUE(m.cfg.tied_embeddings);
  EXPECT_EQ(m.w.W_U.data, m.w.W_E.data);

  cfg["tie_word_embeddings"] = false;  // untied but lm_head missing: a clear error
  const std::string dir = write_variant("untied_missing", cfg, {}, "lm_head.weight");
  try {
    load_model(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head.weight"), std::string::npos) << e.what();
  }
}

TEST(LlamaVariants, MistralSlidingWindowBoundsTheContext) {
  nlohmann::json cfg = llama_config_json();
  cfg["model_type"] = "mistral";
  cfg["sliding_window"] = 8;
  Model m = load_model(write_variant("mistral", cfg, {}), {.precision = Precision::Exact});
  EXPECT_EQ(m.cfg.family, "Mistral");
  EXPECT_EQ(m.cfg.n_ctx, 8);
  EXPECT_THROW(forward(m, fx().batch), Error);  // 10 tokens > window of 8
  Batch short_batch = fx().batch.slice(0, 1);
  short_batch = Batch::from_sequences({{short_batch.row(0), short_batch.row(0) + 8}});
  Tensor ours = forward(m, short_batch);
  Tensor ref = forward(fx().model, short_batch);
  EXPECT_LE(rel_max_error(ours.ptr(), ref.ptr(), ref.numel()), 1e-6);
}

TEST(LlamaVariants, OtherScaledRopesAndIncompleteLlama3ScalingAreRefused) {
  auto expect_refused = [](const std::string& name, const nlohmann::json& rope, const char* says) {
    nlohmann::json cfg = llama_config_json();
    cfg["rope_parameters"] = rope;
    try {
      load_model(write_variant(name, cfg, {}));
      FAIL() << "expected an error for " << rope.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  expect_refused("yarnrope", {{"rope_type", "yarn"}, {"rope_theta", 500000.0}, {"factor", 8.0}}, "'yarn'");
  expect_refused("llama3rope", {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0}},
                 "low_freq_factor");
  expect_refused("llama3bad", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0},
                               {"high_freq_factor", 1.0}}, "high_freq_factor > low_freq_factor");
}

TEST(LlamaVariants, Llama3RopeScalingIsRead) {
  nlohmann::json cfg = llama_config_json();
  cfg.erase("rope_parameters");
  cfg["rope_theta"] = 500000.0;
  cfg["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 32.0}, {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  const Model m = load_model(write_variant("llama3scaled", cfg, {}));
  EXPECT_FLOAT_EQ(m.cfg.rope.theta, 500000.0f);
  EXPECT_FLOAT_EQ(m.cfg.rope.factor, 32.0f);
  EXPECT_FLOAT_EQ(m.cfg.rope.high_freq_factor, 4.0f);
  EXPECT_FLOAT_EQ(m.cfg.rope.original_max_position, 8192.0f);
}

TEST(LoadModel, UnknownModelTypeListsSupportedOnes) {
  const std::string dir = testing::TempDir() + "/cs_unknown_model_type";
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << R"({"model_type": "bert"})";
  try {
    load_model(dir);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'bert'"), std::string::npos) << msg;
    for (const char* t : {"gpt2", "gpt_neox", "llama", "mistral", "qwen2", "gemma", "circuitscan_attn_only"})
      EXPECT_NE(msg.find(t), std::string::npos) << t << " missing from: " << msg;
  }
}
