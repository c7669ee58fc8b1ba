// A MIB circuit-track submission (Mueller et al. 2025; hannamw/MIB-circuit-track, README
// "Submitting to the MIB Leaderboard", run_attribution.py and run_evaluation.py): one folder per
// task and model named "<task>_<model>" (the task's underscores written as '-', as MIB's scripts
// do; MIB's print_results.py splits names at '_', so neither part may hold one), holding one of
// the README's two forms:
//   importances  one importances.json: a graph JSON (evaluation/graph_json.h, EAP-IG's
//                Graph.to_json layout that MIB's Graph.from_json loads) with a floating-point score
//                on every edge, and on the nodes the method scores. MIB thresholds those scores
//                itself at its edge-count fractions (the file run_evaluation.py loads).
//   circuits     "9 .json or .pt files with binary membership variables", one circuit with no more
//                than each of 0.1, 0.2, 0.5, 1, 2, 5, 10, 20 and 50 % of the edges: MIB's
//                evaluation grid (attribution/mib_faithfulness.h) without 100 %. MIB's code names no
//                files for this form (its loader takes any path), so they are circuit_<p>.json,
//                p the fraction as Python prints it (circuit_0.001.json ... circuit_0.5.json).
//                Each is the same graph JSON with in_graph as the membership: the floor(p E) edges
//                of largest |score| (E: every edge; MIB's int(p * E)), pruned as EAP-IG's
//                apply_topn does, so at most floor(p E) edges. The scores stay in the file:
//                Graph.from_json reads every edge's "score" key.
#pragma once
#include <string>
#include <vector>

#include "evaluation/graph_json.h"

namespace cs {

enum class MibForm { Importances, Circuits };

// "<task>_<model>" with '_' in either part written as '-'; cs::Error for an empty part.
std::string mib_folder_name(const std::string& task, const std::string& model);

// The model name for a model directory: its last path component ("~/models/gpt2/" -> "gpt2").
std::string mib_model_name(const std::string& model_dir);

// The circuits form's fractions (0.001 ... 0.5), and the file name of fraction p.
std::vector<double> mib_circuit_fractions();
std::string mib_circuit_file_name(double p);

// The files a folder of the form holds.
std::vector<std::string> mib_files(MibForm form);

// The circuit at fraction p of g's edges (see circuits above): g's scores, in_graph the circuit.
ScoredGraph mib_circuit(const ScoredGraph& g, double p);

// cs::Error when `folder` already holds a file of the other form (a folder holds one form).
void check_mib_folder(const std::string& folder, MibForm form);

// Writes dir/<task>_<model>/ in the form, staged (ops/files.h): the folder's files appear complete
// or not at all; other folders in dir (other tasks and models of the same submission) stay.
void write_mib_submission(const std::string& dir, const std::string& task, const std::string& model,
                          const ScoredGraph& g, MibForm form = MibForm::Importances);

}  // namespace cs
