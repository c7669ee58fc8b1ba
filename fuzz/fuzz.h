// Shared by the fuzz targets (libFuzzer; scripts/fuzz.sh builds and runs them). A parser given
// hostile bytes may return normally or throw cs::Error (the one-line error a user sees); anything
// else is a finding: a crash or a sanitizer report, another exception escaping (a raw JSON
// library or std:: error reaching the user), a hang (-timeout) or a huge allocation (-rss_limit_mb,
// -malloc_limit_mb).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ops/error.h"

namespace cs::fuzz {

template <class F>
int run(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
  return 0;
}

// The input cut at NUL bytes into at most n parts (the last keeps any further NULs), so one
// input can carry several files (vocab.json and merges.txt) or a file and a text to encode.
inline std::vector<std::string> parts(const uint8_t* data, size_t size, size_t n) {
  std::vector<std::string> out;
  std::string_view s(reinterpret_cast<const char*>(data), size);
  while (out.size() + 1 < n) {
    const size_t z = s.find('\0');
    if (z == std::string_view::npos) break;
    out.emplace_back(s.substr(0, z));
    s.remove_prefix(z + 1);
  }
  out.emplace_back(s);
  out.resize(n);
  return out;
}

}  // namespace cs::fuzz
