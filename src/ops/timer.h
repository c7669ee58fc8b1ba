// Elapsed time for the seconds every method, phase and benchmark reports: wall clock
// (steady_clock, immune to clock changes) and the process's CPU time over all threads.
#pragma once
#include <chrono>
#include <ctime>

namespace cs {

class Timer {
 public:
  Timer() : wall0_(std::chrono::steady_clock::now()), cpu0_(std::clock()) {}
  void restart() { *this = Timer(); }
  double seconds() const {  // wall clock since construction or restart()
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0_).count();
  }
  double cpu_seconds() const {  // process CPU time since then, every thread summed
    return static_cast<double>(std::clock() - cpu0_) / CLOCKS_PER_SEC;
  }

 private:
  std::chrono::steady_clock::time_point wall0_;
  std::clock_t cpu0_;
};

}  // namespace cs
