// Shared helpers for the bench/ programs: wall-clock timing with medians, the machine's sgemm
// peak measured in the same run (so ratios compare like with like), and the house rules for bad
// input (a checked argument, one line on stderr for an error).
#pragma once
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <functional>
#include <initializer_list>
#include <vector>

#include "ops/matmul.h"
#include "ops/timer.h"

namespace cs::bench {

// An error a bench program does not catch (a model that does not load) ends it with one line on
// stderr and exit 1, as the circuitscan command does, instead of std::terminate's two lines and
// an abort.
inline const bool kOneLineErrors = [] {
  std::set_terminate([] {
    try {
      if (std::exception_ptr e = std::current_exception()) std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "error: %s\n", x.what());
      std::_Exit(1);
    } catch (...) {
    }
    std::fprintf(stderr, "error: terminated\n");
    std::_Exit(1);
  });
  return true;
}();

// Command-line arguments, range-checked: a bad one ends the program with one line, exit 2.
inline long int_arg(const char* text, const char* what, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (errno || !end || *end || end == text || v < lo || v > hi) {
    std::fprintf(stderr, "error: %s must be an integer from %ld to %ld, got '%s'\n", what, lo, hi, text);
    std::exit(2);
  }
  return v;
}
// For programs whose arguments are a few flags: `--help` prints `usage` and exits 0; an
// argument not in `known` (nor the value after a flag listed in `with_value`) ends the program
// with one line, exit 2, instead of being ignored.
inline void check_flags(int argc, char** argv, const char* usage, std::initializer_list<const char*> known,
                        std::initializer_list<const char*> with_value = {}) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("usage: %s\n", usage);
      std::exit(0);
    }
    bool ok = false;
    for (const char* k : known) ok = ok || a == k;
    for (const char* k : with_value)
      if (a == k) {
        if (i + 1 >= argc) {
          std::fprintf(stderr, "error: %s needs a value (usage: %s)\n", k, usage);
          std::exit(2);
        }
        ok = true;
        ++i;
      }
    if (!ok) {
      std::fprintf(stderr, "error: unknown argument '%s' (usage: %s)\n", a.c_str(), usage);
      std::exit(2);
    }
  }
}
inline double real_arg(const char* text, const char* what, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (!end || *end || end == text || !std::isfinite(v) || v < lo || v > hi) {
    std::fprintf(stderr, "error: %s must be a number from %g to %g, got '%s'\n", what, lo, hi, text);
    std::exit(2);
  }
  return v;
}

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

// Fastest wall time of `reps` runs after one warm-up run: what the machine can do when a run is
// not slowed by a neighbour on this shared host (a peak, not a typical run).
inline double best_seconds(const std::function<void()>& fn, int reps) {
  fn();
  double best = 0;
  for (int i = 0; i < reps; ++i) {
    const Timer timer;
    fn();
    const double t = timer.seconds();
    if (i == 0 || t < best) best = t;
  }
  return best;
}

// GFLOP/s of a large square sgemm on this machine, now (best of 5).
inline double sgemm_peak_gflops(int n = 2048) {
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a), c(a.size());
  double s = best_seconds([&] { matmul(c.data(), a.data(), b.data(), nullptr, n, n, n); }, 5);
  return 2.0 * n * n * n / s / 1e9;
}

// GB/s of reading a 1 GiB array (far beyond the caches) with every thread, now (best of 5): the
// memory bandwidth a forward pass that streams its weights can get at most.
inline double read_bandwidth_gbs() {
  const int64_t n = int64_t{1} << 28;  // floats
  std::vector<float> a(static_cast<size_t>(n), 1.0f);
  volatile float sink = 0;
  double s = best_seconds([&] {
    float sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      float acc[64] = {};  // independent sums: the loads, not an add chain, set the pace
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; i += 64)
        for (int j = 0; j < 64; ++j) acc[j] += a[i + j];
      for (float x : acc) sum += x;
    }
    sink = sum;
  }, 5);
  (void)sink;
  return n * 4.0 / s / 1e9;
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
