#include "train/holdout.h"

#include <cstdint>

namespace cs {

bool is_heldout(const std::string& word) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (unsigned char c : word) h = (h ^ c) * 0x100000001b3ull;
  return h % 4 == 0;
}

std::vector<std::string> heldout_words(const std::vector<std::string>& words) {
  std::vector<std::string> r;
  for (const auto& w : words)
    if (is_heldout(w)) r.push_back(w);
  return r;
}

std::vector<std::string> train_words(const std::vector<std::string>& words) {
  std::vector<std::string> r;
  for (const auto& w : words)
    if (!is_heldout(w)) r.push_back(w);
  return r;
}

}  // namespace cs
