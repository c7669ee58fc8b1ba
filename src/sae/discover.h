// `discover`: the whole discrete-SAE pipeline on a model and a task, over several trials, with
// the evaluation against a ground truth when one is given.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "evaluation/ground_truth.h"
#include "evaluation/roc.h"
#include "sae/sae_method.h"
#include "interp/faithfulness.h"
#include "interp/head_outputs.h"
#include "interp/task.h"
#include "model/model.h"

namespace cs {

enum class Level { Node, Edge };

struct DiscoverOptions {
  SaeMethodOptions sae;
  PositionReduce position = PositionReduce::Mean;
  std::string position_name;        // for PositionReduce::Named: a task position ("S2", "YY")
  int trials = 1;
  uint64_t seed = 0;                // trial t uses seed + t
  Level level = Level::Node;
  bool pair_scores = false;         // node level: also the head-pair scores (SaeTrial::edge_U)
  // Node ranking: "paper" |P \ N| (O'Neill & Bui), "null" the null-corrected score of
  // code_null.h, "causal" the null-corrected score confirmed by one attribution-patching pass
  // (mean of the two normalised ranks; see discover.cpp), "confirmed" the paper's score confirmed
  // by the same pass.
  std::string score = "paper";
  // The circuit's size: top_k if >= 0; else, if threshold >= 0, the heads whose softmax of the
  // paper's score (node level |P \ N|, edge level the edge count; mean over trials) is at least
  // threshold; else as many heads as have a paper score above its mean over heads. The ranking
  // (score) then picks which heads. A ground truth never sizes or picks the circuit.
  int top_k = -1;
  double threshold = -1;
  bool faithfulness = true;
  FaithfulnessOptions faith;
  std::function<void(const std::string&, double)> progress;  // (phase, fraction done)
};

struct TrialEval {
  double auc = 0;
  Confusion at_k{};                 // top-k with k = the ground truth's size (labelled so)
};

struct DiscoverResult {
  std::vector<SaeTrial> trials;
  std::vector<std::vector<double>> head_scores;  // per trial: the ranking (see ranking_label)
  std::vector<double> mean_scores, std_scores;   // the ranking over trials, per head
  // The paper's score per head (node level |P \ N|, or |P \ N| / |P u N| with normalise; edge
  // level the edge count), mean and std over trials, and its softmax over heads (the paper's
  // node scores): what --threshold compares and what sizes the circuit by default.
  std::vector<double> paper_scores, paper_std, paper_softmax;
  std::vector<double> mean_edge_U;               // mean over trials [HT, HT] (edge level)
  std::vector<int> circuit;                      // chosen heads (index layer*H+head), best first
  std::string size_rule;                         // how the circuit's size was chosen, in words
  // Heads left out of the circuit whose ranking score ties the last circuit head's (the lower
  // index was kept); 0 when the cut falls between different scores.
  int boundary_ties = 0;
  std::vector<TrialEval> evals;                  // with a truth: per trial
  std::optional<RocCurve> roc;                   // with a truth: of the mean scores
  std::optional<TrialEval> mean_eval;            // with a truth: of the mean scores
  std::optional<Confusion> circuit_eval;         // with a truth: the chosen circuit itself
  std::optional<FaithfulnessCurve> faith;
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

}  // namespace cs
