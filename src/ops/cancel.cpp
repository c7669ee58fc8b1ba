#include "ops/cancel.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace cs {

namespace {

// Polling takes the GIL in the Python module: every 20 ms keeps Ctrl-C prompt (well under the
// 0.1 s a user notices) and costs nothing measurable beside a forward layer.
constexpr auto kPollInterval = std::chrono::milliseconds(20);

std::atomic<CancelPoll> g_poll{nullptr};
std::atomic<bool> g_requested{false};
std::thread::id g_owner;
std::chrono::steady_clock::time_point g_last_poll;  // touched by the owner thread only
thread_local int t_job_depth = 0;

}  // namespace

void set_cancel_poll(CancelPoll poll) {
  g_owner = std::this_thread::get_id();
  g_last_poll = std::chrono::steady_clock::now();
  g_requested.store(false, std::memory_order_relaxed);
  g_poll.store(poll, std::memory_order_release);
}

void check_cancelled() {
  const CancelPoll poll = g_poll.load(std::memory_order_acquire);
  if (!poll) return;
  if (!g_requested.load(std::memory_order_relaxed) && std::this_thread::get_id() == g_owner) {
    const auto now = std::chrono::steady_clock::now();
    if (now - g_last_poll >= kPollInterval) {
      g_last_poll = now;
      if (poll()) g_requested.store(true, std::memory_order_relaxed);
    }
  }
  if (g_requested.load(std::memory_order_relaxed) && (t_job_depth > 0 || !omp_in_parallel()))
    throw Cancelled();
}

namespace cancel_detail {
JobScope::JobScope() { ++t_job_depth; }
JobScope::~JobScope() { --t_job_depth; }
}  // namespace cancel_detail

}  // namespace cs
