// A progress bar on stderr, drawn only when stderr is a terminal.
#pragma once
#include <cstdio>
#include <string>
#include <unistd.h>

namespace cs {

class ProgressBar {
 public:
  ProgressBar() : tty_(::isatty(STDERR_FILENO)) {}
  ~ProgressBar() { finish(); }
  void update(const std::string& phase, double fraction) {
    if (!tty_) return;
    const int width = 30, filled = static_cast<int>(fraction * width + 0.5);
    std::fprintf(stderr, "\r%-16s [%s%s] %3d%%", phase.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), static_cast<int>(fraction * 100 + 0.5));
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
};

}  // namespace cs
