// `compare`: the SAE method and the baselines side by side on the same model, prompts and ground
// truth, with run times (the table the field asks for).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "discovery/discover.h"
#include "discovery/method.h"
#include "discovery/roc.h"

namespace cs {

// Methods by name: "sae", "patching", "acdc", "eap", "eap-ig", "hisp", "sp".
std::vector<std::string> known_methods();
bool method_is_stochastic(const std::string& name);  // sae, sp: run once per trial

struct CompareOptions {
  std::vector<std::string> methods;
  int trials = 3;              // for stochastic methods
  MethodSettings settings;     // baselines: prompts, ablation, seed
  DiscoverOptions sae;         // the SAE method's settings (faithfulness off: compare does it)
  FaithfulnessOptions faith;
  std::function<void(const std::string&, double)> progress;
};

struct MethodRow {
  std::string method;
  std::vector<double> node_auc, edge_auc, precision, recall, f1, faithfulness, seconds;  // per trial
  std::vector<double> mean_head_scores;  // over trials
  std::optional<RocCurve> roc;           // of the mean head scores
  bool has_edges = false;
};

// Head-to-head edge scores of a method, collapsed over the receiver's q/k/v input:
// [HT x HT], element (s, r) = max score of an edge "a<s>" -> "a<r>.{q,k,v}".
std::vector<double> head_pair_scores(const MethodResult& r, int n_layers, int n_heads);
// Labels of the same head-to-head pairs from a ground truth's edges (only forward pairs count).
std::vector<bool> head_pair_labels(const GroundTruth& g, int n_layers, int n_heads);

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
