#include "train/trainer_state.h"

#include <cmath>
#include <cstring>

#include "ops/error.h"
#include "ops/files.h"

namespace cs {

namespace {

constexpr char kMagic[8] = {'C', 'S', 'T', 'R', 'A', 'I', 'N', '1'};

// Bytes of a state for tensors of these sizes; 0 when the sizes make no sense.
uint64_t expected_size(const std::vector<int64_t>& sizes) {
  uint64_t n = 8 + 3 * 8;
  for (int64_t s : sizes) {
    if (s < 0 || static_cast<uint64_t>(s) > (uint64_t{1} << 40)) return 0;
    n += 8 + 8 * static_cast<uint64_t>(s);
  }
  return n;
}

int64_t read_i64(const std::string& b, size_t at) {
  int64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}

}  // namespace

std::string trainer_state_bytes(const TrainerState& s) {
  std::string out(kMagic, 8);
  auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  const int64_t hdr[3] = {s.next_step, s.tokens, static_cast<int64_t>(s.m1.size())};
  put(hdr, sizeof hdr);
  for (size_t k = 0; k < s.m1.size(); ++k) {
    const int64_t n = static_cast<int64_t>(s.m1[k].size());
    put(&n, 8);
    put(s.m1[k].data(), 4 * s.m1[k].size());
    put(s.m2[k].data(), 4 * s.m2[k].size());
  }
  return out;
}

TrainerState parse_trainer_state(const std::string& b, const std::vector<int64_t>& sizes, int64_t max_step,
                                 const std::string& path) {
  const uint64_t want = expected_size(sizes);
  if (want == 0) throw Error(path + ": the model's tensor sizes are not valid");
  if (b.size() < 32 || std::memcmp(b.data(), kMagic, 8) != 0)
    throw Error(path + ": not a circuitscan trainer state (no CSTRAIN1 header); resume needs the trainer_state.bin of a checkpoint");
  const int64_t step = read_i64(b, 8), tokens = read_i64(b, 16), count = read_i64(b, 24);
  if (count != static_cast<int64_t>(sizes.size()))
    throw Error(path + ": holds " + std::to_string(count) + " tensors, the model has " + std::to_string(sizes.size()) +
                ": not the state of this model");
  if (b.size() != want)
    throw Error(path + ": " + std::to_string(b.size()) + " bytes, but the state of this model is " + std::to_string(want) +
                " bytes: truncated, or the state of another model");
  if (step < 0 || step > max_step)
    throw Error(path + ": step " + std::to_string(step) + " is outside 0.." + std::to_string(max_step) +
                " (the run's --steps): the file is corrupt, or give --steps of at least its step");
  if (tokens < 0) throw Error(path + ": token count " + std::to_string(tokens) + " is negative: the file is corrupt");
  TrainerState s;
  s.next_step = step;
  s.tokens = tokens;
  size_t at = 32;
  for (size_t k = 0; k < sizes.size(); ++k) {
    const int64_t n = read_i64(b, at);
    at += 8;
    if (n != sizes[k])
      throw Error(path + ": tensor " + std::to_string(k) + " has " + std::to_string(n) + " values, the model's " +
                  std::to_string(sizes[k]) + ": not the state of this model");
    for (auto* dst : {&s.m1, &s.m2}) {
      dst->emplace_back(static_cast<size_t>(n));
      if (n) std::memcpy(dst->back().data(), b.data() + at, 4 * static_cast<size_t>(n));
      at += 4 * static_cast<size_t>(n);
    }
    for (size_t i = 0; i < static_cast<size_t>(n); ++i)
      if (!std::isfinite(s.m1[k][i]) || !std::isfinite(s.m2[k][i]) || s.m2[k][i] < 0)
        throw Error(path + ": tensor " + std::to_string(k) + " has a non-finite or negative Adam moment at " +
                    std::to_string(i) + ": the file is corrupt");
  }
  return s;
}

TrainerState read_trainer_state(const std::string& path, const std::vector<int64_t>& sizes, int64_t max_step) {
  // The exact size is known: a much larger file is refused before it is read.
  const uint64_t want = expected_size(sizes);
  return parse_trainer_state(read_input_file(path, (want ? want : 32) + 65536), sizes, max_step, path);
}

}  // namespace cs
