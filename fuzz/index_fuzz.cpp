// model.safetensors.index.json: the weight_map parser (every shard must stay inside the model
// directory).
#include "fuzz.h"
#include "model/checkpoint_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cs::fuzz::run([&] {
    const auto map = cs::parse_safetensors_index(std::string(reinterpret_cast<const char*>(data), size),
                                                 "model.safetensors.index.json");
    for (const auto& [name, shard] : map)
      if (shard.empty() || shard[0] == '/' || shard.find("..") == 0) __builtin_trap();  // escaped the directory
  });
}
