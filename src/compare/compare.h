// `compare`: the SAE method and the baselines side by side on the same model, prompts and ground
// truth, with run times (the table the field asks for).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sae/discover.h"
#include "evaluation/method.h"
#include "evaluation/roc.h"

namespace cs {

// Methods by name: "sae" (the paper's |P \ N|), "sae-confirmed" (discover's default: |P \ N|
// confirmed by one attribution pass), "patching", "acdc", "eap", "eap-ig", "hisp", "sp". Both SAE
// rows score head pairs too (code pairs seen only on positives: head -> later-head edges).
std::vector<std::string> known_methods();
bool method_is_stochastic(const std::string& name);  // sae, sae-confirmed, sp: once per trial
// Relative run time of one run of a method (seconds on the shipped model, IOI, README's table),
// to weigh the progress fraction and the time-left estimate: nothing else.
double method_cost_weight(const std::string& name);

struct CompareOptions {
  std::vector<std::string> methods;
  int trials = 3;              // for stochastic methods
  MethodSettings settings;     // baselines: prompts, ablation, seed
  DiscoverOptions sae;         // the SAE method's settings (faithfulness off: compare does it)
  FaithfulnessOptions faith;   // the faithfulness of every method (discover's default: mean ablation)
  bool faithfulness = true;    // a faithfulness curve per method (tasks with corrupt prompts)
  // (phase, fraction of the whole run done, weighted by method_cost_weight); phase names the
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
  bool has_edges = false;        // the method scores edges at all
  bool edges_to_logits = false;  // edge AUC over head pairs and head -> logits (else head pairs only)
  int k = 0;                     // the truth's size (0 without a truth)
};

// Edge evaluation over the edges between heads and into the logits (the reference circuits' edges:
// path patching from a head into another head's q/k/v input or into the logits). Index space:
// sender s -> receiver head r at s * HT + r (q/k/v merged: the max over them), sender s -> logits
// at HT * HT + s; HT = n_layers * n_heads. *scores_logits: whether the method scored any head ->
// logits edge (the SAE method's edges are code co-occurrences between heads only).
std::vector<double> head_edge_scores(const MethodResult& r, int n_layers, int n_heads, bool* scores_logits);
std::vector<bool> head_edge_labels(const GroundTruth& g, int n_layers, int n_heads);
// ROC AUC over the forward head pairs (receiver in a later layer), plus the head -> logits edges
// when with_logits; NaN when the candidates hold no positive (or no negative) edge.
double head_edge_auc(const std::vector<double>& scores, const std::vector<bool>& labels, int n_layers, int n_heads,
                     bool with_logits);

std::vector<MethodRow> compare(const Model& m, const TokenizedTask& task, const GroundTruth* truth,
                               const CompareOptions& opts);

// The table, JSON and HTML page of a comparison are in report/compare_report.h.

}  // namespace cs
