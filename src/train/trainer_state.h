// trainer_state.bin: the optimizer state a checkpoint directory keeps beside its weights, so
// `train --resume` continues exactly where a run stopped.
//
// Layout (little-endian): "CSTRAIN1", int64 next_step, int64 tokens seen, int64 tensor count K,
// then per tensor k: int64 n_k, n_k floats of Adam's first moment, n_k floats of the second.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cs {

struct TrainerState {
  int64_t next_step = 0;
  int64_t tokens = 0;
  std::vector<std::vector<float>> m1, m2;  // per tensor, in the trainer's parameter order
};

std::string trainer_state_bytes(const TrainerState& s);

// Parses and checks a state against the model it must resume: exactly `sizes.size()` tensors of
// those element counts (so the file size is known before anything is read), next_step in
// [0, max_step], tokens >= 0, first moments finite, second moments finite and >= 0. Errors name
// `path`. The trainer checkpoint fuzz target's entry point.
TrainerState parse_trainer_state(const std::string& bytes, const std::vector<int64_t>& sizes, int64_t max_step,
                                 const std::string& path);

// Reads `path` (a regular file of exactly the expected size) and parses it as above.
TrainerState read_trainer_state(const std::string& path, const std::vector<int64_t>& sizes, int64_t max_step);

}  // namespace cs
