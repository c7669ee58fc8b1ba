// Independent jobs spread over the threads, one job per thread at a time (dynamic schedule),
// with an exception carried out of the parallel region: the first one thrown is rethrown once
// every job has run. A single job runs outside any parallel region, so its own code may use
// the threads. A job is a point where check_cancelled may throw (ops/cancel.h).
#pragma once
#include <cstddef>
#include <exception>

#include "ops/cancel.h"

namespace cs {

template <class Job>
void parallel_jobs(size_t n, Job&& job) {
  std::exception_ptr failed;
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
  for (size_t i = 0; i < n; ++i) {
    try {
      cancel_detail::JobScope scope;
      job(i);
    } catch (...) {
#pragma omp critical(cs_parallel_jobs_error)
      if (!failed) failed = std::current_exception();
    }
  }
  if (failed) std::rethrow_exception(failed);
}

}  // namespace cs
