// Cooperative cancellation of long runs. A frontend that can be interrupted while the engine
// computes (the Python module: Ctrl-C in a notebook while the GIL is released) installs a poll
// that says whether the user asked to stop; the long loops (forward layers, backward layers, SAE
// epochs, the baselines' steps) call check_cancelled(). Nothing is installed for the CLI, where
// SIGINT ends the process: check_cancelled() is then one relaxed atomic load.
//
// The poll runs only on the thread that installed it (Python's signal handlers run only on the
// main thread), at most every kPollInterval. Cancelled is thrown only where an exception may leave:
// outside OpenMP parallel regions, or inside a parallel_jobs job (which carries it out). Other
// threads and other points see the request at their next such point.
#pragma once
#include "ops/error.h"

namespace cs {

struct Cancelled : Error {
  Cancelled() : Error("interrupted") {}
};

// Returns true when the run should stop. Called with no locks held, from the installing thread.
using CancelPoll = bool (*)();

// Installs `poll` (nullptr removes it) and clears any earlier request; the calling thread becomes
// the one that polls. Not reentrant: one frontend call at a time installs it (CancelScope).
void set_cancel_poll(CancelPoll poll);
// Throws Cancelled when a stop was requested (polling first when due, on the installing thread).
void check_cancelled();

// RAII for set_cancel_poll: installs on construction, removes on destruction.
struct CancelScope {
  explicit CancelScope(CancelPoll poll) { set_cancel_poll(poll); }
  ~CancelScope() { set_cancel_poll(nullptr); }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
};

namespace cancel_detail {
// parallel_jobs marks its jobs as points where Cancelled may be thrown (it carries exceptions out
// of its parallel region); raw OpenMP regions are not.
struct JobScope {
  JobScope();
  ~JobScope();
};
}  // namespace cancel_detail

}  // namespace cs
