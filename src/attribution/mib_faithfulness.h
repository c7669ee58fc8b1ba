// MIB's faithfulness of an edge ranking (Mueller et al. 2025, the circuit localization track;
// hannamw/MIB-circuit-track MIB_circuit_track/evaluation.py evaluate_area_under_curve, with
// EAP-IG's evaluate_graph as the intervention). Edge level, unlike interp/faithfulness.h's curve
// over head circuits:
//   - for each fraction p of MIB's grid (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1),
//     the circuit is the floor(p E) best-scoring edges (E: every edge of the graph; ties to the
//     lower edge index), then pruned as EAP-IG prunes (evaluation/graph_json.h prune);
//   - every edge outside the circuit carries its sender's output on the paired corrupt prompt
//     (counterfactual patching, attribution/edge_patching.h edge_patched_logits), every edge in it
//     the sender's output in the same patched pass;
//   - f(p) = (M(circuit) - M(empty)) / (M(full) - M(empty)), M the task metric averaged over the
//     prompts, empty = the circuit of 0 edges (every edge patched);
//   - CPR = the area under f over p, CMD = the area under |1 - f|: trapezoids on linear p, from
//     0.001 to 1 (so a perfect CMD is 0 and f = 1 everywhere gives CPR 0.999).
// MIB reports CPR for the signed-score ranking and CMD for the |score| ranking; circuitscan's
// edge scores are |attribution|, so both rank alike.
#pragma once
#include <vector>

#include "interp/task.h"
#include "model/model.h"

namespace cs {

struct MibFaithfulness {
  std::vector<double> fraction;      // MIB's grid
  std::vector<int> edges;            // floor(fraction * E): edges asked for
  std::vector<int> edges_kept;       // in the circuit after pruning
  std::vector<double> metric;        // M of each circuit
  std::vector<double> faithfulness;  // f
  double full = 0, empty = 0;        // M with every edge kept / none
  double cpr = 0, cmd = 0;
  int n_prompts = 0;
};

const std::vector<double>& mib_edge_fractions();

// The two areas of f given at the points x (MIB's trapezoids): *cpr under f, *cmd under |1 - f|.
void mib_areas(const std::vector<double>& x, const std::vector<double>& f, double* cpr, double* cmd);

// edge_scores over Graph(m.cfg)'s edges (NaN: ranked last). The task needs corrupt prompts of
// its prompts' lengths; the first n_prompts prompts are used. Grouped-query models run on
// expand_kv_heads(m), the model whose graph this is. cs::Error when the model's metric does not
// move between the full and the empty circuit (f undefined).
MibFaithfulness mib_faithfulness(const Model& m, const TokenizedTask& task, const std::vector<double>& edge_scores,
                                 size_t n_prompts);

}  // namespace cs
