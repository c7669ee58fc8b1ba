// Shared helpers for the bench/ programs: wall-clock timing with medians, and the machine's
// sgemm peak measured in the same run (so ratios compare like with like).
#pragma once
#include <algorithm>
#include <cstdio>
#include <string>
#include <functional>
#include <vector>

#include "ops/matmul.h"
#include "ops/timer.h"

namespace cs::bench {

// Median wall time of `reps` runs after one warm-up run.
inline double median_seconds(const std::function<void()>& fn, int reps) {
  fn();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const Timer timer;
    fn();
    t.push_back(timer.seconds());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// GFLOP/s of a large square sgemm on this machine, now.
inline double sgemm_peak_gflops(int n = 2048) {
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a), c(a.size());
  double s = median_seconds([&] { matmul(c.data(), a.data(), b.data(), nullptr, n, n, n); }, 5);
  return 2.0 * n * n * n / s / 1e9;
}

// Runs a command that prints one number (the PyTorch reference scripts); -1 if it fails or
// prints nothing (e.g. python3-torch is not installed).
inline double command_number(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!p) return -1;
  double v = -1;
  if (std::fscanf(p, "%lf", &v) != 1) v = -1;
  pclose(p);
  return v;
}

}  // namespace cs::bench
