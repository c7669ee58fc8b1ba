// Progress of long steps on stderr: a bar redrawn in place when stderr is a terminal; otherwise
// (a log file, a batch job) one plain line at most every 10 s, so a run that takes seconds writes
// nothing and one that takes minutes shows it is alive. With `every_phase`, a plain line also
// starts each new phase ("method 5/8: acdc"); with `eta`, the time left is estimated from the
// time so far and the fraction done (as good as the caller's fraction: compare weighs it by each
// method's usual cost) and shown as "about 1:40 left".
#pragma once
#include <cstdio>
#include <string>
#include <unistd.h>

#include "ops/timer.h"

namespace cs {

// "about 1:40 left" from the time so far and the fraction done; empty while the estimate would be
// noise (under 1 s elapsed or 1% done) and once the work is done.
inline std::string time_left_text(double elapsed_s, double fraction);
// m:ss, or h:mm:ss from an hour up.
inline std::string clock_text(double s) {
  const long t = static_cast<long>(s + 0.5);
  char b[32];
  if (t >= 3600) std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(b, sizeof b, "%ld:%02ld", t / 60, t % 60);
  return b;
}
inline std::string time_left_text(double elapsed_s, double fraction) {
  if (fraction <= 0.01 || fraction >= 1 || elapsed_s <= 1) return "";
  return "about " + clock_text(elapsed_s * (1 - fraction) / fraction) + " left";
}

class ProgressBar {
 public:
  explicit ProgressBar(bool eta = false, bool every_phase = false)
      : tty_(::isatty(STDERR_FILENO)), eta_(eta), every_phase_(every_phase) {}
  ~ProgressBar() { finish(); }
  void update(const std::string& phase, double fraction) {
    const int pct = static_cast<int>(fraction * 100 + 0.5);
    const double elapsed = since_start_.seconds();
    const std::string left = eta_ ? time_left_text(elapsed, fraction) : "";
    if (!tty_) {
      const bool new_phase = every_phase_ && phase != last_phase_;
      if (!new_phase && since_line_.seconds() < 10) return;
      since_line_.restart();
      last_phase_ = phase;
      std::fprintf(stderr, "%s: %d%% done, %s elapsed%s%s\n", phase.c_str(), pct, clock_text(elapsed).c_str(),
                   left.empty() ? "" : ", ", left.c_str());
      std::fflush(stderr);
      return;
    }
    const int width = 24, filled = static_cast<int>(fraction * width + 0.5);
    std::string line = phase.substr(0, 40);
    line += std::string(40 - line.size(), ' ') + " [" + std::string(filled, '#') + std::string(width - filled, ' ') + "] ";
    line += std::to_string(pct) + "%";
    if (!left.empty()) line += "  " + left;
    std::fprintf(stderr, "\r%-90s", line.c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
  void finish() {
    if (tty_ && drawn_) std::fprintf(stderr, "\r%90s\r", "");
    drawn_ = false;
  }

 private:
  bool tty_, eta_, every_phase_;
  bool drawn_ = false;
  Timer since_start_, since_line_;  // since construction; since the last plain line
  std::string last_phase_;
};

}  // namespace cs
