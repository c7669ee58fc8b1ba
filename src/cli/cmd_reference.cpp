#include <cstdio>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/precision_flag.h"
#include "cli/task_flags.h"
#include "cli/progress.h"
#include "evaluation/reference_circuit.h"
#include "interp/task_metric.h"
#include "model/model.h"
#include "model/save.h"
#include "model/tokenizer.h"
#include "ops/error.h"
#include "ops/files.h"

namespace cs {

int cmd_reference_circuit(int argc, char** argv) {
  Args a("reference-circuit",
         "Find a task's reference circuit by exhaustive patching: greedy resample-ablation pruning\n"
         "of heads (remove the head whose ablation hurts least while the circuit keeps >= 90% of the\n"
         "full metric), then path patching among the kept heads for the edges. Writes a ground-truth\n"
         "file that `discover --truth` and `eval` read.");
  a.positional("MODEL", "Hugging Face model directory")
      .flag("task", "ioi", "ioi, greater-than, docstring, induction, or a .jsonl file with corrupt prompts")
      .int_flag("prompts", "1000", 1, kMaxPrompts, "prompts for pruning and the per-head effect table")
      .int_flag("edge-prompts", "200", 1, kMaxPrompts, "prompts for path patching")
      .real_flag("keep", "0.9", RealRange::closed(0, 1), "fraction of the full metric the circuit must keep")
      .int_flag("seed", "12345", 0, kMaxSeed, "seed of the task prompts (differs from discover's default on purpose)")
      .flag("name", "", "name recorded in the file (default MODELNAME-TASK)")
      .toggle("no-edges", "skip path patching")
      .flag("induction-words", "", kInductionWordsHelp)
      .toggle("prepend-bos", kPrependBosHelp)
      .toggle("no-prepend-bos", kNoPrependBosHelp)
      .flag("out", "", "ground-truth JSON file to write");
  precision_flag(a);
  if (!a.parse(argc, argv)) return 0;
  if (a.str("out").empty()) throw UsageError("reference-circuit: --out FILE is required");
  check_output_file(a.str("out"), "--out");
  Model m = load_model(a.str("MODEL"), {.precision = precision_from_flag(a)});
  Tokenizer tok = Tokenizer::for_model_dir(a.str("MODEL"));
  const BosChoice bos = bos_from_flags(a, a.str("MODEL"), tok);
  TokenizedTask task = task_from_flags(a, tok, a.str("MODEL"));
  print_warnings(task.warnings);
  ReferenceOptions o;
  o.n_prompts = a.integer("prompts");
  o.edge_prompts = a.integer("edge-prompts");
  o.keep_fraction = a.number("keep");
  o.edges = !a.on("no-edges");
  ProgressBar bar;
  o.progress = [&](const std::string& p, double f) { bar.update(p, f); };
  ReferenceCircuit r = reference_circuit(m, task, o);
  bar.finish();
  std::string model_name = a.str("MODEL");
  while (!model_name.empty() && model_name.back() == '/') model_name.pop_back();
  model_name = model_name.substr(model_name.find_last_of('/') + 1);
  std::ostringstream cl;
  cl << "circuitscan reference-circuit";
  for (int i = 0; i < argc; ++i) cl << " " << argv[i];
  GroundTruth g = to_ground_truth(r, m, a.str("name").empty() ? model_name + "-" + task.name : a.str("name"),
                                  model_name, task.name, cl.str());
  // The notes' numbers are in the task's metric, on prompts with or without BOS: say which.
  g.notes = "metric: " + metric_label(task) + "; " + std::to_string(std::min<size_t>(o.n_prompts, task.size())) +
            " prompts (seed " + a.str("seed") + "), BOS " + (bos.prepend ? "prepended" : "not prepended") + " (" + bos.why +
            ")\n" + g.notes;
  write_file_atomic(a.str("out"), ground_truth_to_json(g));
  std::printf("%s\nwrote %s (%zu heads, %zu edges)\n", g.notes.c_str(), a.str("out").c_str(), g.heads.size(), g.edges.size());
  return 0;
}

}  // namespace cs
