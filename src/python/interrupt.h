// Ctrl-C from Python: the poll ops/cancel.h runs during long computations (with the GIL released),
// and the translation of cs::Cancelled back into the exception Python's signal handler raised
// (KeyboardInterrupt, unless the user installed another handler).
#pragma once
#include "ops/cancel.h"

namespace cs::py_bind {

// Takes the GIL and runs Python's pending signal handlers; true when one raised (the exception
// is kept for restore_interrupt), or when a Python callback's exception was kept.
bool python_interrupted();
// Keeps the current Python error (GIL held) to stop the run at the next poll: how a Python
// callback called from inside the engine (a progress function) stops it.
void keep_python_error();
// Sets the kept exception as the current Python error (KeyboardInterrupt if none was kept).
void restore_interrupt();
// After a run that ended without polling again: raises a kept exception, if any (GIL held).
void raise_kept_error();

// What every compute entry point holds while it runs: the cancellation poll.
struct Interruptible : CancelScope {
  Interruptible() : CancelScope(python_interrupted) {}
};

}  // namespace cs::py_bind
