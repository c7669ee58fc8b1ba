// trainer_state.bin of a checkpoint, against a model of four tensors (3, 0, 5 and 2 values) and
// --steps 1000: an accepted state has exactly those sizes and a step in range.
#include "fuzz.h"
#include "train/trainer_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cs::fuzz::run([&] {
    const std::vector<int64_t> sizes = {3, 0, 5, 2};
    const cs::TrainerState s =
        cs::parse_trainer_state(std::string(reinterpret_cast<const char*>(data), size), sizes, 1000, "trainer_state.bin");
    if (s.next_step < 0 || s.next_step > 1000 || s.m1.size() != sizes.size() || s.m2.size() != sizes.size()) __builtin_trap();
    for (size_t k = 0; k < sizes.size(); ++k)
      if (static_cast<int64_t>(s.m1[k].size()) != sizes[k] || static_cast<int64_t>(s.m2[k].size()) != sizes[k]) __builtin_trap();
    if (cs::trainer_state_bytes(s) != std::string(reinterpret_cast<const char*>(data), size)) __builtin_trap();
  });
}
