// Flags of the discovery methods' own settings, shared by the commands that run them (discover,
// compare): each declared once here, read into the typed MethodOptions (compare/methods.h).
#pragma once
#include <string>

#include "cli/args.h"
#include "compare/methods.h"

namespace cs {

inline Args& add_method_flags(Args& a) {
  return a.flag("method-prompts", "100", "prompts the methods other than the SAE's use (the task's first N)")
      .flag("tau", "0.01", "ACDC threshold")
      .flag("acdc-sweep", "0", "ACDC runs at this many thresholds log-spaced over [1e-4, 0.3] (the paper's\n"
            "                            ROC; scores = largest tau keeping the head); 0: one run at --tau")
      .flag("steps", "5", "EAP-IG integration steps")
      .flag("sp-steps", "200", "subnetwork probing optimisation steps");
}

// Those flags into o (the SAE's settings and the ablation are each command's own).
inline void method_options_from_flags(const Args& a, MethodOptions& o) {
  o.settings.n_prompts = a.integer("method-prompts");
  o.acdc.tau = a.number("tau");
  o.acdc.tau_sweep = a.integer("acdc-sweep");
  o.eap.steps = a.integer("steps");
  o.sp.steps = a.integer("sp-steps");
}

}  // namespace cs
