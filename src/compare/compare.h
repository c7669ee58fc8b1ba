// `compare`: the SAE method and the baselines side by side on the same model, prompts and ground
// truth, with run times (the table the field asks for).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compare/methods.h"
#include "evaluation/graph_json.h"
#include "evaluation/roc.h"

namespace cs {

struct CompareOptions {
  std::vector<MethodId> methods;  // compare/methods.h's table
  int trials = 3;                 // for stochastic methods (sae, sae-paper, sp)
  MethodOptions options;          // every method's (the SAE's faithfulness is off: compare does it)
  FaithfulnessOptions faith;      // the faithfulness of every method (discover's default: mean ablation)
  bool faithfulness = true;       // a faithfulness curve per method (tasks with corrupt prompts)
  // Circuits made elsewhere (compare --import NAME=FILE: EAP-IG / MIB graph JSON), each a row named
  // NAME after the methods' rows: head scores as evaluation/graph_json.h's graph_head_scores,
  // edge scores |score|. The graph must be the model's.
  std::vector<std::pair<std::string, ScoredGraph>> imports;
  // (phase, fraction of the whole run done, weighted by MethodInfo::cost_weight); phase names the
  // method and its place: "method 5/8: acdc", with "trial 2/3" for the stochastic ones.
  std::function<void(const std::string&, double)> progress;
};

struct MethodRow {
  std::string method;
  // Per trial, with a truth: node ROC AUC, edge AUC, and precision / recall / F1 / faithfulness of
  // the top k heads with k = the truth's size (so precision = recall = F1).
  std::vector<double> node_auc, edge_auc, precision, recall, f1, faithfulness;
  std::vector<double> seconds;           // per trial
  std::vector<double> mean_head_scores;  // over trials
  std::optional<RocCurve> roc;           // with a truth: of the mean head scores (its AUC can
                                         // differ from the mean of the per-trial AUCs)
  std::optional<FaithfulnessCurve> faith;  // along the mean scores' ranking (needs corrupt prompts)
  // Per trial, with a truth that has edges: the graph-wide edge AUC (evaluation/head_edges.h
  // graph_edge_auc: |score| over every edge of the graph, as discover reports it); when there is
  // none, why (its short reason).
  std::vector<double> graph_edge_auc;
  std::string graph_edge_why;
  bool has_edges = false;        // the method scores edges at all
  bool edges_to_logits = false;  // edge AUC over head pairs and head -> logits (else head pairs only)
  int k = 0;                     // the truth's size (0 without a truth)
};

std::vector<MethodRow> compare(const Model& m, const TokenizedTask& task, const GroundTruth* truth,
                               const CompareOptions& opts);

// The table, JSON and HTML page of a comparison are in report/compare_report.h.

}  // namespace cs
