// What `compare` leaves for a reader: a terminal table, compare.md, compare.json and one
// self-contained compare.html (inline SVG and CSS, no scripts, nothing from the network).
#pragma once
#include <string>
#include <vector>

#include "compare/compare.h"

namespace cs {

// Identity and settings of a comparison, as the frontend knows them.
struct CompareInfo {
  std::string model, task;
  std::string truth;            // "" without a ground truth
  std::string metric;           // what the task metric measures (metric_label)
  std::string method_ablation;  // the baselines' ablation ("resample")
  std::string faith_ablation;   // the faithfulness ablation ("mean", as discover's default)
  std::string bos;              // "prepended (why)" / "not prepended (why)"
  int n_layers = 0, n_heads = 0;
  int trials = 1;               // of the stochastic methods
  std::vector<bool> truth_heads;  // (n_layers * n_heads) or empty: marked in the rankings
  int truth_head_edges = -1;      // the truth's head -> head and head -> logits edges (-1: unknown)
  int graph_edges = 0;            // edges of the model's graph (interp/graph.h), for the notes
};

// One row per method. With a truth: node AUC (mean ± std over trials), AUC of the mean scores,
// head-edge AUC, graph edge AUC (over all of the graph's edges), precision@k (= recall = F1 at
// k = the truth's size), faithfulness@k, CPR, CMD, seconds. Without one: CPR, CMD, seconds and the
// method's top heads. Columns aligned by characters; markdown: a pipe table.
std::string compare_table(const std::vector<MethodRow>& rows, const CompareInfo& info, bool markdown);
// The notes under the table: what each column and each mark means, only for marks that appear.
std::string compare_notes(const std::vector<MethodRow>& rows, const CompareInfo& info);
// Each method's heads, best first (the first `top`), as "method: 9.9 10.0 ..." lines.
std::string compare_rankings(const std::vector<MethodRow>& rows, const CompareInfo& info, int top);
std::string compare_json(const std::vector<MethodRow>& rows, const CompareInfo& info);
// Sections (each <h2> with an id): table (with the notes), roc (all methods in one plot, with
// distinct colours and dash patterns, then one small plot per method), faithfulness (the same),
// rankings.
std::string compare_html(const std::vector<MethodRow>& rows, const CompareInfo& info);

}  // namespace cs
