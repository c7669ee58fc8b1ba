// One number through a printf format ("%.3f"), for tables, labels and log lines.
#pragma once
#include <cstdio>
#include <string>

namespace cs {

inline std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace cs
