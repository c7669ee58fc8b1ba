// `discover`: the whole discrete-SAE pipeline on a model and a task, over several trials, with
// the evaluation against a ground truth when one is given.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "attribution/mib_faithfulness.h"
#include "evaluation/graph_json.h"
#include "evaluation/ground_truth.h"
#include "evaluation/roc.h"
#include "sae/sae_method.h"
#include "interp/faithfulness.h"
#include "interp/head_outputs.h"
#include "interp/task.h"
#include "model/model.h"

namespace cs {

// Node: head scores |P \ N|; Edge: head-pair code scores reduced to heads.
enum class Level { Node, Edge };
Level parse_level(const std::string& s);  // "node" | "edge"; cs::UsageError otherwise
const char* to_string(Level l);

// Node ranking: Paper |P \ N| (O'Neill & Bui), Null the null-corrected score of code_null.h,
// Causal the null-corrected score confirmed by one attribution-patching pass (mean of the two
// normalised ranks; see discover.cpp), Confirmed the paper's score confirmed by the same pass
// (the default: higher AUC than the paper's on every zoo task).
enum class SaeScore { Paper, Null, Causal, Confirmed };
SaeScore parse_sae_score(const std::string& s);  // "paper" | "null" | "causal" | "confirmed"
const char* to_string(SaeScore s);

// The SAE's own settings (SaeMethodOptions: the SAE config `sae`, training prompts, ...) and
// the pipeline's.
struct DiscoverOptions : SaeMethodOptions {
  PositionReduce position = PositionReduce::Mean;
  std::string position_name;        // for PositionReduce::Named: a task position ("S2", "YY")
  int trials = 1;
  uint64_t seed = 0;                // trial t uses seed + t
  Level level = Level::Node;
  bool pair_scores = false;         // node level: also the head-pair scores (SaeTrial::edge_U,
                                    // as mean_edge_scores)
  SaeScore score = SaeScore::Confirmed;
  // The circuit's size: top_k if >= 0; else, if threshold >= 0, the heads whose softmax of the
  // paper's score (node level |P \ N|, edge level the edge count; mean over trials) is at least
  // threshold (other methods: whose score is at least threshold); else as many heads as have a
  // paper score (other methods: a score) above its mean over heads. The ranking (score) then
  // picks which heads. A ground truth never sizes or picks the circuit.
  int top_k = -1;
  double threshold = -1;
  int top_edges = -1;               // EAP / EAP-IG graph.json circuit: the best edges; -1: as many as
                                    // the head circuit's graph has
  bool faithfulness = true;
  FaithfulnessOptions faith;
  std::function<void(const std::string&, double)> progress;  // (phase, fraction done)
};

struct TrialEval {
  double auc = 0;
  Confusion at_k{};                 // top-k with k = the ground truth's size (labelled so)
};

// What `discover` finds with any method (the SAE fields are empty for the others).
struct DiscoverResult {
  std::string method = "sae";                    // compare/methods.h's name
  std::vector<SaeTrial> trials;
  std::vector<std::vector<double>> head_scores;  // per trial: the ranking (see ranking_label)
  std::vector<double> mean_scores, std_scores;   // the ranking over trials, per head
  // The paper's score per head (node level |P \ N|, or |P \ N| / |P u N| with normalise; edge
  // level the edge count), mean and std over trials, and its softmax over heads (the paper's
  // node scores): what --threshold compares and what sizes the circuit by default.
  std::vector<double> paper_scores, paper_std, paper_softmax;
  std::vector<double> mean_edge_U;               // mean over trials [HT, HT] (edge level)
  std::vector<double> mean_mlp_scores;           // [n_layers] when the method scores MLPs
  // Over trials, per edge of the circuit graph (interp/graph.h); NaN: not scored; empty when the
  // method scores no edges (the SAE method at edge level or with pair_scores: U of each forward
  // head pair, on q/k/v).
  std::vector<double> mean_edge_scores;
  std::optional<double> edge_auc;                // with a truth that has head edges (head_edges.h)
  bool edge_auc_with_logits = false;             // edge AUC also over head -> logits edges
  // With a truth that lists edges of this model's graph and a method that scores every edge:
  // ROC AUC of |edge score| over all the graph's edges (input, MLP and logits edges included).
  std::optional<double> graph_edge_auc;
  std::optional<ScoredGraph> graph;              // the circuit on the graph (graph.json)
  std::map<std::string, double> stats;           // the method's own (forward passes, ...)
  std::vector<int> circuit;                      // chosen heads (index layer*H+head), best first
  std::string size_rule;                         // how the circuit's size was chosen, in words
  // Heads left out of the circuit whose ranking score ties the last circuit head's (the lower
  // index was kept); 0 when the cut falls between different scores.
  int boundary_ties = 0;
  std::vector<TrialEval> evals;                  // with a truth: per trial
  std::optional<RocCurve> roc;                   // with a truth: of the mean scores
  std::optional<TrialEval> mean_eval;            // with a truth: of the mean scores
  std::optional<Confusion> circuit_eval;         // with a truth: the chosen circuit itself
  std::optional<FaithfulnessCurve> faith;       // head level, along the ranking (interp/faithfulness.h)
  std::optional<MibFaithfulness> mib_faith;      // edge level, MIB's CPR / CMD (edge methods)
  std::string mib_faith_note;                    // why mib_faith was not computed, when it was asked for
  double circuit_faithfulness = 0;               // fraction of the full metric kept by `circuit`
  std::vector<double> attribution;               // "causal"/"confirmed": |attribution| per head
  double seconds_collect = 0, seconds_train = 0, seconds_codes = 0, seconds_scores = 0,
         seconds_faithfulness = 0, seconds_total = 0;
  double collect_flops = 0, train_flops = 0;
  int n_positive = 0, n_negative = 0;
};

// What a run ranks heads by, as a column header: "|P\N|", "|P\N| / |P u N|", "null-corrected
// |P\N|", "causal (rank mean)", "confirmed (rank mean)", "edge count".
std::string ranking_label(const DiscoverOptions& o);
// The paper's score that sizes the circuit: "|P\N|", "|P\N| / |P u N|" or "edge count".
std::string paper_score_label(const DiscoverOptions& o);

// Mean of the two normalised ranks (ties averaged): the "causal" score's combination.
std::vector<double> combine_ranks(const std::vector<double>& a, const std::vector<double>& b);

DiscoverResult discover(const Model& m, const TokenizedTask& task, const DiscoverOptions& opts,
                        const GroundTruth* truth);

// The truth's head labels for this model; throws cs::Error when they label every head the same.
std::vector<bool> truth_labels(const GroundTruth& truth, const ModelConfig& c);

// What sizes the circuit (see DiscoverOptions::top_k): per-head scores and their names.
struct CircuitSizeScores {
  std::vector<double> scores;        // [n_heads_total]
  std::string label;                 // what they are, for the size rule ("|P\N|", "|EAP score|")
  bool softmax_threshold = false;    // --threshold compares their softmax (the paper's rule)
  bool zero_is_no_evidence = false;  // heads whose ranking score is 0 never fill the circuit
  std::string ranking;               // what the ranking is, for the note when that cut applies
};

// The half of `discover` every method shares, from r.head_scores (per trial) on: their mean and
// std; with a truth, the evaluation of each trial, of the mean and of the circuit, and the edge
// AUC when r.mean_edge_scores is set; the circuit (sized by `size` as DiscoverOptions::top_k
// says, r.size_rule in words), ranked by the mean scores; its faithfulness (opts.faithfulness,
// corrupt prompts); r.graph: every edge among the input, the circuit's heads, every MLP and the
// logits (what the faithfulness numbers keep), scored by the mean head / MLP / edge scores.
void finish_discover(const Model& m, const TokenizedTask& task, const DiscoverOptions& opts, const GroundTruth* truth,
                     const CircuitSizeScores& size, DiscoverResult& r);

}  // namespace cs
