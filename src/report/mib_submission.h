// A MIB circuit-track submission (Mueller et al. 2025; hannamw/MIB-circuit-track, README
// "Submitting to the MIB Leaderboard", run_attribution.py and run_evaluation.py): one folder per
// task and model named "<task>_<model>" (the task's underscores written as '-', as MIB's scripts
// do; MIB's print_results.py splits names at '_', so neither part may hold one), holding one
// importances.json: a graph JSON (evaluation/graph_json.h, EAP-IG's Graph.to_json layout that
// MIB's Graph.from_json loads) with a floating-point score on every edge, and on the nodes the
// method scores. MIB thresholds those scores itself at its edge-count fractions.
#pragma once
#include <string>

#include "evaluation/graph_json.h"

namespace cs {

// "<task>_<model>" with '_' in either part written as '-'; cs::Error for an empty part.
std::string mib_folder_name(const std::string& task, const std::string& model);

// The model name for a model directory: its last path component ("~/models/gpt2/" -> "gpt2").
std::string mib_model_name(const std::string& model_dir);

// Writes dir/<task>_<model>/importances.json, staged (ops/files.h): the folder appears complete or
// not at all; other folders in dir (other tasks and models of the same submission) stay.
void write_mib_submission(const std::string& dir, const std::string& task, const std::string& model,
                          const ScoredGraph& g);

}  // namespace cs
