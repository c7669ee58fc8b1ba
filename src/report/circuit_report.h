// What a discovery run leaves behind for a researcher: circuit.json (every number of the run,
// machine-readable), circuit.dot (Graphviz drawing of the circuit) and report.html (one
// self-contained page; report/report_html.h). Formats are described at each function.
#pragma once
#include <cstdint>
#include <map>
#include <utility>
#include <string>
#include <vector>

#include "sae/discover.h"
#include "evaluation/ground_truth.h"

namespace cs {

// Identity and settings of a run, as the frontend knows them (DiscoverResult holds numbers only).
struct RunInfo {
  std::string model_dir, model_family, task, method = "sae", level;  // level "node" or "edge"
  std::string ranking;                          // what heads are ranked by (ranking_label)
  std::string paper_score;                      // the paper's score (paper_score_label)
  // The settings the run used, after defaults (effective l1, the truth used, BOS, ...), in the
  // order a reader wants them: shown in report.html and circuit.json.
  std::vector<std::pair<std::string, std::string>> settings;
  uint64_t seed = 0;
  int n_layers = 0, n_heads = 0;
  std::string truth_name;                       // "" without a ground truth
  std::string command_line;
  std::string metric_name;                      // what the metric measures (metric_label)
  // Ground-truth heads, to mark them in the heatmap and graph and to flag them in circuit.json.
  // When empty and truth_name is set, the report loads truth_name (a shipped name or a path)
  // itself; if that fails the heads are simply not marked.
  std::vector<HeadId> truth_heads;
  int top_edges = 100;                          // head pairs listed in circuit.json / drawn
};

// One head pair of the edge variant: heads by index (layer * n_heads + head), "from" in an
// earlier layer than "to", so the pair reads as the direction information can flow. U is
// symmetric (a code pair seen only on positives is seen in either order), so each pair appears
// once; pairs of heads in one layer never do (no information flows between them).
struct HeadPair {
  int from, to;
  double score;  // mean over trials of U[from, to]
};

// The `max_pairs` highest-scoring pairs of heads in different layers with score > 0, best
// first (ties: lower indices first).
// With `among` non-empty, only pairs of heads for which among[h] is true. Empty at node level.
std::vector<HeadPair> top_head_pairs(const DiscoverResult& r, int n_heads, int max_pairs,
                                     const std::vector<bool>& among = {});

// Truth labels per head index (empty when the run has no usable truth): info.truth_heads, or
// the heads of info.truth_name loaded by name or path.
std::vector<bool> report_truth_labels(const RunInfo& info);

// circuit.json:
//   { "format": "circuitscan-circuit", "version": 1, "method", "level", "task", "metric",
//     "model": {"dir", "family", "n_layers", "n_heads"}, "seed", "trials" (count),
//     "command_line", "settings": {name: value} (effective), "n_positive", "n_negative" (SAE
//     methods), "ranking" (what "score" is), "paper_score" (what "paper_score" is), "size_rule",
//     "heads": [ {"name": "9.9", "layer", "head", "score" (the ranking, mean over trials),
//                 "std", "paper_score", "paper_std", "softmax" (SAE methods: of paper_score over
//                 heads, what --threshold compares), "rank" (1 = best), "in_circuit", "in_truth"
//                 (with a truth)} ],
//     "mlp_scores": [per layer] (methods that score MLPs),
//     "circuit": ["9.9", ...] (best first),
//     "edges": [ {"from": "a8.h6", "to": "a9.h9", "score"} ]  (SAE edge level; top_edges pairs,
//                   from an earlier layer to a later one),
//     "evaluation": (with a truth) {"truth", "circuit": {"k", "precision", "recall", "f1",
//                   "tp", "fp", "fn", "tn"} (the chosen circuit), "k" (the truth's size),
//                   "mean_scores": {"auc", and the same counts for the top k of the ranking},
//                   "over_trials": {"auc": {"mean", "std"}, "precision": ..., "recall": ...,
//                   "f1": ...} (top k per trial), "edge_auc": {"auc", "edges"} (edge scores
//                   and a truth with head edges), "graph_edge_auc": {"auc", "edges"} (|edge score| over all
//                   the graph's edges, when the method scores every edge and the truth lists edges)},
//     "trial_results": [ {"trial", "seed", "sae_loss" (SAE methods), "head_scores": [...], and
//                   with a truth "auc", "precision", "recall", "f1"} ],
//     "method_stats": {name: number} (the other methods' own: forward passes, ...),
//     "faithfulness": {"size", "metric", "fraction", "normalised", "full", "empty", "cpr",
//                   "cmd"} (when computed), "circuit_faithfulness",
//     "mib_faithfulness": {"level": "edge", "fraction" (MIB's grid), "edges" (floor(fraction E)),
//                   "edges_kept" (after pruning), "metric", "faithfulness", "full", "empty",
//                   "cpr", "cmd", "n_prompts"} (edge methods; attribution/mib_faithfulness.h),
//     "timings": {"collect_s", "train_s", "codes_s", "scores_s", "faithfulness_s", "total_s",
//                 "collect_flops", "train_flops"} }
// Precision / recall / F1 other than "evaluation.circuit" are at k = the ground truth's size
// (top-k of the ranking), reported as such; the truth never sizes the circuit.
// Throws cs::Error when the result does not match n_layers x n_heads.
std::string circuit_json(const DiscoverResult& r, const RunInfo& info);

// Graphviz (dot -Tsvg circuit.dot > circuit.svg): circuit heads as nodes "aL.hH", one row per
// layer (rank=same, layers top to bottom), ground-truth heads filled. Edge level: the top pairs
// among circuit heads, as arrows from the earlier layer to the later, penwidth by score. Node
// level: the nodes only.
std::string circuit_dot(const DiscoverResult& r, const RunInfo& info);

// Writes circuit.json, circuit.dot, report.html and (when the result has r.graph) graph.json
// (evaluation/graph_json.h: EAP-IG's layout) into out_dir (created with its parents), all
// rendered first and staged (ops/files.h StagedDir): they appear together or, on any error, not
// at all. Throws cs::Error naming the path when it cannot.
void write_outputs(const std::string& out_dir, const DiscoverResult& r, const RunInfo& info);

}  // namespace cs
