// Shared by the golden tests: a fixture model directory, its reference.safetensors (Hugging Face
// activations) and the reference input_ids as a Batch.
#pragma once
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/batch.h"
#include "model/blocks.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/transformer.h"

namespace cs {

struct GoldenFixture {
  Model model;
  SafetensorsFile ref;
  Batch batch;
  // Exact precision unless asked otherwise: the references are float64.
  explicit GoldenFixture(const std::string& dir, Precision p = Precision::Exact)
      : model(load_model(dir, {.precision = p})), ref(dir + "/reference.safetensors") {
    std::vector<int64_t> ids = ref.read_i64("input_ids");
    const TensorInfo* info = ref.find("input_ids");
    const int B = static_cast<int>(info->shape[0]), T = static_cast<int>(info->shape[1]);
    std::vector<std::vector<int>> seqs(B);
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) seqs[b].push_back(static_cast<int>(ids[b * T + t]));
    batch = Batch::from_sequences(seqs);
  }
};

// Every golden comparison: max |ours - ref| / max |ref| <= tol (1e-4 for activations).
inline void expect_close(const Tensor& ours, const Tensor& ref, const std::string& what,
                         double tol = 1e-4) {
  ASSERT_EQ(ours.numel(), ref.numel()) << what << ": ours " << ours.shape_str() << " ref " << ref.shape_str();
  EXPECT_LE(rel_max_error(ours.ptr(), ref.ptr(), ref.numel()), tol) << what;
}

// Runs `run(hooks)` (a forward pass with those hooks, returning logits) with hook_resid_pre,
// hook_pattern and hook_z of every layer and ln_final.hook_normalized cached, compares them with the
// reference's hidden.l, pattern.l, z.l and hidden.L (the final norm's output, as HF returns it:
// ln_final.hook_normalized with the norm's weight and bias applied), and returns the logits.
template <class Run>
Tensor expect_hidden_patterns_z(GoldenFixture& fx, Run run) {
  const int L = fx.model.cfg.n_layers;
  Hooks hooks;
  ActivationCache cache;
  for (int l = 0; l < L; ++l) {
    hooks.cache({Hook::resid_pre, l}, &cache);
    hooks.cache({Hook::pattern, l}, &cache);
    hooks.cache({Hook::z, l}, &cache);
  }
  hooks.cache({Hook::ln_final_normalized, -1}, &cache);
  Tensor logits = run(hooks);
  for (int l = 0; l < L; ++l) {
    const std::string s = std::to_string(l);
    expect_close(cache.at("blocks." + s + ".hook_resid_pre"), fx.ref.read_f32("hidden." + s), "hidden." + s);
    expect_close(cache.at("blocks." + s + ".attn.hook_pattern"), fx.ref.read_f32("pattern." + s), "pattern." + s);
    expect_close(cache.at("blocks." + s + ".attn.hook_z"), fx.ref.read_f32("z." + s), "z." + s);
  }
  // hook_normalized is TransformerLens's (before the weight and bias); HF's hidden.L is the
  // norm's output, so the weight and bias are applied here.
  Tensor final_out = cache.at("ln_final.hook_normalized");
  norm_affine(final_out.ptr(), fx.model.w.lnf_w, fx.model.w.lnf_b, final_out.numel() / fx.model.cfg.d_model);
  expect_close(final_out, fx.ref.read_f32("hidden." + std::to_string(L)), "hidden.L (final norm)");
  return logits;
}

}  // namespace cs
