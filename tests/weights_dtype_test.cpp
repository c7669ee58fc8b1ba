// Weights in their checkpoint's dtype: what load_model keeps (mapped views, no f32 copy), the
// memory check before loading, precision defaults, weight processing per precision, and the
// random checkpoints of the Llama-layout presets (init-random) read back with their settings.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/init.h"
#include "model/memory_check.h"
#include "model/model.h"
#include "model/process_weights.h"
#include "model/transformer.h"
#include "ops/error.h"

using namespace cs;
namespace fs = std::filesystem;

namespace {

const std::string kLlama31 = std::string(CS_TEST_DATA) + "/llama3.1-tiny";

// A small config of a preset's family: the preset's settings at test size.
ModelConfig small(const std::string& preset) {
  ModelConfig c = preset_config(preset);
  c.n_layers = 2;
  c.d_model = 64;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_head = 16;
  c.rotary_dim = 16;
  c.d_mlp = 96;
  c.vocab_size = 300;
  if (!c.layer_window.empty()) c.layer_window = {4, 0};
  return c;
}

}  // namespace

TEST(WeightsDtype, Bf16CheckpointsStayBf16AndMapped) {
  const Model m = load_model(kLlama31, {.precision = Precision::Exact});
  for (const LayerWeights& l : m.w.layers)
    for (const Weight* w : {&l.W_qkv, &l.W_O, &l.W_in, &l.W_gate, &l.W_out}) {
      EXPECT_EQ(w->dtype(), DType::BF16);
      EXPECT_TRUE(w->data.empty());  // no f32 copy
      EXPECT_TRUE(w->transposed());  // nn.Linear's [out, in] used as stored
    }
  EXPECT_EQ(m.w.W_U.dtype(), DType::BF16);
  // The matrices point into the file's mapping: same bytes as the file holds at that tensor.
  std::ifstream f(kLlama31 + "/model.safetensors", std::ios::binary);
  uint64_t n;
  f.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, ' ');
  f.read(header.data(), static_cast<std::streamsize>(n));
  const auto h = nlohmann::json::parse(header);
  const auto off = h["model.layers.0.self_attn.o_proj.weight"]["data_offsets"][0].get<uint64_t>();
  f.seekg(static_cast<std::streamoff>(8 + n + off));
  uint16_t first;
  f.read(reinterpret_cast<char*>(&first), 2);
  EXPECT_EQ(static_cast<const uint16_t*>(m.w.layers[0].W_O.mat().p)[0], first);
}

TEST(WeightsDtype, PrecisionDefaultsFollowTheCheckpoint) {
  EXPECT_EQ(load_model(kLlama31).precision, Precision::BF16);
  EXPECT_EQ(load_model(std::string(CS_TEST_DATA) + "/gpt2-tiny").precision, Precision::Exact);
  // bf16 on an f32 checkpoint rounds its matrices to bf16
  const Model g = load_model(std::string(CS_TEST_DATA) + "/gpt2-tiny", {.precision = Precision::BF16});
  EXPECT_EQ(g.w.layers[0].W_qkv.dtype(), DType::BF16);
}

TEST(WeightsDtype, ProcessingKeepsBf16UnderBf16AndIsExactUnderExact) {
  const Model b = load_model(kLlama31, {.process_weights = true, .precision = Precision::BF16});
  EXPECT_EQ(b.w.layers[1].W_in.dtype(), DType::BF16);
  EXPECT_EQ(b.w.W_U.dtype(), DType::BF16);
  const Model e = load_model(kLlama31, {.process_weights = true, .precision = Precision::Exact});
  EXPECT_EQ(e.w.layers[1].W_in.dtype(), DType::F32);  // folded norm scale, exact products
  EXPECT_EQ(e.w.layers[1].W_O.dtype(), DType::BF16);  // untouched by processing: still mapped
}

TEST(WeightsDtype, AModelThatDoesNotFitGetsOneLineWithWhatItNeeds) {
  try {
    load_model(kLlama31, {.memory_available = 1000});
    FAIL() << "expected a memory error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("needs about"), std::string::npos) << msg;
    EXPECT_NE(msg.find("GB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("available"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(load_model(kLlama31, {.memory_available = 64ull << 30}));
}

TEST(WeightsDtype, RandomPresetCheckpointsReadBackWithTheirSettings) {
  for (const std::string preset : {"qwen2.5-0.5b", "llama-3.2-1b", "llama-3.1-8b", "gemma-2-2b"}) {
    SCOPED_TRACE(preset);
    const ModelConfig want = small(preset);
    const std::string dir = testing::TempDir() + "/cs_random_" + preset;
    fs::remove_all(dir);
    write_random_checkpoint(want, dir, DType::BF16, 3);
    const Model m = load_model(dir);
    const ModelConfig& c = m.cfg;
    EXPECT_EQ(c.model_type, want.model_type);
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_EQ(c.tied_embeddings, want.tied_embeddings);
    EXPECT_FLOAT_EQ(c.rope.theta, want.rope.theta);
    EXPECT_FLOAT_EQ(c.rope.factor, want.rope.factor);
    EXPECT_FLOAT_EQ(c.attn_softcap, want.attn_softcap);
    EXPECT_FLOAT_EQ(c.final_softcap, want.final_softcap);
    EXPECT_EQ(c.layer_window, want.layer_window);
    EXPECT_EQ(c.post_norms, want.post_norms);
    EXPECT_EQ(m.precision, Precision::BF16);
    EXPECT_EQ(m.w.layers[0].W_gate.dtype(), DType::BF16);
    EXPECT_EQ(m.w.layers[0].b_qkv.empty(), want.model_type != "qwen2");
    // The values: mean ~0, std ~0.02 (init.h), the same for the same seed.
    const Tensor e = m.w.W_E.to_tensor();
    double s = 0, s2 = 0;
    for (float x : e.data) s += x, s2 += double(x) * x;
    const double n = static_cast<double>(e.numel()), sd = std::sqrt(s2 / n - (s / n) * (s / n));
    EXPECT_NEAR(s / n, 0.0, 2e-3);
    EXPECT_NEAR(sd, 0.02, 2e-3);
    const std::string again = dir + "_again";
    fs::remove_all(again);
    write_random_checkpoint(want, again, DType::BF16, 3);
    EXPECT_EQ(load_model(again).w.W_E.to_tensor().data, e.data);
    fs::remove_all(dir);
    fs::remove_all(again);
  }
}
