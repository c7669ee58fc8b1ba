// cs::Error: every error a user can cause (bad files, bad flags, bad task data).
// The message must say what is wrong and what to do; the CLI prints it on one line and exits 1.
#pragma once
#include <stdexcept>
#include <string>

namespace cs {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Usage errors (unknown flag, missing argument): the CLI exits 2 for these.
struct UsageError : Error {
  using Error::Error;
};

}  // namespace cs
