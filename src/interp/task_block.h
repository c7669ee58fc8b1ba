// A contiguous block of a task's prompts, as a task of its own: what one MPI rank runs when a
// method's state is built over its prompts (ACDC's engine). Every per-prompt field is cut to
// [begin, end); the rest (name, metric, greater-than's year tokens) is copied.
#pragma once
#include <cstddef>

#include "interp/task.h"

namespace cs {

// Throws cs::Error unless begin <= end <= task.size().
TokenizedTask task_block(const TokenizedTask& task, size_t begin, size_t end);

}  // namespace cs
