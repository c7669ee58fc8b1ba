// Flags of the discovery methods' own settings, shared by the commands that run them (discover,
// compare): each declared once here, read into the typed MethodOptions (compare/methods.h).
#pragma once
#include <string>

#include "cli/args.h"
#include "cli/task_flags.h"
#include "compare/methods.h"

namespace cs {

inline Args& add_method_flags(Args& a) {
  return a.int_flag("method-prompts", "100", 1, kMaxPrompts, "prompts the methods other than the SAE's use (the task's first N)")
      .real_flag("tau", "0.01", RealRange::non_negative(), "ACDC threshold")
      .int_flag("acdc-sweep", "0", 0, 1000, "ACDC runs at this many thresholds (2 or more) log-spaced over [1e-4, 0.3]\n"
                "                            (the paper's ROC; scores = largest tau keeping the head); 0: one run at --tau")
      .int_flag("steps", "5", 1, 10000, "EAP-IG integration steps")
      .int_flag("sp-steps", "200", 1, 1000000, "subnetwork probing optimisation steps");
}

// Those flags into o (the SAE's settings and the ablation are each command's own).
inline void method_options_from_flags(const Args& a, MethodOptions& o) {
  if (a.integer("acdc-sweep") == 1)
    throw UsageError(a.command() + ": --acdc-sweep must be 0 (one run at --tau) or at least 2 thresholds, got 1");
  o.settings.n_prompts = a.integer("method-prompts");
  o.acdc.tau = a.number("tau");
  o.acdc.tau_sweep = a.integer("acdc-sweep");
  o.eap.steps = a.integer("steps");
  o.sp.steps = a.integer("sp-steps");
}

}  // namespace cs
