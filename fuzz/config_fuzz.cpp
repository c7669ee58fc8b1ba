// config.json: every architecture's reader and validate_config; an accepted config must describe
// itself and have sizes within the bounds of model/config.h.
#include "fuzz.h"
#include "model/architecture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cs::fuzz::run([&] {
    const cs::ModelConfig c = cs::parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    if (c.n_layers < 1 || c.n_layers > cs::kMaxLayers || c.n_heads < 1 || c.n_heads > cs::kMaxHeads ||
        c.d_head < 1 || c.vocab_size < 1 || c.n_ctx < 1)
      __builtin_trap();
    (void)c.describe();
    (void)c.qkv_width();
  });
}
