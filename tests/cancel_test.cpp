// Cooperative cancellation (ops/cancel.h): a poll that says "stop" makes check_cancelled throw
// Cancelled at safe points only (never inside a raw OpenMP region), parallel_jobs carries it out,
// and a forward pass stops with it.
#include <gtest/gtest.h>

#include <omp.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "model/init.h"
#include "model/transformer.h"
#include "ops/cancel.h"
#include "ops/parallel.h"

using namespace cs;

namespace {

std::atomic<int> g_polls{0};
bool stop_now() {
  ++g_polls;
  return true;
}
bool never() {
  ++g_polls;
  return false;
}
void wait_past_poll_interval() { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }

}  // namespace

TEST(Cancel, NothingInstalledNeverThrows) {
  set_cancel_poll(nullptr);
  EXPECT_NO_THROW(check_cancelled());
}

TEST(Cancel, PollSayingStopThrowsCancelled) {
  g_polls = 0;
  CancelScope scope(stop_now);
  wait_past_poll_interval();
  EXPECT_THROW(check_cancelled(), Cancelled);
  EXPECT_EQ(g_polls, 1);
  EXPECT_THROW(check_cancelled(), Cancelled);  // the request stays until the scope ends
}

TEST(Cancel, PollsAreRateLimited) {
  g_polls = 0;
  CancelScope scope(never);
  for (int i = 0; i < 100000; ++i) check_cancelled();
  EXPECT_LE(g_polls, 1);  // far under one poll per call (20 ms apart)
  wait_past_poll_interval();
  check_cancelled();
  EXPECT_GE(g_polls, 1);
}

TEST(Cancel, NotThrownInsideRawParallelRegionButAfterIt) {
  CancelScope scope(stop_now);
  wait_past_poll_interval();
  std::atomic<int> threw{0};
#pragma omp parallel num_threads(2)
  {
    try {
      check_cancelled();
    } catch (const Cancelled&) {
      ++threw;
    }
  }
  if (omp_get_max_threads() > 1) {
    EXPECT_EQ(threw, 0);
  }
  EXPECT_THROW(check_cancelled(), Cancelled);
}

TEST(Cancel, ParallelJobsCarryItOut) {
  CancelScope scope(stop_now);
  wait_past_poll_interval();
  EXPECT_THROW(check_cancelled(), Cancelled);  // the request is made (only this thread polls)
  std::atomic<int> finished{0};
  EXPECT_THROW(parallel_jobs(8, [&](size_t) {
                 check_cancelled();
                 ++finished;
               }),
               Cancelled);
  EXPECT_EQ(finished, 0);
}

TEST(Cancel, ForwardStops) {
  const Model m = random_model(preset_config("gpt2-tiny"), 1);
  const Batch b = Batch::from_sequences({{1, 2, 3}});
  EXPECT_NO_THROW(forward(m, b));
  CancelScope scope(stop_now);
  wait_past_poll_interval();
  EXPECT_THROW(forward(m, b), Cancelled);
  set_cancel_poll(nullptr);
  EXPECT_NO_THROW(forward(m, b));
}
