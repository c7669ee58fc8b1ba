// A batch of token sequences, right-padded to a common length T. Causal attention means the
// padding never changes the real positions; `lengths` says where each sequence ends.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace cs {

struct Batch {
  int B = 0, T = 0;
  std::vector<int32_t> tokens;  // [B, T]
  std::vector<int> lengths;     // [B] real tokens per sequence (>= 1)

  int last(int b) const { return lengths[b] - 1; }
  // Each sequence's last real position as a flattened row b*T + last(b), in sequence order (the
  // rows forward_record's logit_positions takes for a last-token metric).
  std::vector<int64_t> last_positions() const {
    std::vector<int64_t> p(B);
    for (int b = 0; b < B; ++b) p[b] = int64_t{b} * T + last(b);
    return p;
  }
  const int32_t* row(int b) const { return tokens.data() + static_cast<size_t>(b) * T; }

  static Batch from_sequences(const std::vector<std::vector<int>>& seqs, int pad_id = 0) {
    Batch r;
    r.B = static_cast<int>(seqs.size());
    for (const auto& s : seqs) r.T = std::max(r.T, static_cast<int>(s.size()));
    r.tokens.assign(static_cast<size_t>(r.B) * r.T, pad_id);
    for (int b = 0; b < r.B; ++b) {
      std::copy(seqs[b].begin(), seqs[b].end(), r.tokens.begin() + static_cast<size_t>(b) * r.T);
      r.lengths.push_back(static_cast<int>(seqs[b].size()));
    }
    return r;
  }
  // Rows [begin, end) as a new batch (T trimmed to the longest of them).
  Batch slice(int begin, int end) const {
    std::vector<std::vector<int>> seqs;
    for (int b = begin; b < end; ++b) seqs.emplace_back(row(b), row(b) + lengths[b]);
    return from_sequences(seqs);
  }
};

}  // namespace cs
