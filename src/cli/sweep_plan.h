// `sweep`'s plan: a JSON file naming models, tasks, methods, seeds and compare's options, expanded
// to one job per (model, task, method, seed). Each job is one `circuitscan compare` run with one
// method, writing its usual folder (compare.md, compare.json, compare.html).
//
//   {"models": ["models/toy-gpt2-4l"], "tasks": ["ioi", "greater-than"],
//    "methods": ["sae", "eap"], "seeds": [0, 1],
//    "options": {"prompts": 100, "trials": 1}, "out": "out/sweep"}
//
// Relative paths (models, .jsonl tasks, out) are relative to the plan file's folder. The whole
// plan is checked before any job runs: every job's compare arguments go through compare's own
// flag declarations, so an option compare would refuse is refused here, naming the plan.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cs {

struct SweepJob {
  std::string model, model_label;  // path, and its folder name (made unique within the plan)
  std::string task, task_label;    // builtin name or .jsonl path, and its name
  std::string method;
  uint64_t seed = 0;
  std::string dir;                 // OUT/jobs/<model_label>/<task_label>/<method>/seed-<seed>
  std::vector<std::string> args;   // compare's arguments (after "compare"), --out dir included
};

struct SweepPlan {
  std::string path, out;
  std::vector<SweepJob> jobs;      // models x tasks x methods x seeds, in that nesting order
};

// Reads and checks the plan; `out_override` (the --out flag) wins over the plan's "out". Throws
// cs::Error naming the plan file and the entry at fault.
SweepPlan load_sweep_plan(const std::string& path, const std::string& out_override);

// A job's folder holds a finished run: compare.md, compare.html and a compare.json that parses
// and scores the job's method (compare writes all three into place only when the run is done).
bool sweep_job_complete(const SweepJob& job);

}  // namespace cs
