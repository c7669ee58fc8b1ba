// `compare`: the SAE method and the baselines side by side on the same model, prompts and ground
// truth, with run times (the table the field asks for).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compare/methods.h"
#include "evaluation/roc.h"

namespace cs {

struct CompareOptions {
  std::vector<MethodId> methods;  // compare/methods.h's table
  int trials = 3;                 // for stochastic methods (sae, sae-paper, sp)
  MethodOptions options;          // every method's (the SAE's faithfulness is off: compare does it)
  FaithfulnessOptions faith;
  std::function<void(const std::string&, double)> progress;
};

struct MethodRow {
  std::string method;
  std::vector<double> node_auc, edge_auc, precision, recall, f1, faithfulness, seconds;  // per trial
  std::vector<double> mean_head_scores;  // over trials
  std::optional<RocCurve> roc;           // of the mean head scores
  bool has_edges = false;
  bool edges_to_logits = false;  // edge AUC over head pairs and head -> logits (else head pairs only)
};

std::vector<MethodRow> compare(const Model& m, const TokenizedTask& task, const GroundTruth* truth,
                               const CompareOptions& opts);

// Output: a terminal table, a markdown table, JSON, and an HTML page with the ROC curves of all
// methods in one plot.
std::string compare_table(const std::vector<MethodRow>& rows, bool markdown);
std::string compare_json(const std::vector<MethodRow>& rows, const std::string& model,
                         const std::string& task, const std::string& truth);
std::string compare_html(const std::vector<MethodRow>& rows, const std::string& model,
                         const std::string& task, const std::string& truth);

}  // namespace cs
