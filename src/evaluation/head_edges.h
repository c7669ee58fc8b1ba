// Edge evaluation over the edges between heads and into the logits: the edges of the zoo's
// reference circuits (path patching from a head into another head's q/k/v input or into the
// logits), which every edge-level method and the SAE method's head pairs can be scored on.
// Index space: sender head s -> receiver head r at s * HT + r (q/k/v merged: the max over them),
// sender s -> logits at HT * HT + s; HT = n_layers * n_heads.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "evaluation/ground_truth.h"
#include "interp/graph.h"

namespace cs {

// Scores of those edges from scores over graph g's edges (NaN: not scored; a head edge no score
// reaches gets 0). *scores_logits: whether any head -> logits edge was scored (the SAE method's
// edges are code co-occurrences between heads only).
std::vector<double> head_edge_scores(const std::vector<double>& edge_scores, const Graph& g, bool* scores_logits);
std::vector<bool> head_edge_labels(const GroundTruth& t, int n_layers, int n_heads);
// ROC AUC over the forward head pairs (receiver in a later layer), plus the head -> logits edges
// when with_logits; NaN when the candidates hold no positive (or no negative) edge.
double head_edge_auc(const std::vector<double>& scores, const std::vector<bool>& labels, int n_layers, int n_heads,
                     bool with_logits);

// The graph-wide edge AUC: ROC AUC of |score| over every edge of graph g (input, head q/k/v, MLP
// and logits edges) against the truth's edges (ground_truth.h edge_labels). None, with *why set
// to a short reason, when an edge is unscored (NaN), the truth lists no edges, its edges are not
// all edges of g (another model's), or every edge is in it.
std::optional<double> graph_edge_auc(const std::vector<double>& edge_scores, const GroundTruth& t, const Graph& g,
                                     std::string* why = nullptr);

}  // namespace cs
