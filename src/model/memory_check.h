// The memory a model will take once loaded, checked before loading: a model that cannot fit
// gets a one-line error with the amount it needs, instead of being killed halfway through.
#pragma once
#include <cstdint>
#include <string>

#include "model/checkpoint_files.h"
#include "model/config.h"
#include "ops/gemm.h"

namespace cs {

struct MemoryNeed {
  uint64_t weights = 0;      // resident weights: mapped bf16/f16 bytes, owned f32 copies
  uint64_t processing = 0;   // f32 copies weight processing makes of a half model (exact)
  uint64_t activations = 0;  // allowance for a forward at a few hundred tokens
  uint64_t total() const { return weights + processing + activations; }
};

// What load_model will hold for this checkpoint in this precision.
MemoryNeed estimate_memory(const ModelConfig& c, const CheckpointFiles& f, Precision p,
                           bool process_weights);

// Bytes this process can still take: MemAvailable from /proc/meminfo, capped by the cgroup's
// limit less its usage (v2 memory.max, v1 memory.limit_in_bytes). 0 if unknown.
uint64_t available_memory();

// Throws cs::Error "<dir>: the model needs about X GB of memory (...) but Y GB is available..."
// when need > available (available 0: unknown, no check).
void check_memory(const std::string& dir, const MemoryNeed& need, uint64_t available,
                  const std::string& hint);

std::string gigabytes(uint64_t bytes);  // "17.3 GB"

}  // namespace cs
