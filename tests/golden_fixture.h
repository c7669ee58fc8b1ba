// Shared by the golden tests: a fixture model directory, its reference.safetensors (Hugging Face
// activations) and the reference input_ids as a Batch.
#pragma once
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/batch.h"
#include "model/model.h"
#include "model/safetensors.h"

namespace cs {

struct GoldenFixture {
  Model model;
  SafetensorsFile ref;
  Batch batch;
  explicit GoldenFixture(const std::string& dir)
      : model(load_model(dir)), ref(dir + "/reference.safetensors") {
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

}  // namespace cs
