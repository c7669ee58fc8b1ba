#include "model/memory_check.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "ops/error.h"

namespace cs {

namespace {

uint64_t read_u64(const std::string& path, bool* ok) {
  std::ifstream in(path);
  std::string s;
  *ok = static_cast<bool>(in >> s) && !s.empty() && s != "max";
  if (!*ok) return 0;
  try {
    return std::stoull(s);
  } catch (...) {
    *ok = false;
    return 0;
  }
}

}  // namespace

std::string gigabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(bytes) / 1e9);
  return buf;
}

MemoryNeed estimate_memory(const ModelConfig& c, const CheckpointFiles& f, Precision p,
                           bool process_weights) {
  MemoryNeed n;
  bool half = false;
  for (const std::string& name : f.names()) {
    const TensorInfo* t = f.find(name);
    const uint64_t elems = t->end - t->begin == 0 ? 0 : (t->end - t->begin) / dtype_size(t->dtype);
    if (t->dtype == DType::BF16 || t->dtype == DType::F16) {
      n.weights += elems * 2;  // mapped in place, or copied once (fused q/k/v)
      half = true;
    } else {
      n.weights += elems * 4;  // owned f32 (bf16 precision narrows it after loading)
    }
  }
  const uint64_t D = c.d_model, F = c.d_mlp, V = c.vocab_size, L = c.n_layers;
  if (process_weights && half && p == Precision::Exact) {
    // The matrices that read a norm's output become exact f32: W_qkv, W_gate and W_in, W_U.
    const uint64_t readers = L * (D * static_cast<uint64_t>(c.qkv_width()) + (gated(c.act) ? 2 : 1) * D * F) + V * D;
    n.processing = readers * 4;
  }
  // A forward at 256 tokens: logits [256, V] twice, the residual stream recorded per layer (4
  // residual-sized f32 buffers each, as a backward keeps), 8 MLP-sized buffers, 256 MB for the
  // rest. Methods that record more size their batches to a memory budget of their own.
  const uint64_t rows = 256;
  n.activations = rows * 4 * (2 * V + L * 4 * D + 8 * F) + (256ull << 20);
  return n;
}

uint64_t available_memory() {
  uint64_t avail = 0;
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kb;
    std::string unit;
    while (in >> key >> kb) {
      std::getline(in, unit);
      if (key == "MemAvailable:") {
        avail = kb * 1024;
        break;
      }
    }
  }
  bool ok1 = false, ok2 = false;
  uint64_t limit = read_u64("/sys/fs/cgroup/memory.max", &ok1);  // cgroup v2
  uint64_t used = read_u64("/sys/fs/cgroup/memory.current", &ok2);
  if (!ok1) {
    limit = read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes", &ok1);  // v1
    used = read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes", &ok2);
  }
  if (ok1 && ok2 && limit < (1ull << 60) && limit > used) {
    const uint64_t room = limit - used;
    if (avail == 0 || room < avail) avail = room;
  }
  return avail;
}

void check_memory(const std::string& dir, const MemoryNeed& need, uint64_t available,
                  const std::string& hint) {
  if (available == 0 || need.total() <= available) return;
  std::string parts = gigabytes(need.weights) + " of weights";
  if (need.processing) parts += ", " + gigabytes(need.processing) + " for f32 processed weights";
  parts += ", " + gigabytes(need.activations) + " for activations";
  throw Error(dir + ": the model needs about " + gigabytes(need.total()) + " of memory (" + parts +
              ") but " + gigabytes(available) + " is available" + (hint.empty() ? "" : ": " + hint) +
              "; free memory or use a machine with more");
}

}  // namespace cs
