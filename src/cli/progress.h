// Progress of long steps on stderr: a bar redrawn in place when stderr is a terminal; otherwise
// (a log file, a batch job) one plain line at most every 10 s, so a run that takes seconds writes
// nothing and one that takes minutes shows it is alive.
#pragma once
#include <cstdio>
#include <string>
#include <unistd.h>

#include "ops/timer.h"

namespace cs {

class ProgressBar {
 public:
  ProgressBar() : tty_(::isatty(STDERR_FILENO)) {}
  ~ProgressBar() { finish(); }
  void update(const std::string& phase, double fraction) {
    const int pct = static_cast<int>(fraction * 100 + 0.5);
    if (!tty_) {
      if (since_line_.seconds() < 10) return;
      since_line_.restart();
      std::fprintf(stderr, "%s %d%%\n", phase.c_str(), pct);
      std::fflush(stderr);
      return;
    }
    const int width = 30, filled = static_cast<int>(fraction * width + 0.5);
    std::fprintf(stderr, "\r%-16s [%s%s] %3d%%", phase.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), pct);
    std::fflush(stderr);
    drawn_ = true;
  }
  void finish() {
    if (tty_ && drawn_) std::fprintf(stderr, "\r%60s\r", "");
    drawn_ = false;
  }

 private:
  bool tty_;
  bool drawn_ = false;
  Timer since_line_;  // since the last plain line
};

}  // namespace cs
