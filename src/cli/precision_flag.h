// --precision, shared by the commands that load a model: exact (f32 arithmetic) or bf16 (bf16
// matmul inputs, f32 accumulation; the default for bf16 checkpoints). See ops/gemm.h.
#pragma once
#include <optional>
#include <string>

#include "cli/args.h"
#include "ops/error.h"
#include "ops/gemm.h"

namespace cs {

inline constexpr const char* kPrecisionHelp =
    "exact (f32 math) or bf16 (bf16 matmul inputs, f32 sums); default: bf16 for bf16\n"
    "                            checkpoints, exact otherwise";

inline Args& precision_flag(Args& a) {
  return a.choice_flag("precision", "", {"exact", "bf16"}, kPrecisionHelp);
}

// Unset when the flag was not given (load_model then picks by the checkpoint's dtype).
inline std::optional<Precision> precision_from_flag(const Args& a) {
  const std::string s = a.str("precision");
  if (s.empty()) return std::nullopt;
  Precision p;
  if (!precision_from_name(s, &p))
    throw UsageError("--precision must be exact or bf16, got '" + s + "'");
  return p;
}

}  // namespace cs
